//! The Kafka-facing side of a shard: the listener, one task pair per
//! connection, the response writer, and one handler file per Kafka API.

pub mod admission;
pub mod connection;
pub mod handlers;
pub mod limits;
pub mod listener;
pub mod send;
