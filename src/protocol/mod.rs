//! Sans-io Kafka wire protocol pieces.
pub mod fetch_response;
pub mod frame;
pub mod record_batch;
