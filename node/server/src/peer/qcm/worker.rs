//! The two halves of an established election connection (`QuorumCnxManager.SendWorker`
//! and `RecvWorker`). Either ending closes both and frees the peer's slot for a new
//! connection; a length outside 1..=PACKETMAXSIZE ends the connection before allocating.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use super::{Inner, Token, PACKETMAXSIZE};

impl Inner {
    /// `SendWorker`: the last message again if nothing newer waits, then the queue.
    pub(super) async fn send_worker(
        self: Arc<Self>,
        sid: i64,
        id: u64,
        mut wr: OwnedWriteHalf,
        token: Arc<Token>,
        wake: Arc<Notify>,
    ) {
        let body = async {
            let last = {
                let peers = self.peers.lock();
                peers.get(&sid).and_then(|s| if s.queued.is_none() { s.last_sent.clone() } else { None })
            };
            if let Some(m) = last {
                debug!(myid = self.myid, sid, "sending the last message again");
                write_frame(&mut wr, &m).await?;
            }
            loop {
                let next = {
                    let mut peers = self.peers.lock();
                    let slot = peers.entry(sid).or_default();
                    let m = slot.queued.take();
                    if m.is_some() {
                        slot.last_sent = m.clone();
                    }
                    m
                };
                match next {
                    Some(m) => write_frame(&mut wr, &m).await?,
                    None => wake.notified().await,
                }
            }
        };
        let result: io::Result<()> = tokio::select! {
            biased;
            _ = token.cancelled() => Ok(()),
            r = body => r,
        };
        if let Err(e) = result {
            warn!(myid = self.myid, sid, error = %e, "election connection failed while sending");
        }
        self.finish(sid, id, &token);
    }

    /// `RecvWorker`: frames into the receive channel.
    pub(super) async fn recv_worker(self: Arc<Self>, sid: i64, id: u64, mut rd: OwnedReadHalf, token: Arc<Token>) {
        let body = async {
            loop {
                let len = rd.read_i32().await?;
                let Some(len) = usize::try_from(len).ok().filter(|l| (1..=PACKETMAXSIZE).contains(l)) else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("received a packet of invalid length {len} (1..={PACKETMAXSIZE})"),
                    ));
                };
                let mut buf = vec![0u8; len];
                rd.read_exact(&mut buf).await?;
                if self.recv_tx.send((sid as u64, buf)).await.is_err() {
                    return Ok(());
                }
            }
        };
        let result: io::Result<()> = tokio::select! {
            biased;
            _ = token.cancelled() => Ok(()),
            r = body => r,
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                info!(myid = self.myid, sid, "election connection closed by the peer")
            }
            Err(e) => warn!(myid = self.myid, sid, error = %e, "election connection broken; closing it"),
            Ok(()) => {}
        }
        self.finish(sid, id, &token);
    }
}

async fn write_frame(wr: &mut OwnedWriteHalf, msg: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(4 + msg.len());
    frame.extend_from_slice(&(msg.len() as i32).to_be_bytes());
    frame.extend_from_slice(msg);
    wr.write_all(&frame).await?;
    wr.flush().await
}
