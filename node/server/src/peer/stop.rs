//! The one way a member is told to stop: a [`StopSignal`]. Whatever blocks registers how to
//! wake it ([`StopSignal::on_stop`]: shut a socket down, send the epoch's thread an event),
//! async code awaits [`StopSignal::stopped`]; nothing polls a flag on a timer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

type Waker = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Inner {
    stopped: AtomicBool,
    next: AtomicU64,
    wakers: Mutex<Vec<(u64, Waker)>>,
    notify: tokio::sync::Notify,
}

/// Cloned into everything a member runs; [`StopSignal::stop`] ends it all.
#[derive(Clone, Default)]
pub struct StopSignal {
    inner: Arc<Inner>,
}

/// Keeps a waker registered; dropping it removes the waker.
pub struct OnStop {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for OnStop {
    fn drop(&mut self) {
        self.inner.wakers.lock().retain(|(id, _)| *id != self.id);
    }
}

impl StopSignal {
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    /// Stops: every registered waker runs once, and every waiter wakes.
    pub fn stop(&self) {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        let wakers = std::mem::take(&mut *self.inner.wakers.lock());
        for (_, wake) in wakers {
            wake();
        }
        self.inner.notify.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// Runs `wake` when the member stops (at once if it has), unless the returned guard
    /// is dropped first.
    pub fn on_stop(&self, wake: impl FnOnce() + Send + 'static) -> OnStop {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        self.inner.wakers.lock().push((id, Box::new(wake)));
        // A stop between the check above and the push would miss the waker: run it now.
        if self.is_stopped() {
            let mine = {
                let mut w = self.inner.wakers.lock();
                w.iter().position(|(i, _)| *i == id).map(|p| w.remove(p))
            };
            if let Some((_, wake)) = mine {
                wake();
            }
        }
        OnStop { inner: self.inner.clone(), id }
    }

    /// Resolves once the member stops.
    pub async fn stopped(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn wakers_run_once_on_stop_unless_dropped() {
        let s = StopSignal::new();
        let n = Arc::new(AtomicUsize::new(0));
        let kept = {
            let n = n.clone();
            s.on_stop(move || {
                n.fetch_add(1, Ordering::SeqCst);
            })
        };
        let dropped = {
            let n = n.clone();
            s.on_stop(move || {
                n.fetch_add(10, Ordering::SeqCst);
            })
        };
        drop(dropped);
        s.stop();
        s.stop();
        assert_eq!(n.load(Ordering::SeqCst), 1);
        drop(kept);
        // Registered after the stop: runs at once.
        let late = {
            let n = n.clone();
            s.on_stop(move || {
                n.fetch_add(100, Ordering::SeqCst);
            })
        };
        assert_eq!(n.load(Ordering::SeqCst), 101);
        drop(late);
        assert!(s.is_stopped());
    }

    #[tokio::test]
    async fn waiters_wake_on_stop() {
        let s = StopSignal::new();
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.stopped().await }
        });
        tokio::task::yield_now().await;
        s.stop();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
        s.stopped().await; // already stopped: returns at once
    }
}
