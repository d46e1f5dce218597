//! What a client has handed out, so that closing the client ends all of it, the same way
//! from every language: later operations through the client or its streams fail with
//! `CLOSED`, reads in progress end (a pull consumer with them), pushed consumers stop,
//! and producers flush and detach. Producers are held weakly: the client never keeps
//! one alive; reads and consumers watch the client's closed flag instead.

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::error::{Error, ErrorKind, Result};
use crate::producer::WeakProducer;

pub(crate) struct Owned {
    closed: watch::Sender<bool>,
    producers: Mutex<Producers>,
}

enum Producers {
    /// Open: the producers started on the client.
    Open(Vec<WeakProducer>),
    /// Closed: `true` once the first close has flushed and detached them.
    Flushing(watch::Receiver<bool>),
}

impl Owned {
    pub(crate) fn new() -> Owned {
        Owned { closed: watch::Sender::new(false), producers: Mutex::new(Producers::Open(Vec::new())) }
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// `CLOSED` once the client is closed.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_closed() { Err(Error::new(ErrorKind::Closed, "the client is closed")) } else { Ok(()) }
    }

    /// Resolves when the client is closed (never, while it is open).
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.closed.subscribe();
        async move {
            let _ = rx.wait_for(|c| *c).await;
        }
    }

    /// A producer started on this client, to be detached when it closes.
    pub(crate) fn track(&self, p: WeakProducer) -> Result<()> {
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        let Producers::Open(all) = &mut *producers else { return self.check() };
        // Forget producers already dropped, so that starting many in turn stays flat.
        if all.len() >= 16 && all.len().is_power_of_two() {
            all.retain(WeakProducer::alive);
        }
        all.push(p);
        Ok(())
    }

    /// Close: refuse new operations, end reads and consumers, flush and detach producers
    /// (their failures are theirs to report through their own `flush`/`close`).
    /// The client is closed when this is called, and the producers' flush runs on the
    /// shared runtime from then on, whether or not the returned future is awaited (a
    /// binding may drop it: a cancelled wait, a handle released). Every close, the first
    /// or a later one, resolves when that flush is done.
    pub(crate) fn close(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut flushed = {
            let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
            self.closed.send_replace(true);
            match &mut *producers {
                Producers::Flushing(flushed) => flushed.clone(),
                Producers::Open(all) => {
                    let live: Vec<_> = std::mem::take(all).iter().filter_map(WeakProducer::upgrade).collect();
                    let (done, flushed) = watch::channel(false);
                    drop(crate::runtime::spawn(async move {
                        futures_util::future::join_all(live.iter().map(|p| p.detach())).await;
                        let _ = done.send(true);
                    }));
                    *producers = Producers::Flushing(flushed.clone());
                    flushed
                }
            }
        };
        async move {
            // An error only if the flush task is gone (the runtime shut down): nothing to wait for.
            let _ = flushed.wait_for(|done| *done).await;
        }
    }
}
