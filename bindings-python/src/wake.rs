//! Waking an asyncio event loop from the core's runtime threads without the GIL.
//!
//! `future_into_py` completes each awaitable from a runtime thread: two tasks spawned
//! (waking a runtime worker), the GIL taken there, `call_soon_threadsafe` run as Python
//! code there, then the loop woken. Per wait that cost about as much CPU as reading a
//! 128 KiB chunk. Here a Rust [`Waker`] only queues what it woke and makes a descriptor
//! the loop watches (`loop.add_reader`) readable, and only when it is not already; the
//! loop then calls [`Notifier::ready`] on its own thread, which runs each woken
//! [`Wakeable`]. One notifier per event loop (`durable_streams_sdk._aio.notifier`), so
//! many sessions on one loop cost one eventfd (Linux) or two socket descriptors in all.

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
    /// An error (raised by a task it resumed) ends the notifier's callback with it.
    fn on_wake(self: Arc<Self>, py: Python<'_>) -> PyResult<()>;
}

#[cfg(unix)]
mod signal {
    //! The descriptor the loop watches and how a waker makes it readable: an eventfd on
    //! Linux (one counter: a write and a read, no socket buffers), a socket pair elsewhere.
    //! Both ends non-blocking: a waker never blocks a runtime thread, a drain never the loop.

    use std::io;
    use std::os::fd::{AsRawFd, RawFd};

    /// Both ends are the one eventfd (closed when both are dropped).
    #[cfg(target_os = "linux")]
    pub struct Pair(std::sync::Arc<std::os::fd::OwnedFd>);

    #[cfg(target_os = "linux")]
    impl Pair {
        pub fn new() -> io::Result<(Pair, Pair)> {
            use std::os::fd::FromRawFd;
            // SAFETY: eventfd has no memory arguments; a descriptor it returns is ours.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` is a fresh descriptor owned by nothing else.
            let fd = std::sync::Arc::new(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
            Ok((Pair(fd.clone()), Pair(fd)))
        }

        pub fn signal(&self) {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from a live buffer. Fails only when the counter would
            // overflow (it is drained to 0 on every wake-up), and then the loop wakes anyway.
            let _ = unsafe { libc::write(self.0.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        }

        pub fn drain(&self) {
            let mut buf = [0u8; 8];
            loop {
                // SAFETY: reads at most 8 bytes into a live buffer; one read resets the counter.
                let n =
                    unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    return;
                }
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub struct Pair(std::os::unix::net::UnixStream);

    #[cfg(not(target_os = "linux"))]
    impl Pair {
        pub fn new() -> io::Result<(Pair, Pair)> {
            let (rx, tx) = std::os::unix::net::UnixStream::pair()?;
            rx.set_nonblocking(true)?;
            tx.set_nonblocking(true)?;
            Ok((Pair(rx), Pair(tx)))
        }

        pub fn signal(&self) {
            use std::io::Write;
            // WouldBlock: the socket is full of unread bytes, the loop will wake anyway.
            let _ = (&self.0).write(&[1]);
        }

        pub fn drain(&self) {
            use std::io::Read;
            let mut buf = [0u8; 64];
            loop {
                match (&self.0).read(&mut buf) {
                    Ok(n) if n == buf.len() => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    _ => return,
                }
            }
        }
    }

    impl Pair {
        pub fn fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }
    }
}

#[cfg(unix)]
mod notifier {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, Weak};
    use std::task::{Wake, Waker};

    use pyo3::exceptions::PyOSError;
    use pyo3::prelude::*;

    use super::Wakeable;
    use super::signal::Pair;

    struct Inner {
        /// The signalling end; `None` once closed (a late waker then does nothing).
        tx: Mutex<Option<Pair>>,
        /// The descriptor is (or is about to be) readable: later wakes need not signal.
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
                    tx.signal();
                }
            }
        }
    }

    /// The per-loop end of the wake-up descriptor (`durable_streams_sdk._native._Notifier`).
    #[pyclass(frozen, name = "_Notifier", module = "durable_streams_sdk._native")]
    pub struct Notifier {
        inner: Arc<Inner>,
        rx: Mutex<Option<Pair>>,
    }

    #[pymethods]
    impl Notifier {
        #[new]
        fn new() -> PyResult<Self> {
            let (rx, tx) =
                Pair::new().map_err(|e| PyOSError::new_err(format!("wake-up descriptor: {e}")))?;
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
                .map_or(-1, Pair::fd)
        }

        /// The loop's reader callback: drain the descriptor, then run everything woken since.
        /// What one of them raises ends it (as a loop callback's error does); the ones not
        /// run yet are queued again for the next call.
        fn ready(&self, py: Python<'_>) -> PyResult<()> {
            // Drained first, then cleared, then the list taken. A wake that still saw the
            // flag set queued its target before this clears it, so the list below holds
            // it; a later wake signals again. (Cleared before draining, a signal sent in
            // between was drained with the flag left set: every later wake then skipped
            // its signal and the loop was never woken again.)
            if let Some(rx) = &*self.rx.lock().unwrap_or_else(|p| p.into_inner()) {
                rx.drain();
            }
            self.inner.signalled.store(false, Ordering::SeqCst);
            let woken =
                std::mem::take(&mut *self.inner.woken.lock().unwrap_or_else(|p| p.into_inner()));
            let mut woken = woken.into_iter();
            while let Some(weak) = woken.next() {
                let Some(target) = weak.upgrade() else {
                    continue;
                };
                target.queued().store(false, Ordering::SeqCst);
                if let Err(e) = target.on_wake(py) {
                    for rest in woken {
                        if let Some(t) = rest.upgrade() {
                            t.queued().store(false, Ordering::SeqCst);
                        }
                        self.inner.wake(&rest);
                    }
                    return Err(e);
                }
            }
            Ok(())
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
