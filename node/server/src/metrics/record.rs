//! The recording helpers whose call sites should stay one line: what a committed txn wrote,
//! a restore, an applied txn, watch events, a sync batch, and the leader's commit, ACK and
//! learner-sync figures. Each is a few atomic adds on [`ServerMetrics`]; none takes a lock
//! or allocates on the request path.
//!
//! A leaf, as the rest of [`crate::metrics`]: it reads nothing of the server.

use zab_jute::txn::Txn;

use super::ServerMetrics;

/// The data a committed txn wrote, per namespace (`DataTree.updateWriteStat` in createNode,
/// setData and deleteNode).
pub fn record_txn_writes(m: &ServerMetrics, txn: &Txn) {
    let len = |d: &Option<Vec<u8>>| d.as_ref().map_or(0, |d| d.len());
    match txn {
        Txn::Create(t) => m.record_write(&t.path, len(&t.data)),
        Txn::CreateTtl(t) => m.record_write(&t.path, len(&t.data)),
        Txn::CreateContainer(t) => m.record_write(&t.path, len(&t.data)),
        Txn::SetData(t) => m.record_write(&t.path, len(&t.data)),
        Txn::Delete(t) => m.record_write(&t.path, 0),
        Txn::Multi(subs) => {
            for (_, t) in subs {
                record_txn_writes(m, t);
            }
        }
        _ => {}
    }
}

/// A database restored from disk (`ZKDatabase.loadDataBase`): `dbinittime` in ms,
/// `startup_txns_loaded`, and the digest mismatches seen while replaying. zab-persistence
/// restores in one pass, so the snapshot's and the log's shares
/// (`startup_snap_load_time`, `startup_txns_load_time`) are not told apart.
pub fn record_restore(m: &ServerMetrics, took: std::time::Duration, r: &zab_persistence::snaplog::Restored) {
    m.dbinittime.add_ms(took);
    m.startup_txns_loaded.add(r.txns_replayed as i64);
    m.digest_mismatches_count.add(r.digest_mismatches as u64);
}

/// A committed txn applied here (`FinalRequestProcessor`): `propagation_latency`, from its
/// creation on the leader (wall clock) to now, when the clocks allow.
pub fn record_applied(m: &ServerMetrics, hdr: &zab_jute::txn::TxnHeader, now_ms: i64) {
    let latency = now_ms - hdr.time;
    if latency >= 0 {
        m.propagation_latency.add(latency);
    }
}

/// Watch events about to be delivered (`WatchManager.triggerWatch`): one data point per
/// trigger (a path and an event type; its events are adjacent) with the number of watchers
/// it fired, in `node_{created,deleted,changed,children}_watch_count`.
pub fn record_watch_events(m: &ServerMetrics, events: &[zab_datatree::WatchEvent]) {
    use zab_jute::codes::event as event_type;
    let mut i = 0;
    while let Some(first) = events.get(i) {
        let n =
            events[i..].iter().take_while(|e| e.event_type == first.event_type && e.path == first.path).count().max(1);
        let summary = match first.event_type {
            event_type::NODE_CREATED => Some(&m.node_created_watch_count),
            event_type::NODE_DELETED => Some(&m.node_deleted_watch_count),
            event_type::NODE_DATA_CHANGED => Some(&m.node_changed_watch_count),
            event_type::NODE_CHILDREN_CHANGED => Some(&m.node_children_watch_count),
            _ => None,
        };
        if let Some(s) = summary {
            s.add(n as i64);
        }
        i += n;
    }
}

/// One group commit of the log thread: `n` txns logged with one fsync.
pub fn record_sync_batch(m: &ServerMetrics, n: u64) {
    m.sync_processor_request_queued.add(n);
    m.sync_processor_batch_size.add(n as i64);
}

/// The wall-clock time in a proposal's TxnHeader (clientId, cxid, zxid, then time).
fn txn_time(payload: &[u8]) -> Option<i64> {
    let b: [u8; 8] = payload.get(20..28)?.try_into().ok()?;
    Some(i64::from_be_bytes(b))
}

/// `Request.logLatency`: the time since the txn was created (wall clock, as ZooKeeper;
/// dropped when the clock went back).
fn since_txn(payload: Option<&std::sync::Arc<Vec<u8>>>) -> Option<i64> {
    let latency = crate::clock::wall_ms() - txn_time(payload?)?;
    (latency >= 0).then_some(latency)
}

/// The leader commits a proposal (`Leader.tryToCommit`): `commit_count`, and
/// `quorum_ack_latency` from the txn's creation to its quorum of ACKs.
pub fn leader_commit(m: &ServerMetrics, proposal: Option<&std::sync::Arc<Vec<u8>>>) {
    m.commit_count.inc();
    if let Some(latency) = since_txn(proposal) {
        m.quorum_ack_latency.add(latency);
    }
}

/// A learner's ACK reached the leader (`Leader.processAck`): `ack_latency` for one zxid in
/// `ackLoggingFrequency`.
pub fn leader_ack(m: &ServerMetrics, sid: u64, zxid: i64, proposal: Option<&std::sync::Arc<Vec<u8>>>) {
    if zxid % super::ACK_LOGGING_FREQUENCY == 0 {
        if let Some(latency) = since_txn(proposal) {
            m.ack_latency.add_id(sid, latency);
        }
    }
}

/// The leader chose how to synchronise a learner (`LearnerHandler.syncFollower`): SNAP
/// counts as `snap_count`, DIFF and TRUNC as `diff_count`; `in_flight` syncs (this one
/// included) go to `inflight_snap_count` / `inflight_diff_count`.
pub fn learner_sync(m: &ServerMetrics, mode: &str, in_flight: usize) {
    if mode == "SNAP" {
        m.snap_count.inc();
        m.inflight_snap_count.add(in_flight as i64);
    } else {
        m.diff_count.inc();
        m.inflight_diff_count.add(in_flight as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_writes_by_namespace() {
        use zab_jute::txn::{CreateTxn, DeleteTxn, SetDataTxn};
        let m = ServerMetrics::new();
        let create = Txn::Create(CreateTxn {
            path: "/admin/a".into(),
            data: Some(b"root".to_vec()),
            acl: vec![],
            ephemeral: false,
            parent_c_version: 0,
        });
        record_txn_writes(&m, &create);
        record_txn_writes(
            &m,
            &Txn::Multi(vec![
                (5, Txn::SetData(SetDataTxn { path: "/admin".into(), data: None, version: 0 })),
                (2, Txn::Delete(DeleteTxn { path: "/other/x".into() })),
            ]),
        );
        let admin = m.write_per_namespace.get("admin").map(|s| s.snapshot());
        assert_eq!(admin.map(|s| (s.count, s.sum)), Some((2, 8 + 4 + 6)));
        assert_eq!(m.write_per_namespace.get("other").map(|s| s.snapshot().sum), Some(8));
        let mut bytes = vec![0u8; 36];
        bytes[20..28].copy_from_slice(&(crate::clock::wall_ms() - 5).to_be_bytes());
        let payload = std::sync::Arc::new(bytes);
        leader_commit(&m, Some(&payload));
        leader_commit(&m, None);
        assert_eq!(m.commit_count.get(), 2);
        assert_eq!(m.quorum_ack_latency.snapshot().count, 1);
        assert!(m.quorum_ack_latency.snapshot().min >= 5);
        leader_ack(&m, 2, 4_294_967_999, Some(&payload));
        assert_eq!(m.ack_latency.entries().count(), 0, "only one zxid in 1000");
        leader_ack(&m, 2, 4_294_968_000, Some(&payload));
        assert_eq!(m.ack_latency.get("2").map(|s| s.snapshot().count), Some(1));
        learner_sync(&m, "SNAP", 1);
        learner_sync(&m, "TRUNC", 2);
        learner_sync(&m, "DIFF", 1);
        assert_eq!((m.snap_count.get(), m.diff_count.get()), (1, 2));
        assert_eq!(m.inflight_diff_count.snapshot().max, 2);
        record_sync_batch(&m, 3);
        assert_eq!(m.sync_processor_request_queued.get(), 3);
        assert_eq!(m.sync_processor_batch_size.snapshot().max, 3);
    }
}
