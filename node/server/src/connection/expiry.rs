//! Connection expiry, as ZooKeeper's NIOServerCnxnFactory does it with its ExpiryQueue and
//! ConnectionExpirerThread: a client connection that has sent nothing for its session's
//! timeout is closed by the member it is connected to, whether or not the session lives on
//! through another connection (a client pings well within its timeout, so such a connection
//! is dead or stuck). A sweep every `zookeeper.nio.sessionlessCnxnTimeout` (10 s by default)
//! looks at each connection's counters; a connection is closed between its timeout and its
//! timeout plus one sweep interval after its last request, as ZooKeeper rounds the moment up
//! to that interval. It reads only counters the connection keeps anyway: nothing is added to
//! the path of a request. It never closes a connection that is still in its handshake (that
//! has its own deadline in `connection::serve`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use crate::zk_server::{CnxnMsg, ZooKeeperServer};

/// What a sweep remembers of a connection: its request count, and since when (server ms) it
/// has not changed.
#[derive(Default)]
pub struct Sweeps {
    seen: HashMap<u64, (u64, i64)>,
}

impl Sweeps {
    /// One sweep at `now` (the server's monotonic ms): closes the connections idle for their
    /// session timeout; returns how many it closed.
    pub fn sweep(&mut self, server: &ZooKeeperServer, now: i64) -> usize {
        let mut next = HashMap::with_capacity(self.seen.len());
        let mut closed = 0;
        for h in server.cnxns() {
            if h.session_id.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let count = h.stats.packets_received.load(Ordering::Relaxed);
            let mut since = match self.seen.get(&h.id) {
                Some(&(c, t)) if c == count => t,
                _ => now,
            };
            // The last reply is a sharper mark of the last request than this sweep's clock.
            since = since.max(h.stats.last_response_ms.load(Ordering::Relaxed)).min(now);
            let timeout = h.stats.timeout.load(Ordering::Relaxed);
            if timeout > 0 && now - since >= timeout {
                tracing::debug!(
                    session = format_args!("0x{:x}", h.session_id.load(Ordering::Relaxed)),
                    idle_ms = now - since,
                    "closing connection: nothing received for the session timeout"
                );
                server.metrics.sessionless_connections_expired.inc();
                let _ = h.tx.send(CnxnMsg::Close("nothing received for the session timeout"));
                closed += 1;
                continue;
            }
            next.insert(h.id, (count, since));
        }
        self.seen = next;
        closed
    }
}
