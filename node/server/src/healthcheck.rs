//! `zab-node healthcheck`: one HTTP/1.0 GET of the admin endpoint (default
//! `http://127.0.0.1:8080/healthz`) with a short timeout, for an image's HEALTHCHECK where
//! there is no shell or curl (distroless). Healthy means a `200` status line. It only reads
//! the status line of a bounded response and never follows redirects or speaks TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Splits `http://host:port/path` into (host:port, path); the port defaults to 80.
fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs are supported (e.g. http://127.0.0.1:8080/healthz)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let authority = if has_port { authority.to_owned() } else { format!("{authority}:80") };
    Ok((authority, path.to_owned()))
}

/// GETs `url` and returns the status code, or an error saying what failed.
pub fn get_status(url: &str, timeout: Duration) -> Result<u16, String> {
    let (authority, path) = parse_url(url)?;
    let addrs: Vec<SocketAddr> =
        authority.to_socket_addrs().map_err(|e| format!("resolving {authority}: {e}"))?.collect();
    let addr = addrs.first().ok_or_else(|| format!("{authority} resolves to no address"))?;
    let mut s = TcpStream::connect_timeout(addr, timeout).map_err(|e| format!("connecting to {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let host = authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(&authority);
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| format!("sending the request to {addr}: {e}"))?;
    // The status line fits in the first few bytes; read at most 1 KiB.
    let mut buf = Vec::with_capacity(1024);
    s.take(1024).read_to_end(&mut buf).map_err(|e| format!("reading the answer from {addr}: {e}"))?;
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|c| c.parse::<u16>().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(format!("{addr} did not answer HTTP (first line {:?})", line.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(parse_url("http://127.0.0.1:8080/healthz").unwrap(), ("127.0.0.1:8080".into(), "/healthz".into()));
        assert_eq!(parse_url("http://localhost").unwrap(), ("localhost:80".into(), "/".into()));
        assert_eq!(parse_url("http://[::1]:8081/readyz").unwrap(), ("[::1]:8081".into(), "/readyz".into()));
        assert_eq!(parse_url("http://[::1]/x").unwrap(), ("[::1]:80".into(), "/x".into()));
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("http:///x").is_err());
    }

    fn serve_once(answer: &'static [u8]) -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut req = [0u8; 512];
                let _ = s.read(&mut req);
                let _ = s.write_all(answer);
            }
        });
        port
    }

    #[test]
    fn status_codes() {
        let t = Duration::from_secs(2);
        let p = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n");
        assert_eq!(get_status(&format!("http://127.0.0.1:{p}/healthz"), t), Ok(200));
        let p = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(get_status(&format!("http://127.0.0.1:{p}/readyz"), t), Ok(503));
        let p = serve_once(b"imok");
        assert!(get_status(&format!("http://127.0.0.1:{p}/"), t).is_err());
    }
}
