//! Sans-io Kafka wire protocol pieces.
pub mod error_code;
pub mod fetch_response;
pub mod frame;
pub mod legacy_message_set;
pub mod record_batch;
