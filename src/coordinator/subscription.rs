//! Reads the topics a consumer subscribes to from its JoinGroup protocol
//! metadata (Kafka's `ConsumerProtocolSubscription`: an i16 version, then
//! the versioned struct). OffsetDelete needs it to refuse deleting offsets
//! of a topic an active group still consumes.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

/// Protocol type of Kafka consumers.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
/// Newest subscription version this crate decodes; newer ones are read as
/// this version, as Kafka's own ConsumerProtocol does (fields are appended).
const SUBSCRIPTION_VERSION_MAX: i16 = 3;

/// The topics of a consumer subscription, `None` if `metadata` does not decode.
pub fn subscribed_topics(metadata: &Bytes) -> Option<Vec<String>> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16().clamp(0, SUBSCRIPTION_VERSION_MAX);
    let subscription = ConsumerProtocolSubscription::decode(&mut buf, version).ok()?;
    Some(subscription.topics.iter().map(|t| t.to_string()).collect())
}

/// Whether `metadata` is a subscription naming `topic`.
pub fn names_topic(metadata: &Bytes, topic: &str) -> bool {
    subscribed_topics(metadata).is_some_and(|topics| topics.iter().any(|t| t == topic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn encoded(version: i16, topics: &[&str]) -> Bytes {
        let subscription = ConsumerProtocolSubscription::default().with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string(t.to_string()))
                .collect(),
        );
        let mut out = bytes::BytesMut::new();
        out.put_i16(version);
        subscription.encode(&mut out, version).unwrap();
        out.freeze()
    }

    #[test]
    fn topics_are_read_at_every_version() {
        for version in 0..=SUBSCRIPTION_VERSION_MAX {
            let metadata = encoded(version, &["a", "b"]);
            assert_eq!(
                subscribed_topics(&metadata),
                Some(vec!["a".to_string(), "b".to_string()])
            );
            assert!(names_topic(&metadata, "b"));
            assert!(!names_topic(&metadata, "c"));
        }
    }

    #[test]
    fn garbage_is_not_a_subscription() {
        assert_eq!(subscribed_topics(&Bytes::from_static(b"\x00")), None);
        assert!(!names_topic(
            &Bytes::from_static(b"\x00\x00\xff\xff\xff"),
            "a"
        ));
    }
}
