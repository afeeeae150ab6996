//! The shape of one entry of the broker key table ([`super::keys`]).

use super::topic::ConfigType;
use super::Config;

/// Sets one field from its text form; `Err` describes the expected form.
pub type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// A key's default, or the key it is another name for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyDefault {
    /// The default in text form.
    Value(&'static str),
    /// An alias: no default of its own; it sets the named key, which wins
    /// when both are set.
    AliasOf(&'static str),
}

/// One broker configuration key.
pub struct BrokerKey {
    /// Kafka key name.
    pub name: &'static str,
    /// Default in text form, or the key an alias sets.
    pub default: KeyDefault,
    /// Kafka's type of the key (DescribeConfigs v3+ `config_type`); for a
    /// key Kafka has too, Kafka's own.
    pub kind: ConfigType,
    /// What the key means.
    pub doc: &'static str,
    /// Parses and stores a value.
    pub apply: Setter,
}

impl BrokerKey {
    /// The default in text form; `None` for an alias.
    pub fn default_value(&self) -> Option<&'static str> {
        match self.default {
            KeyDefault::Value(value) => Some(value),
            KeyDefault::AliasOf(_) => None,
        }
    }
}
