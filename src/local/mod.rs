//! Single-shard async primitives: `!Send`, for tasks of one executor, and
//! independent of the runtime (they only use wakers), so every layer can use
//! them and test them without one.
//!
//! - [`notify`]: a one-shot event ([`notify::LocalEvent`], e.g. shutdown or
//!   a fetch wait's cancel) and a future that resolves with the first of
//!   several.
//! - [`oneshot`]: a single-value channel between two tasks of one shard.

pub mod notify;
pub mod oneshot;
