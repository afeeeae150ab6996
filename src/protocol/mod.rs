//! Sans-io Kafka wire protocol pieces.
pub mod client_batch;
pub mod fetch_response;
pub mod frame;
pub mod legacy_message_set;
pub mod record_batch;
