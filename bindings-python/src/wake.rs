//! Waking an asyncio event loop from the core's runtime threads without the GIL.
//!
//! `future_into_py` completes each awaitable from a runtime thread: two tasks spawned
//! (waking a runtime worker), the GIL taken there, `call_soon_threadsafe` run as Python
//! code there, then the loop woken. Per wait that cost about as much CPU as reading a
//! 128 KiB chunk. Here a Rust [`Waker`] only queues what it woke and writes one byte to a
//! socket the loop watches (`loop.add_reader`), and only when no byte is pending; the
//! loop then calls [`Notifier::ready`] on its own thread, which runs each woken
//! [`Wakeable`]. One notifier per event loop (`durable_streams_sdk._aio.notifier`), so
//! many sessions on one loop cost two file descriptors in all.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[cfg(unix)]
pub use notifier::Notifier;
use pyo3::prelude::*;

/// Something a notifier's waker wakes; [`Wakeable::on_wake`] runs on the loop's thread.
pub trait Wakeable: Send + Sync {
    /// Set while queued on a notifier (cleared just before `on_wake`), so a burst of
    /// wakes queues it once.
    fn queued(&self) -> &AtomicBool;
    fn on_wake(self: Arc<Self>, py: Python<'_>);
}

#[cfg(unix)]
mod notifier {
    use std::io::{ErrorKind, Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, Weak};
    use std::task::{Wake, Waker};

    use pyo3::exceptions::PyOSError;
    use pyo3::prelude::*;

    use super::Wakeable;

    struct Inner {
        /// The write end; `None` once closed (a late waker then does nothing).
        tx: Mutex<Option<UnixStream>>,
        /// A byte is (or is about to be) in the socket: later wakes need not write another.
        signalled: AtomicBool,
        woken: Mutex<Vec<Weak<dyn Wakeable>>>,
    }

    impl Inner {
        fn wake(&self, target: &Weak<dyn Wakeable>) {
            let Some(t) = target.upgrade() else { return };
            if !t.queued().swap(true, Ordering::SeqCst) {
                self.woken
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(target.clone());
            }
            if !self.signalled.swap(true, Ordering::SeqCst) {
                if let Some(tx) = &*self.tx.lock().unwrap_or_else(|p| p.into_inner()) {
                    // WouldBlock: the socket is full of unread bytes, the loop will wake anyway.
                    let _ = (&*tx).write(&[1]);
                }
            }
        }
    }

    /// The per-loop end of the wake-up socket (`durable_streams_sdk._native._Notifier`).
    #[pyclass(frozen, name = "_Notifier", module = "durable_streams_sdk._native")]
    pub struct Notifier {
        inner: Arc<Inner>,
        rx: Mutex<Option<UnixStream>>,
    }

    #[pymethods]
    impl Notifier {
        #[new]
        fn new() -> PyResult<Self> {
            let (rx, tx) = UnixStream::pair()
                .map_err(|e| PyOSError::new_err(format!("wake-up socket: {e}")))?;
            for s in [&rx, &tx] {
                s.set_nonblocking(true)
                    .map_err(|e| PyOSError::new_err(format!("wake-up socket: {e}")))?;
            }
            let inner = Inner {
                tx: Mutex::new(Some(tx)),
                signalled: AtomicBool::new(false),
                woken: Mutex::default(),
            };
            Ok(Notifier {
                inner: Arc::new(inner),
                rx: Mutex::new(Some(rx)),
            })
        }

        /// The descriptor the loop watches (`-1` once closed).
        fn fileno(&self) -> i32 {
            self.rx
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map_or(-1, |s| s.as_raw_fd())
        }

        /// The loop's reader callback: drain the socket, then run everything woken since.
        fn ready(&self, py: Python<'_>) {
            // Drained first, then cleared, then the list taken. A wake that still saw the
            // flag set queued its target before this clears it, so the list below holds
            // it; a later wake writes a new byte. (Cleared before draining, a byte written
            // in between was drained with the flag left set: every later wake then skipped
            // its write and the loop was never woken again.)
            if let Some(rx) = &*self.rx.lock().unwrap_or_else(|p| p.into_inner()) {
                let mut buf = [0u8; 64];
                loop {
                    match (&*rx).read(&mut buf) {
                        Ok(n) if n == buf.len() => continue,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        _ => break,
                    }
                }
            }
            self.inner.signalled.store(false, Ordering::SeqCst);
            let woken =
                std::mem::take(&mut *self.inner.woken.lock().unwrap_or_else(|p| p.into_inner()));
            for target in woken.iter().filter_map(Weak::upgrade) {
                target.queued().store(false, Ordering::SeqCst);
                target.on_wake(py);
            }
        }

        /// Close both ends (the loop is closed; its reader is gone with it).
        fn close(&self) {
            self.rx.lock().unwrap_or_else(|p| p.into_inner()).take();
            self.inner
                .tx
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
        }
    }

    impl Notifier {
        /// A waker that queues `target` on this notifier and wakes the loop.
        pub fn waker(&self, target: Weak<dyn Wakeable>) -> Waker {
            Waker::from(Arc::new(LoopWaker {
                inner: self.inner.clone(),
                target,
            }))
        }
    }

    struct LoopWaker {
        inner: Arc<Inner>,
        target: Weak<dyn Wakeable>,
    }

    impl Wake for LoopWaker {
        fn wake(self: Arc<Self>) {
            self.inner.wake(&self.target);
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.inner.wake(&self.target);
        }
    }
}
