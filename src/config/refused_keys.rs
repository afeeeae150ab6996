//! Kafka broker keys millrace accepts only at Kafka's default (or empty):
//! ignoring them at another value would silently weaken what the operator
//! asked for. A broker started with `ssl.keystore.location` set is believed
//! to encrypt, one with `sasl.enabled.mechanisms=SCRAM-SHA-512` or an
//! `authorizer.class.name` to authenticate or authorize, one with a topic
//! policy to police its topics: millrace does none of these, so it refuses
//! to start rather than serve plaintext to everyone.
//! At Kafka's default such a key enables nothing and is accepted and
//! ignored (one log line at start), so a file written out from a Kafka
//! broker's defaults still loads.
//!
//! This is the rule `listener.security.protocol.map` already follows: a
//! served listener mapped to anything but PLAINTEXT is refused.

/// A Kafka key accepted only at its Kafka default (or empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusedKey {
    /// Kafka key name.
    pub name: &'static str,
    /// Kafka's default in text form (empty for a key without one).
    pub kafka_default: &'static str,
    /// What a value other than the default would ask of the broker, and
    /// why millrace does not do it.
    pub why: &'static str,
}

/// Keys refused for one reason: each is accepted only empty or at Kafka's
/// default.
struct RefusedGroup {
    /// What a value away from the default asks for that millrace does not do.
    why: &'static str,
    /// (name, Kafka's default) of each key.
    keys: &'static [(&'static str, &'static str)],
}

/// TLS: millrace has no TLS listener.
const NO_TLS: &str = "millrace has no TLS: every listener it serves is PLAINTEXT, unencrypted";

/// SASL: millrace authenticates no client.
const NO_SASL: &str = "millrace has no SASL: every listener it serves is PLAINTEXT, \
     unauthenticated";

/// Keys whose value is a secret: never shown in an error or DescribeConfigs.
const PASSWORDS: &[&str] = &[
    "delegation.token.secret.key",
    "sasl.jaas.config",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "sasl.oauthbearer.client.credentials.client.secret",
    "ssl.key.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.keystore.password",
    "ssl.truststore.certificates",
    "ssl.truststore.password",
];

/// Every refused key, by reason; with the ignored keys and the key table
/// they cover Kafka 4.4's broker keys (`kafka_keys_tests`).
const GROUPS: &[RefusedGroup] = &[
    RefusedGroup {
        why: NO_TLS,
        keys: SSL_KEYS,
    },
    RefusedGroup {
        why: NO_SASL,
        keys: SASL_KEYS,
    },
    RefusedGroup {
        why: "millrace authorizes every request: it has no authorizer and no ACLs",
        keys: &[("authorizer.class.name", "")],
    },
    RefusedGroup {
        why: "millrace authenticates no one, so it builds no principals",
        keys: &[(
            "principal.builder.class",
            "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder",
        )],
    },
    RefusedGroup {
        why: "millrace nodes talk PLAINTEXT to each other",
        keys: &[("security.inter.broker.protocol", "PLAINTEXT")],
    },
    RefusedGroup {
        why: "millrace loads no security providers (it has no TLS or SASL)",
        keys: &[("security.providers", "")],
    },
    RefusedGroup {
        why: "millrace serves no delegation tokens (clients are not authenticated)",
        keys: &[("delegation.token.secret.key", "")],
    },
    RefusedGroup {
        why: "millrace applies no topic policy: every valid CreateTopics or AlterConfigs \
              would pass",
        keys: &[
            ("create.topic.policy.class.name", ""),
            ("alter.config.policy.class.name", ""),
        ],
    },
    RefusedGroup {
        why: "millrace resolves no ${provider:path:key} references: values would be taken \
              literally",
        keys: &[("config.providers", "")],
    },
];

/// Every `ssl.` broker key of Kafka 4.4 with its default.
const SSL_KEYS: &[(&str, &str)] = &[
    ("ssl.allow.dn.changes", "false"),
    ("ssl.allow.san.changes", "false"),
    ("ssl.cipher.suites", ""),
    ("ssl.client.auth", "none"),
    ("ssl.enabled.protocols", "TLSv1.2,TLSv1.3"),
    ("ssl.endpoint.identification.algorithm", "https"),
    ("ssl.engine.factory.class", ""),
    ("ssl.key.password", ""),
    ("ssl.keymanager.algorithm", "SunX509"),
    ("ssl.keystore.certificate.chain", ""),
    ("ssl.keystore.key", ""),
    ("ssl.keystore.location", ""),
    ("ssl.keystore.password", ""),
    ("ssl.keystore.type", "JKS"),
    ("ssl.principal.mapping.rules", "DEFAULT"),
    ("ssl.protocol", "TLSv1.3"),
    ("ssl.provider", ""),
    ("ssl.secure.random.implementation", ""),
    ("ssl.trustmanager.algorithm", "PKIX"),
    ("ssl.truststore.certificates", ""),
    ("ssl.truststore.location", ""),
    ("ssl.truststore.password", ""),
    ("ssl.truststore.type", "JKS"),
];

/// Every `sasl.` broker key of Kafka 4.4 with its default.
const SASL_KEYS: &[(&str, &str)] = &[
    ("sasl.client.callback.handler.class", ""),
    ("sasl.enabled.mechanisms", "GSSAPI"),
    ("sasl.jaas.config", ""),
    ("sasl.kerberos.kinit.cmd", "/usr/bin/kinit"),
    ("sasl.kerberos.min.time.before.relogin", "60000"),
    ("sasl.kerberos.principal.to.local.rules", "DEFAULT"),
    ("sasl.kerberos.service.name", ""),
    ("sasl.kerberos.ticket.renew.jitter", "0.05"),
    ("sasl.kerberos.ticket.renew.window.factor", "0.8"),
    ("sasl.login.callback.handler.class", ""),
    ("sasl.login.class", ""),
    ("sasl.login.connect.timeout.ms", ""),
    ("sasl.login.read.timeout.ms", ""),
    ("sasl.login.refresh.buffer.seconds", "300"),
    ("sasl.login.refresh.min.period.seconds", "60"),
    ("sasl.login.refresh.window.factor", "0.8"),
    ("sasl.login.refresh.window.jitter", "0.05"),
    ("sasl.login.retry.backoff.max.ms", "10000"),
    ("sasl.login.retry.backoff.ms", "100"),
    ("sasl.mechanism.controller.protocol", "GSSAPI"),
    ("sasl.mechanism.inter.broker.protocol", "GSSAPI"),
    ("sasl.oauthbearer.allow.unverified.audience", "false"),
    ("sasl.oauthbearer.allow.unverified.issuer", "false"),
    ("sasl.oauthbearer.assertion.algorithm", "RS256"),
    ("sasl.oauthbearer.assertion.claim.aud", ""),
    ("sasl.oauthbearer.assertion.claim.exp.seconds", "300"),
    ("sasl.oauthbearer.assertion.claim.iss", ""),
    ("sasl.oauthbearer.assertion.claim.jti.include", "false"),
    ("sasl.oauthbearer.assertion.claim.nbf.seconds", "60"),
    ("sasl.oauthbearer.assertion.claim.sub", ""),
    ("sasl.oauthbearer.assertion.file", ""),
    ("sasl.oauthbearer.assertion.private.key.file", ""),
    ("sasl.oauthbearer.assertion.private.key.passphrase", ""),
    ("sasl.oauthbearer.assertion.template.file", ""),
    ("sasl.oauthbearer.client.credentials.client.id", ""),
    ("sasl.oauthbearer.client.credentials.client.secret", ""),
    ("sasl.oauthbearer.clock.skew.seconds", "30"),
    ("sasl.oauthbearer.expected.audience", ""),
    ("sasl.oauthbearer.expected.issuer", ""),
    ("sasl.oauthbearer.jwks.endpoint.refresh.ms", "3600000"),
    (
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
        "10000",
    ),
    ("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", "100"),
    ("sasl.oauthbearer.jwks.endpoint.url", ""),
    (
        "sasl.oauthbearer.jwt.retriever.class",
        "org.apache.kafka.common.security.oauthbearer.DefaultJwtRetriever",
    ),
    (
        "sasl.oauthbearer.jwt.validator.class",
        "org.apache.kafka.common.security.oauthbearer.DefaultJwtValidator",
    ),
    ("sasl.oauthbearer.scope", ""),
    ("sasl.oauthbearer.scope.claim.name", "scope"),
    ("sasl.oauthbearer.sub.claim.name", "sub"),
    ("sasl.oauthbearer.token.endpoint.url", ""),
    ("sasl.server.callback.handler.class", ""),
    ("sasl.server.max.receive.size", "524288"),
];

/// Every refused key, group by group.
pub fn refused_kafka_keys() -> impl Iterator<Item = RefusedKey> {
    GROUPS.iter().flat_map(|group| {
        group.keys.iter().map(|(name, kafka_default)| RefusedKey {
            name,
            kafka_default,
            why: group.why,
        })
    })
}

/// The refused-key entry of `name`, if it is one.
pub fn refused_key(name: &str) -> Option<RefusedKey> {
    refused_kafka_keys().find(|key| key.name == name)
}

/// Whether `name` holds a secret (Kafka's PASSWORD type).
pub fn is_password(name: &str) -> bool {
    PASSWORDS.contains(&name)
}

impl RefusedKey {
    /// Whether `value` enables nothing: empty, or Kafka's default (lists
    /// compared as sets of items, ignoring order, spaces and case).
    pub fn accepts(&self, value: &str) -> bool {
        let items = |text: &str| -> std::collections::BTreeSet<String> {
            let items = text.split(',').map(|item| item.trim().to_ascii_lowercase());
            items.filter(|item| !item.is_empty()).collect()
        };
        value.trim().is_empty() || items(value) == items(self.kafka_default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_or_kafkas_default_is_accepted() {
        let mechanisms = refused_key("sasl.enabled.mechanisms").unwrap();
        assert!(mechanisms.accepts(""));
        assert!(mechanisms.accepts("GSSAPI"));
        assert!(!mechanisms.accepts("SCRAM-SHA-512"));
        let protocols = refused_key("ssl.enabled.protocols").unwrap();
        assert!(protocols.accepts(" TLSv1.2 , TLSv1.3"));
        assert!(protocols.accepts("TLSv1.3,TLSv1.2"), "a set: any order");
        assert!(!protocols.accepts("TLSv1.3"));
        let location = refused_key("ssl.keystore.location").unwrap();
        assert!(location.accepts(" "));
        assert!(!location.accepts("/etc/kafka/broker.jks"));
        let authorizer = refused_key("authorizer.class.name").unwrap();
        assert!(authorizer.accepts("") && !authorizer.accepts("StandardAuthorizer"));
    }

    #[test]
    fn passwords_are_refused_keys() {
        for name in PASSWORDS {
            assert!(refused_key(name).is_some(), "{name}");
        }
    }
}
