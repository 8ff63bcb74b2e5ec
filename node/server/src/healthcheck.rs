//! `zab-node healthcheck`: one HTTP/1.0 GET of the admin endpoint (default
//! `http://127.0.0.1:8080/healthz`) with a short timeout, for an image's HEALTHCHECK where
//! there is no shell or curl (distroless). Healthy means a `200` status line. It only reads
//! the status line of a bounded response and never follows redirects or speaks TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why the health check got no status code.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    #[error("{0:?}: only http:// URLs are supported (e.g. http://127.0.0.1:8080/healthz)")]
    NotHttpUrl(String),
    #[error("{0:?}: no host")]
    NoHost(String),
    #[error("{0} resolves to no address")]
    NoAddress(String),
    /// Resolving, connecting, sending or reading failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr} did not answer HTTP (first line {line:?})")]
    NotHttpAnswer { addr: SocketAddr, line: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HealthcheckError {
    let what = what.into();
    move |source| HealthcheckError::Io { what, source }
}

/// Splits `http://host:port/path` into (host:port, path); the port defaults to 80.
fn parse_url(url: &str) -> Result<(String, String), HealthcheckError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| HealthcheckError::NotHttpUrl(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(HealthcheckError::NoHost(url.to_owned()));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let authority = if has_port { authority.to_owned() } else { format!("{authority}:80") };
    Ok((authority, path.to_owned()))
}

/// GETs `url` and returns the status code, or an error saying what failed.
pub fn get_status(url: &str, timeout: Duration) -> Result<u16, HealthcheckError> {
    let (authority, path) = parse_url(url)?;
    let addrs: Vec<SocketAddr> = authority.to_socket_addrs().map_err(io(format!("resolving {authority}")))?.collect();
    let addr = *addrs.first().ok_or_else(|| HealthcheckError::NoAddress(authority.clone()))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(io(format!("connecting to {addr}")))?;
    s.set_read_timeout(Some(timeout)).map_err(io("setting the read timeout"))?;
    s.set_write_timeout(Some(timeout)).map_err(io("setting the write timeout"))?;
    let host = authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(&authority);
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(io(format!("sending the request to {addr}")))?;
    // The status line fits in the first few bytes; read at most 1 KiB.
    let mut buf = Vec::with_capacity(1024);
    s.take(1024).read_to_end(&mut buf).map_err(io(format!("reading the answer from {addr}")))?;
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|c| c.parse::<u16>().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(HealthcheckError::NotHttpAnswer { addr, line: line.trim().to_owned() }),
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
        assert!(matches!(parse_url("https://x/"), Err(HealthcheckError::NotHttpUrl(_))));
        assert!(matches!(parse_url("http:///x"), Err(HealthcheckError::NoHost(_))));
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
        assert_eq!(get_status(&format!("http://127.0.0.1:{p}/healthz"), t).unwrap(), 200);
        let p = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(get_status(&format!("http://127.0.0.1:{p}/readyz"), t).unwrap(), 503);
        let p = serve_once(b"imok");
        let e = get_status(&format!("http://127.0.0.1:{p}/"), t).unwrap_err();
        assert!(matches!(&e, HealthcheckError::NotHttpAnswer { line, .. } if line == "imok"), "{e}");
    }
}
