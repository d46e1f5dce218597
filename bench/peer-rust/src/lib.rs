//! The upstream Rust client's modules, copied in unchanged by scripts/bench-peer-rust.sh
//! (error, iterator, producer, stream, types), around a `Client` of our own: the only
//! upstream module not used is client.rs, whose stored versions are of other revisions
//! (renamed stream type, retry module); `client.rs` here keeps its connection settings.

pub mod client;
pub mod error;
pub mod iterator;
pub mod producer;
pub mod stream;
pub mod types;

pub use client::Client;
pub use iterator::Chunk;
pub use stream::{CreateOptions, DurableStream};
pub use types::{LiveMode, Offset};
