//! Deferred sends and wake-ups.
//!
//! A thread that handles a burst of input (fifty ACKs read at once, a batch of fsynced
//! txns, a client's pipelined requests) opens a [`defer`] scope: what it sends to peers
//! and the log thread wake-ups it causes are only noted, and happen together when it is
//! about to wait ([`flush`]) or leaves the outermost scope. So a burst is answered with one
//! `send` per peer instead of one per packet, and the commits of the burst are applied in
//! one batch (one wake-up per client connection, not one per txn). The network goes first:
//! neither applying nor a woken log thread delays the PROPOSALs and COMMITs.

use std::cell::RefCell;
use std::sync::Arc;

/// Something with work left for the end of a scope.
pub(crate) trait Flush: Send + Sync {
    fn flush(&self);
}

/// When in the flush a deferred thing runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Writes to peers.
    Net,
    /// Applying what the burst committed, after the network.
    Apply,
    /// Wake-ups of local threads, last.
    Wake,
}

#[derive(Default)]
struct Pending {
    net: Vec<Arc<dyn Flush>>,
    apply: Vec<Arc<dyn Flush>>,
    wake: Vec<Arc<dyn Flush>>,
}

thread_local! {
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// Notes `f` for the end of the current scope; false when this thread is not in one (the
/// caller then does the work at once).
pub(crate) fn later(phase: Phase, f: &Arc<dyn Flush>) -> bool {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let Some(p) = p.as_mut() else { return false };
        let list = match phase {
            Phase::Net => &mut p.net,
            Phase::Apply => &mut p.apply,
            Phase::Wake => &mut p.wake,
        };
        let ptr = Arc::as_ptr(f) as *const ();
        if !list.iter().any(|o| Arc::as_ptr(o) as *const () == ptr) {
            list.push(f.clone());
        }
        true
    })
}

/// Opens a scope; scopes nest, and only the outermost one flushes when it ends.
pub(crate) fn defer() -> Scope {
    let outermost = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let outermost = p.is_none();
        if outermost {
            *p = Some(Pending::default());
        }
        outermost
    });
    Scope { outermost }
}

/// Does what this thread has deferred so far: sends, then wake-ups.
pub(crate) fn flush() {
    let pending = PENDING.with(|p| p.borrow_mut().as_mut().map(std::mem::take));
    if let Some(p) = pending {
        for f in p.net.into_iter().chain(p.apply).chain(p.wake) {
            f.flush();
        }
    }
}

/// The guard of [`defer`].
pub(crate) struct Scope {
    outermost: bool,
}

impl Drop for Scope {
    fn drop(&mut self) {
        if self.outermost {
            flush();
            PENDING.with(|p| *p.borrow_mut() = None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize, &'static str, Arc<parking_lot::Mutex<Vec<&'static str>>>);
    impl Flush for Count {
        fn flush(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            self.2.lock().push(self.1);
        }
    }

    #[test]
    fn deferred_work_runs_once_per_flush_network_first_and_only_at_the_outermost_scope() {
        let log = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let wake: Arc<dyn Flush> = Arc::new(Count(AtomicUsize::new(0), "wake", log.clone()));
        let net: Arc<dyn Flush> = Arc::new(Count(AtomicUsize::new(0), "net", log.clone()));
        assert!(!later(Phase::Net, &net), "outside a scope the caller works at once");
        {
            let _outer = defer();
            assert!(later(Phase::Wake, &wake));
            {
                let _inner = defer();
                assert!(later(Phase::Net, &net));
                assert!(later(Phase::Net, &net));
            }
            assert!(log.lock().is_empty(), "an inner scope does not flush");
            flush();
            assert_eq!(*log.lock(), vec!["net", "wake"]);
            assert!(later(Phase::Net, &net));
        }
        assert_eq!(*log.lock(), vec!["net", "wake", "net"]);
        assert!(!later(Phase::Net, &net), "the scope is over");
    }
}
