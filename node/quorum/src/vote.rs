//! Votes (`Vote`) and the order FastLeaderElection picks a leader by
//! (`totalOrderPredicate`): higher peer epoch, then higher zxid, then higher sid.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vote {
    pub leader: u64,
    pub zxid: i64,
    pub election_epoch: i64,
    pub peer_epoch: i64,
}

impl Vote {
    /// Equal as ZooKeeper's `Vote.equals` compares them (the sender's state aside).
    pub fn same(&self, o: &Vote) -> bool {
        self.leader == o.leader
            && self.zxid == o.zxid
            && self.election_epoch == o.election_epoch
            && self.peer_epoch == o.peer_epoch
    }
}

/// Whether (new_id, new_zxid, new_epoch) beats (cur_id, cur_zxid, cur_epoch). A candidate
/// with weight 0 (an observer, a stranger) never wins.
pub fn total_order(new: (u64, i64, i64), cur: (u64, i64, i64), new_weight: u64) -> bool {
    if new_weight == 0 {
        return false;
    }
    let (nid, nzxid, nepoch) = new;
    let (cid, czxid, cepoch) = cur;
    nepoch > cepoch || (nepoch == cepoch && (nzxid > czxid || (nzxid == czxid && nid > cid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order() {
        assert!(total_order((1, 0, 2), (3, 100, 1), 1), "epoch first");
        assert!(total_order((1, 101, 1), (3, 100, 1), 1), "then zxid");
        assert!(total_order((4, 100, 1), (3, 100, 1), 1), "then sid");
        assert!(!total_order((4, 100, 1), (3, 100, 1), 0), "weight 0 never wins");
        assert!(!total_order((3, 100, 1), (3, 100, 1), 1));
    }
}
