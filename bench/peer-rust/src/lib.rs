//! Minimal plumbing around the upstream Rust client's `producer.rs` (copied in
//! unchanged by scripts/bench-peer-rust.sh), so that W1 measures exactly the
//! upstream producer over the same reqwest client settings as upstream's Client.

pub mod error;
pub mod producer;
pub mod stream;
pub mod types;

pub use producer::{IdempotentProducer, ProducerBuilder};
pub use stream::{Client, DurableStream};
