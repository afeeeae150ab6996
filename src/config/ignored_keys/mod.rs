//! Kafka broker keys millrace accepts and ignores, each with the one line
//! logged at start to say why (the keys that mean something are in
//! `keys.rs`, the security keys refused away from Kafka's default in
//! `refused_keys.rs`).
//!
//! Keys are grouped by reason, one table per area, so a reason is written
//! once and a key's reason can be checked next to its neighbours'. Together
//! with the other tables they cover every broker key of Kafka 4.4 (the
//! generated list in `tests/fixtures/kafka-broker-keys`, checked by
//! `config::kafka_keys_tests`).

mod features;
mod server;

/// A Kafka key that means nothing to millrace: accepted, and logged once at
/// start with why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IgnoredKey {
    /// Kafka key name.
    pub name: &'static str,
    /// Why millrace does without it.
    pub why: &'static str,
}

/// Keys ignored for one reason.
struct IgnoredGroup {
    /// Why millrace does without them.
    why: &'static str,
    /// The keys.
    names: &'static [&'static str],
}

/// Every group, the server's own work first, then features millrace does
/// not serve.
const GROUPS: &[&[IgnoredGroup]] = &[server::GROUPS, features::GROUPS];

/// Every ignored Kafka key with its reason, group by group.
pub fn ignored_kafka_keys() -> impl Iterator<Item = IgnoredKey> {
    GROUPS
        .iter()
        .flat_map(|groups| groups.iter())
        .flat_map(|group| {
            group.names.iter().map(|name| IgnoredKey {
                name,
                why: group.why,
            })
        })
}

/// The ignored-key entry of `name`, if it is one.
pub fn ignored_key(name: &str) -> Option<IgnoredKey> {
    ignored_kafka_keys().find(|key| key.name == name)
}
