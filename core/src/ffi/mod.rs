//! The one surface every language binding is written against.
//!
//! Bindings (Python, Node, Kotlin/Swift through UniFFI, Elixir) convert types and adapt
//! idioms; everything they would otherwise each re-implement lives here:
//! - [`ErrorInfo`] and [`ERROR_TABLE`]: one flat error record and the one table every
//!   language's error classes are generated from or checked against;
//! - [`Naming`]: validation errors name options the way the caller's language does;
//! - [`RawReadOptions`]: read and consumer options as bindings receive them, checked here;
//! - [`ReadHandle`] and [`ConsumerEvents`]: pull handles (`next`, `cancel`, cancel on
//!   drop, a position readable while a `next` is pending, concurrent `next` served in
//!   call order);
//! - [`ConsumerRun`]: a pushed consumer whose outcome several callers can await;
//! - [`spawn`] / [`Task`], [`guard`], [`catch_panic`]: work on the shared runtime from
//!   any thread, aborted on drop, with no panic crossing the boundary;
//! - the producer's ordered enqueue is [`crate::Producer`]'s own API.
//!
//! Nothing here knows any language.

mod consumer;
mod errors;
mod naming;
mod options;
mod read;
mod task;

pub use consumer::{ConsumerEvents, ConsumerRun};
pub use errors::{ERROR_TABLE, ErrorClass, ErrorInfo, ROOT, error_class, error_table_json};
pub use naming::Naming;
pub use options::RawReadOptions;
pub use read::{Position, ReadHandle};
pub use task::{Task, catch_panic, guard, panic_error, spawn, spawn_detached};
