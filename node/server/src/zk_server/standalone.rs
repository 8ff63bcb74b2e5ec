//! The standalone server's pipeline (`ZooKeeperServer` alone, no quorum): a write is
//! prepared (`write`) and queued for the log; this server's own fsync commits it
//! (`logged` in `commit`), and it is applied (`commit_up_to`).

use super::write::ClientWrite;
use super::ZooKeeperServer;

impl ZooKeeperServer {
    /// Prepares the write and queues it for the log; it is applied once durable.
    pub(super) fn submit_as_standalone(&self, w: ClientWrite<'_>) {
        let prepared = self.prep(w);
        self.queue_for_log(prepared);
    }
}
