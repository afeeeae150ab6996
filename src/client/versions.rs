//! Version negotiation: each API is sent at min(our max, broker max), and
//! never at a version the broker did not advertise.

use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::protocol::VersionRange;
use std::collections::BTreeMap;

/// Highest version this client's helpers are written for, per API key,
/// where it is below what the `kafka-protocol` crate can encode (later
/// versions change field meaning, e.g. topic ids instead of names).
const CLIENT_VERSION_CAPS: &[(i16, i16)] = &[
    (2, 8),  // ListOffsets: v9+ adds nothing we use
    (3, 12), // Metadata: v13 only adds a top-level error code
    (8, 8),  // OffsetCommit: v9 is the KIP-848 consumer-protocol form
    (9, 9),  // OffsetFetch
    (10, 5), // FindCoordinator
];

/// A negotiation failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionError {
    /// The broker did not list the API at all.
    Unsupported {
        /// The API key.
        api_key: i16,
    },
    /// The broker's range and ours do not overlap.
    NoCommonVersion {
        /// The API key.
        api_key: i16,
        /// The broker's range.
        broker: (i16, i16),
        /// Ours.
        client: (i16, i16),
    },
}

impl std::fmt::Display for VersionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionError::Unsupported { api_key } => {
                write!(f, "broker does not support api_key {api_key}")
            }
            VersionError::NoCommonVersion {
                api_key,
                broker,
                client,
            } => write!(
                f,
                "api_key {api_key}: broker versions {}..={} and client versions {}..={} do not overlap",
                broker.0, broker.1, client.0, client.1
            ),
        }
    }
}

impl std::error::Error for VersionError {}

/// The broker's advertised `(min, max)` version per API key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersionTable {
    ranges: BTreeMap<i16, (i16, i16)>,
}

impl ApiVersionTable {
    /// The table from an ApiVersions answer.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let ranges = response
            .api_keys
            .iter()
            .map(|api| (api.api_key, (api.min_version, api.max_version)))
            .collect();
        ApiVersionTable { ranges }
    }

    /// The broker's range for `api_key`, if it listed one.
    pub fn range(&self, api_key: i16) -> Option<(i16, i16)> {
        self.ranges.get(&api_key).copied()
    }

    /// The version to send `api_key` at, given the versions the client can encode.
    pub fn negotiate(&self, api_key: i16, client: VersionRange) -> Result<i16, VersionError> {
        let broker = self
            .range(api_key)
            .ok_or(VersionError::Unsupported { api_key })?;
        let cap = CLIENT_VERSION_CAPS
            .iter()
            .find(|(key, _)| *key == api_key)
            .map_or(client.max, |(_, cap)| (*cap).min(client.max));
        let chosen = broker.1.min(cap);
        if chosen < broker.0 || chosen < client.min {
            return Err(VersionError::NoCommonVersion {
                api_key,
                broker,
                client: (client.min, cap),
            });
        }
        Ok(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;

    fn table(entries: &[(i16, i16, i16)]) -> ApiVersionTable {
        let response = ApiVersionsResponse::default().with_api_keys(
            entries
                .iter()
                .map(|(key, min, max)| {
                    ApiVersion::default()
                        .with_api_key(*key)
                        .with_min_version(*min)
                        .with_max_version(*max)
                })
                .collect(),
        );
        ApiVersionTable::from_response(&response)
    }

    #[test]
    fn picks_the_lower_of_the_two_maxima() {
        let versions = table(&[(16, 0, 5), (15, 0, 2)]);
        assert_eq!(
            versions.negotiate(16, VersionRange { min: 0, max: 4 }),
            Ok(4)
        );
        assert_eq!(
            versions.negotiate(15, VersionRange { min: 0, max: 6 }),
            Ok(2)
        );
    }

    #[test]
    fn applies_client_caps() {
        let versions = table(&[(8, 2, 9)]);
        assert_eq!(
            versions.negotiate(8, VersionRange { min: 2, max: 9 }),
            Ok(8)
        );
    }

    #[test]
    fn unsupported_and_disjoint_ranges_are_errors() {
        let versions = table(&[(16, 6, 9)]);
        assert_eq!(
            versions.negotiate(42, VersionRange { min: 0, max: 1 }),
            Err(VersionError::Unsupported { api_key: 42 })
        );
        assert!(matches!(
            versions.negotiate(16, VersionRange { min: 0, max: 5 }),
            Err(VersionError::NoCommonVersion { .. })
        ));
    }
}
