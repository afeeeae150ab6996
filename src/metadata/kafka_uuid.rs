//! New ids as Kafka's `Uuid.randomUuid()` makes them: topic ids, cluster ids
//! (the cluster controller's seeded ids pass [`is_kafka_random_uuid`] too).
//!
//! Kafka never hands out the zero id (no topic), the id 1 (the metadata topic's)
//! or one whose base64url text starts with `-`. Its command-line tools read such
//! text as an option (`--controller-directory-id -gJF...` fails with "expected one
//! argument"), so one id in 64 would be unusable on their command lines.

use uuid::Uuid;

/// Kafka's `Uuid.METADATA_TOPIC_ID`: the id 1, reserved for `__cluster_metadata`.
const METADATA_TOPIC_ID: Uuid = Uuid::from_u64_pair(0, 1);

/// The base64url digit `-` (62): the text starts with it when the first byte's top
/// six bits are 62.
const DASH_DIGIT: u8 = 62;

/// A random id Kafka itself could have made: not reserved, not starting with `-`.
pub fn random_kafka_uuid() -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if is_kafka_random_uuid(&id) {
            return id;
        }
    }
}

/// Whether `id` is one `Uuid.randomUuid()` could return.
pub fn is_kafka_random_uuid(id: &Uuid) -> bool {
    !id.is_nil() && *id != METADATA_TOPIC_ID && !text_starts_with_dash(id)
}

/// Whether the base64url text of `id` starts with `-`.
pub fn text_starts_with_dash(id: &Uuid) -> bool {
    id.as_bytes()[0] >> 2 == DASH_DIGIT
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn text(id: &Uuid) -> String {
        URL_SAFE_NO_PAD.encode(id.as_bytes())
    }

    #[test]
    fn the_check_refuses_exactly_the_texts_starting_with_a_dash() {
        for first_byte in 0..=u8::MAX {
            let mut bytes = [7u8; 16];
            bytes[0] = first_byte;
            let id = Uuid::from_bytes(bytes);
            assert_eq!(
                is_kafka_random_uuid(&id),
                !text(&id).starts_with('-'),
                "{}",
                text(&id)
            );
        }
        assert!(!is_kafka_random_uuid(&Uuid::nil()));
        assert!(!is_kafka_random_uuid(&METADATA_TOPIC_ID));
    }

    #[test]
    fn no_new_id_starts_with_a_dash() {
        // One plain v4 id in 64 starts with '-': 10,000 draws would all but surely
        // show one (the chance of none is below 1e-68).
        for _ in 0..10_000 {
            let id = random_kafka_uuid();
            assert!(!text(&id).starts_with('-'), "{}", text(&id));
        }
    }
}
