//! Running as a quorum peer: the election port, leader election, and the leader and learner
//! roles over the quorum port, wired to the pure state machines of `zab-quorum`.

pub mod election;
pub mod qcm;
