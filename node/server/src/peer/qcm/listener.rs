//! The election port's listener (`QuorumCnxManager.Listener`): the bind with
//! `electionPortBindRetry` and the accept loop, which hands each connection to
//! `receive_connection` in a task of its own.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tracing::{error, info};

use super::Inner;

impl Inner {
    /// The accept loop (`Listener.ListenerHandler.acceptConnections`). Accept errors are
    /// retried a second apart; `electionPortBindRetry` of them in a row end the listener.
    pub(super) async fn listen(self: Arc<Self>, listener: TcpListener) {
        let limit = self.settings.election_port_bind_retry;
        let mut errors = 0u32;
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    errors = 0;
                    info!(myid = self.myid, %remote, "received an election connection request");
                    self.spawn(self.clone().receive_connection(stream, remote));
                }
                Err(e) => {
                    errors += 1;
                    error!(myid = self.myid, addr = ?self.local_addr, error = %e, "accepting on the election port failed");
                    if limit != 0 && errors >= limit {
                        error!(
                            myid = self.myid,
                            "leaving the election listener after {errors} errors: this member can no longer take \
                             part in leader elections; restart it, or raise electionPortBindRetry"
                        );
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Binds the election port with SO_REUSEADDR, `retries` attempts a second apart (0: forever),
/// as `ListenerHandler.acceptConnections` does.
pub(super) async fn bind_with_retry(myid: u64, addr: SocketAddr, retries: u32) -> io::Result<TcpListener> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let bound = (|| {
            let socket = if addr.is_ipv6() { TcpSocket::new_v6()? } else { TcpSocket::new_v4()? };
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(1024)
        })();
        match bound {
            Ok(l) => return Ok(l),
            Err(e) => {
                error!(myid, %addr, attempt, error = %e, "cannot listen on the election address");
                if retries != 0 && attempt >= retries {
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "cannot listen on election address {addr} after {attempt} attempts: {e}; stop whatever \
                             holds the port (another zab-node or ZooKeeper?), fix the election port of server.{myid}, \
                             or raise electionPortBindRetry (0 retries forever)"
                        ),
                    ));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
