//! Sans-io Kafka wire protocol pieces.
