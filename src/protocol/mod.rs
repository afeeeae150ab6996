//! Sans-io Kafka wire protocol pieces.
pub mod authorized_operations;
pub mod batch_rewrite;
pub mod codec;
pub mod fetch_response;
pub mod frame;
pub mod legacy_message_set;
pub mod record_batch;
