//! The election driver (ZooKeeper's `Election` interface, `FastLeaderElection`'s Messenger):
//! runs the pure [`FastLeaderElection`] state machine of `zab-quorum` over the
//! [`QuorumCnxManager`] for the life of the process.
//!
//! One task owns the receive side: it decodes each notification (a malformed one is dropped
//! with a debug line, as `WorkerReceiver` skips it), hands it to the state machine with the
//! tokio clock (milliseconds since the driver started), ticks the machine every
//! [`TICK`], and carries out what comes back: `Send` as an encoded version-2 notification
//! through the QCM, `Decided` as the answer of the pending [`Election::look_for_leader`].
//!
//! Between elections the machine stays decided and keeps answering LOOKING members with its
//! current vote, which is how a restarted member finds the established leader
//! (ZOOKEEPER-1732); non-voters (observers, unknown sids) are always answered.
//! The driver never blocks on the network: sends only queue in the QCM.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info};
use zab_jute::quorum::Notification;
use zab_quorum::election::{Action, ElectionConfig, FastLeaderElection, PeerState};
use zab_quorum::vote::Vote;

use super::qcm::QuorumCnxManager;

/// How often the state machine is ticked (finalizeWait and the notification timeouts are
/// multiples of 200 ms).
pub const TICK: Duration = Duration::from_millis(50);

/// The outcome of one `look_for_leader` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decision {
    round: u64,
    state: PeerState,
    vote: Vote,
    /// The round ended on a newer configuration (kept in `Machine::newer`), not a vote.
    newer_config: bool,
}

/// What one `look_for_leader` call ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elected {
    /// This member's role and the vote it stands by.
    Role(PeerState, Vote),
    /// A notification carried a newer configuration (reconfigEnabled): adopt it and elect
    /// again with it.
    NewerConfig(zab_quorum::verifier::QuorumMaj),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Running(Option<Decision>),
    Stopped,
}

struct Machine {
    fle: FastLeaderElection,
    /// The newer configuration the last round ended on.
    newer: Option<zab_quorum::verifier::QuorumMaj>,
    /// Counts `look_for_leader` calls, so that each waits for its own decision.
    round: u64,
    started: Instant,
    status: watch::Sender<Status>,
}

impl Machine {
    fn now(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    fn carry_out(&mut self, qcm: &QuorumCnxManager, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send { to, n } => {
                    debug!(
                        to,
                        state = n.state,
                        leader = n.leader,
                        zxid = format_args!("{:#x}", n.zxid),
                        round = n.election_epoch,
                        peer_epoch = n.peer_epoch,
                        "sending notification"
                    );
                    qcm.send(to, n.encode());
                }
                Action::Decided { state, vote } => {
                    info!(
                        myid = qcm.myid(),
                        ?state,
                        leader = vote.leader,
                        zxid = format_args!("{:#x}", vote.zxid),
                        round = vote.election_epoch,
                        peer_epoch = vote.peer_epoch,
                        "leader election decided"
                    );
                    let decision = Decision { round: self.round, state, vote, newer_config: false };
                    self.status.send_replace(Status::Running(Some(decision)));
                }
                Action::NewerConfig(view) => {
                    info!(
                        myid = qcm.myid(),
                        version = format_args!("{:#x}", view.version),
                        "a notification carries a newer configuration"
                    );
                    let vote = self.fle.current_vote();
                    self.newer = Some(view);
                    let decision = Decision { round: self.round, state: PeerState::Looking, vote, newer_config: true };
                    self.status.send_replace(Status::Running(Some(decision)));
                }
            }
        }
    }
}

/// FastLeaderElection on the election port.
pub struct Election {
    qcm: Arc<QuorumCnxManager>,
    machine: Arc<Mutex<Machine>>,
    status: watch::Receiver<Status>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Election {
    /// Starts answering notifications from `received` (the QCM's receive channel) as a member
    /// whose last logged zxid and current epoch are `last_logged_zxid` and `current_epoch`.
    /// Must be called inside a tokio runtime.
    pub fn start(
        qcm: Arc<QuorumCnxManager>,
        received: mpsc::Receiver<(u64, Vec<u8>)>,
        last_logged_zxid: i64,
        current_epoch: i64,
        cfg: ElectionConfig,
    ) -> Election {
        let fle = FastLeaderElection::new(qcm.myid(), qcm.view(), last_logged_zxid, current_epoch, cfg);
        let (status_tx, status) = watch::channel(Status::Running(None));
        let machine =
            Arc::new(Mutex::new(Machine { fle, newer: None, round: 0, started: Instant::now(), status: status_tx }));
        let task = tokio::spawn(run(machine.clone(), qcm.clone(), received));
        Election { qcm, machine, status, task: Mutex::new(Some(task)) }
    }

    /// Runs one election (`lookForLeader`) with this member's current claim and returns the
    /// decision: LEADING, FOLLOWING or OBSERVING and the vote. `None` when the driver stops
    /// first, or a later call superseded this one.
    pub async fn look_for_leader(&self, last_logged_zxid: i64, current_epoch: i64) -> Option<Elected> {
        let mut status = self.status.clone();
        let round = {
            let mut m = self.machine.lock();
            if *m.status.borrow() == Status::Stopped {
                return None;
            }
            m.round += 1;
            let now = m.now();
            let actions = m.fle.start(last_logged_zxid, current_epoch, now);
            info!(
                myid = self.qcm.myid(),
                round = m.fle.logical_clock(),
                zxid = format_args!("{last_logged_zxid:#x}"),
                epoch = current_epoch,
                "new election"
            );
            m.carry_out(&self.qcm, actions);
            m.round
        };
        loop {
            match *status.borrow_and_update() {
                Status::Stopped => return None,
                Status::Running(Some(d)) if d.round == round && d.newer_config => {
                    return self.machine.lock().newer.take().map(Elected::NewerConfig);
                }
                Status::Running(Some(d)) if d.round == round => return Some(Elected::Role(d.state, d.vote)),
                Status::Running(Some(d)) if d.round > round => return None,
                Status::Running(_) => {}
            }
            if status.changed().await.is_err() {
                return None;
            }
        }
    }

    /// A configuration activated: elect with it from now on, dialling its members.
    pub fn set_view(&self, view: &zab_quorum::verifier::QuorumMaj) {
        self.qcm.set_view(view.clone());
        let mut m = self.machine.lock();
        if m.fle.view().version < view.version {
            let now = m.now();
            let actions = m.fle.set_view(view.clone(), now);
            m.carry_out(&self.qcm, actions);
        }
    }

    /// `QuorumPeer.updateElectionVote`: the established epoch, once discovery has set it.
    pub fn update_election_vote(&self, new_epoch: i64) {
        self.machine.lock().fle.update_election_vote(new_epoch);
    }

    /// A designated role, taken without an election: the vote others are answered with.
    pub fn designated(&self, state: PeerState, leader: u64, zxid: i64) {
        self.machine.lock().fle.designated(state, leader, zxid);
    }

    pub fn state(&self) -> PeerState {
        self.machine.lock().fle.state()
    }

    /// The vote this member stands by (its proposal while looking).
    pub fn current_vote(&self) -> Vote {
        self.machine.lock().fle.current_vote()
    }

    pub fn qcm(&self) -> &Arc<QuorumCnxManager> {
        &self.qcm
    }

    /// Stops the driver and the QCM; a pending `look_for_leader` returns `None`.
    pub async fn shutdown(&self) {
        let task = self.task.lock().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        self.machine.lock().status.send_replace(Status::Stopped);
        self.qcm.shutdown().await;
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }
}

/// The receive loop (`WorkerReceiver`) and the clock.
async fn run(machine: Arc<Mutex<Machine>>, qcm: Arc<QuorumCnxManager>, mut received: mpsc::Receiver<(u64, Vec<u8>)>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = received.recv() => {
                let Some((from, bytes)) = msg else { break };
                let n = match Notification::decode(&bytes) {
                    Ok(n) => n,
                    Err(e) => {
                        debug!(from, len = bytes.len(), error = %e, "dropping a malformed notification");
                        continue;
                    }
                };
                debug!(from, state = n.state, leader = n.leader, zxid = format_args!("{:#x}", n.zxid),
                    round = n.election_epoch, peer_epoch = n.peer_epoch, version = n.version, "notification");
                let mut m = machine.lock();
                let now = m.now();
                let actions = m.fle.on_notification(from, &n, now);
                m.carry_out(&qcm, actions);
            }
            _ = tick.tick() => {
                let mut m = machine.lock();
                let now = m.now();
                let actions = m.fle.on_tick(now);
                m.carry_out(&qcm, actions);
            }
        }
    }
    debug!(myid = qcm.myid(), "election receive loop ended");
}

/// One election for the member a zoo.cfg describes, for the interop script
/// `e2e/quorum/election_interop.sh` (hidden `zab-node elect-once`): starts the QCM and the
/// driver, runs `look_for_leader(zxid, epoch)`, prints `<state> <leader>` (e.g.
/// `following 3`) on stdout, keeps answering other members for `hold`, and stops. It
/// does not sync with or serve from the leader.
pub fn elect_once(config: &std::path::Path, zxid: i64, epoch: i64, hold: Duration) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind, Write};
    let mut b = crate::config::ConfigBuilder::default();
    let invalid = |e: crate::config::ConfigError| Error::new(ErrorKind::InvalidInput, e.to_string());
    b.load_file(config).map_err(invalid)?;
    let cfg = b.build(crate::config::ServerConfig::default()).map_err(invalid)?;
    let q = cfg.quorum.clone().ok_or_else(|| {
        let what = "describes no quorum peer (server.N lines and dataDir/myid are needed)";
        Error::new(ErrorKind::InvalidInput, format!("{} {what}", config.display()))
    })?;
    let settings = super::qcm::QcmSettings::from_quorum(&q, cfg.tick_time);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let (qcm, received) = QuorumCnxManager::start(q.myid, q.view.clone(), settings).await?;
        let election = Election::start(qcm, received, zxid, epoch, ElectionConfig::default());
        let decided = election.look_for_leader(zxid, epoch).await;
        if let Some(Elected::Role(state, vote)) = &decided {
            println!("{} {}", format!("{state:?}").to_lowercase(), vote.leader);
            std::io::stdout().flush()?;
        }
        tokio::time::sleep(hold).await;
        election.shutdown().await;
        decided.map(|_| ()).ok_or_else(|| Error::other("the election stopped before deciding"))
    })
}
