//! The initial message of an election connection as ZooKeeper 3.8 reads and writes it
//! (`QuorumCnxManager.handleConnection`, `InitialMessage.parse`, `ConfigUtils.getHostAndPort`,
//! `NetUtils.formatInetAddr`). Every length is bounded before anything is allocated; a bad
//! message is an error naming what was wrong, never a panic.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use zab_jute::quorum::{INITIAL_MESSAGE_V1, INITIAL_MESSAGE_V2, MAX_INITIAL_ADDRESS};

use crate::peer::error::PeerError;

/// Reads an initial message (`handleConnection` + `InitialMessage.parse`): the sid and the
/// advertised election addresses (wildcards left out). The error says what was wrong.
pub(super) async fn read_initial_message(s: &mut TcpStream) -> Result<(i64, Vec<(String, u16)>), PeerError> {
    let io = |what: &str, e: io::Error| PeerError::io(format!("reading the {what} of the initial message"), e);
    let first = s.read_i64().await.map_err(|e| io("protocol version", e))?;
    if first >= 0 {
        return Ok((first, Vec::new()));
    }
    if first != INITIAL_MESSAGE_V1 && first != INITIAL_MESSAGE_V2 {
        return Err(PeerError::Protocol(format!("unrecognized protocol version {first} in an initial message")));
    }
    let sid = s.read_i64().await.map_err(|e| io("sid", e))?;
    let len = s.read_i32().await.map_err(|e| io("address length", e))?;
    let Some(len) = usize::try_from(len).ok().filter(|l| (1..=MAX_INITIAL_ADDRESS).contains(l)) else {
        return Err(PeerError::Protocol(format!(
            "unreasonable address length {len} from sid {sid} (1..={MAX_INITIAL_ADDRESS})"
        )));
    };
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await.map_err(|e| io("address", e))?;
    let text = String::from_utf8_lossy(&buf);
    let mut addrs = Vec::new();
    for addr in text.split('|') {
        let parts = host_and_port(addr)
            .ok_or_else(|| PeerError::Protocol(format!("badly formed address {addr:?} from sid {sid}")))?;
        let [host, port] = parts.as_slice() else {
            return Err(PeerError::Protocol(format!("badly formed address {addr:?} from sid {sid}")));
        };
        let port: u16 =
            port.parse().map_err(|_| PeerError::Protocol(format!("bad port number {port:?} from sid {sid}")))?;
        if !host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
            addrs.push((host.clone(), port));
        }
    }
    Ok((sid, addrs))
}

/// `ConfigUtils.getHostAndPort`: `[v6]:port[:more]` or `host:port[:more]`, split on `:`
/// the way Java's `String.split` does (trailing empty parts dropped).
fn host_and_port(s: &str) -> Option<Vec<String>> {
    fn java_split(s: &str) -> Vec<String> {
        let mut v: Vec<String> = s.split(':').map(str::to_owned).collect();
        while v.len() > 1 && v.last().is_some_and(|p| p.is_empty()) {
            v.pop();
        }
        v
    }
    let Some(rest) = s.strip_prefix('[') else {
        return Some(java_split(s));
    };
    let close = rest.find(']')?;
    let host = rest.get(..close)?;
    // Java skips the character after ']' (the ':') without looking at it.
    let after = rest.get(close + 1..)?;
    let mut chars = after.chars();
    chars.next()?;
    let tail = chars.as_str();
    if tail.is_empty() {
        return None;
    }
    let mut v = vec![host.to_owned()];
    v.extend(java_split(tail));
    Some(v)
}

/// `NetUtils.formatInetAddr`: `ip:port`, or `[v6]:port` with Java's uncompressed IPv6 text.
pub(super) fn format_inet_addr(a: SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", a.port()),
        IpAddr::V6(ip) => {
            let segs: Vec<String> = ip.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("[{}]:{}", segs.join(":"), a.port())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_follows_config_utils() {
        let s = |v: &[&str]| Some(v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(host_and_port("10.0.0.1:3888"), s(&["10.0.0.1", "3888"]));
        assert_eq!(host_and_port("zk1:3888:"), s(&["zk1", "3888"]), "Java's split drops trailing empties");
        assert_eq!(host_and_port("[::1]:3888"), s(&["::1", "3888"]));
        assert_eq!(host_and_port("[::1]:"), None, "no port after the colon");
        assert_eq!(host_and_port("[::1"), None);
        assert_eq!(host_and_port("zk1"), s(&["zk1"]));
        assert_eq!(host_and_port("[é]é"), None, "no panic on multi-byte text");
    }

    #[test]
    fn addresses_are_formatted_as_java_does() {
        assert_eq!(format_inet_addr("127.0.0.1:3888".parse().unwrap()), "127.0.0.1:3888");
        assert_eq!(format_inet_addr("[::1]:3888".parse().unwrap()), "[0:0:0:0:0:0:0:1]:3888");
    }
}
