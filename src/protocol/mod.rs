//! Sans-io Kafka wire protocol pieces: request frames and response encoding
//! ([`frame`]), record batch views and validation ([`record_batch`], Kafka's
//! checks of a client's batch in [`client_batch`], and [`legacy_message_set`]
//! for magic 0/1), a walk over a batch's records ([`record_walk`]), the
//! zero-copy Fetch response encoder ([`fetch_response`]) over [`piece`]s
//! (memory or file regions), the Kafka error codes ([`error_code`]), record
//! compression, whole-batch and streaming, bounded ([`codec`]) and the broker-side batch rewrites topic configs
//! ask for ([`batch_rewrite`]), and Kafka's authorized-operation bit sets
//! ([`authorized_operations`]).
pub mod authorized_operations;
pub mod batch_rewrite;
pub mod client_batch;
pub mod codec;
pub mod error_code;
pub mod fetch_response;
pub mod frame;
pub mod legacy_message_set;
pub mod piece;
pub mod record_batch;
pub mod record_walk;
