//! SessionTracker with ZooKeeper's ExpiryQueue (`SessionTrackerImpl`, `ExpiryQueue`).
//!
//! Time is an argument (milliseconds of a monotonic clock), never read here. A session
//! expires at `roundToNextInterval(now + timeout)`, where the interval is tickTime; every
//! touch moves it to a later bucket. [`SessionTracker::expire`] returns the sessions whose
//! bucket has passed and marks them closing; the caller turns each into a closeSession txn.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::KeeperError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub timeout: i32,
    pub expire_at: i64,
    pub closing: bool,
}

#[derive(Debug)]
pub struct SessionTracker {
    sessions: HashMap<i64, Session>,
    buckets: BTreeMap<i64, HashSet<i64>>,
    interval: i64,
    next_id: i64,
}

/// `SessionTrackerImpl.initializeNextSessionId`: server id in the top byte, the clock's
/// milliseconds (40 bits) below it, a counter in the low bits.
pub fn initial_session_id(server_id: i64, now_ms: i64) -> i64 {
    let mut next = ((now_ms << 24) as u64 >> 8) as i64;
    next |= server_id << 56;
    if next == i64::MIN {
        next += 1;
    }
    next
}

impl SessionTracker {
    pub fn new(server_id: i64, tick_time: i64, now_ms: i64) -> SessionTracker {
        SessionTracker {
            sessions: HashMap::new(),
            buckets: BTreeMap::new(),
            interval: tick_time.max(1),
            next_id: initial_session_id(server_id, now_ms),
        }
    }

    fn round(&self, t: i64) -> i64 {
        (t / self.interval + 1) * self.interval
    }

    /// A fresh session id (`SessionTrackerImpl.createSession`).
    pub fn next_session_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        if self.next_id == i64::MIN {
            self.next_id += 1;
        }
        id
    }

    /// Starts tracking a session (on applying createSession, or loading a snapshot).
    pub fn add(&mut self, id: i64, timeout: i32, now_ms: i64) {
        self.sessions.entry(id).or_insert(Session { id, timeout, expire_at: 0, closing: false });
        self.touch(id, timeout, now_ms);
    }

    /// Moves a live session's expiry forward; false if unknown or closing.
    pub fn touch(&mut self, id: i64, timeout: i32, now_ms: i64) -> bool {
        let new_expiry = self.round(now_ms + timeout as i64);
        let Some(s) = self.sessions.get_mut(&id) else {
            return false;
        };
        if s.closing {
            return false;
        }
        s.timeout = timeout;
        let old = s.expire_at;
        if old == new_expiry {
            return true;
        }
        s.expire_at = new_expiry;
        if let Some(b) = self.buckets.get_mut(&old) {
            b.remove(&id);
            if b.is_empty() {
                self.buckets.remove(&old);
            }
        }
        self.buckets.entry(new_expiry).or_default().insert(id);
        true
    }

    /// Touches with the session's own timeout.
    pub fn touch_session(&mut self, id: i64, now_ms: i64) -> bool {
        match self.sessions.get(&id) {
            Some(s) => {
                let t = s.timeout;
                self.touch(id, t, now_ms)
            }
            None => false,
        }
    }

    /// `checkSession`: the session exists and is not closing.
    pub fn check(&self, id: i64) -> Result<(), KeeperError> {
        match self.sessions.get(&id) {
            Some(s) if !s.closing => Ok(()),
            _ => Err(KeeperError::SessionExpired),
        }
    }

    pub fn get(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn set_closing(&mut self, id: i64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
    }

    /// Stops tracking (on applying closeSession).
    pub fn remove(&mut self, id: i64) {
        if let Some(s) = self.sessions.remove(&id) {
            if let Some(b) = self.buckets.get_mut(&s.expire_at) {
                b.remove(&id);
                if b.is_empty() {
                    self.buckets.remove(&s.expire_at);
                }
            }
        }
    }

    /// The next instant at which something may expire.
    pub fn next_expiration(&self) -> Option<i64> {
        self.buckets.keys().next().copied()
    }

    /// Sessions whose expiry time is <= now, marked closing, in id order.
    pub fn expire(&mut self, now_ms: i64) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some((&t, _)) = self.buckets.iter().next() {
            if t > now_ms {
                break;
            }
            if let Some(ids) = self.buckets.remove(&t) {
                let mut ids: Vec<i64> = ids.into_iter().collect();
                ids.sort_unstable();
                for id in ids {
                    if let Some(s) = self.sessions.get_mut(&id) {
                        s.closing = true;
                        out.push(id);
                    }
                }
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// (id, timeout) of every session, for snapshots and reports.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Expiry time -> sessions expiring then, for `dump`.
    pub fn expiry_buckets(&self) -> Vec<(i64, Vec<i64>)> {
        self.buckets.iter().map(|(t, ids)| (*t, ids.iter().copied().collect())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_by_bucket() {
        let mut t = SessionTracker::new(1, 2000, 0);
        let a = t.next_session_id();
        assert_eq!(a >> 56, 1);
        t.add(a, 4000, 100);
        assert_eq!(t.next_expiration(), Some(6000));
        assert!(t.expire(5999).is_empty());
        assert!(t.touch_session(a, 3000));
        assert_eq!(t.next_expiration(), Some(8000));
        assert_eq!(t.expire(8000), vec![a]);
        assert_eq!(t.check(a), Err(KeeperError::SessionExpired));
        assert!(!t.touch_session(a, 9000));
        t.remove(a);
        assert!(t.is_empty());
    }
}
