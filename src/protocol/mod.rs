//! Sans-io Kafka wire protocol pieces: request frames and response encoding
//! ([`frame`]), record batch views and validation ([`record_batch`], and
//! [`legacy_message_set`] for magic 0/1), bounded streaming decompression
//! ([`compression`]) and a walk over a batch's records ([`record_walk`]),
//! the zero-copy Fetch response encoder ([`fetch_response`]) over
//! [`piece`]s (memory or file regions), and the Kafka error codes
//! ([`error_code`]).
pub mod compression;
pub mod error_code;
pub mod fetch_response;
pub mod frame;
pub mod legacy_message_set;
pub mod piece;
pub mod record_batch;
pub mod record_walk;
