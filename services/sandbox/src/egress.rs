//! A sandboxed run's only way out: an HTTP proxy the executor runs for the
//! run, listening on `127.0.0.1:3128` inside the run's own network
//! namespace (the socket is made there by a thread that enters the
//! namespace; it is served from outside), given to the agent as
//! `HTTPS_PROXY`/`HTTP_PROXY`. It takes `CONNECT host:port` (HTTPS) and
//! absolute-form plain HTTP requests, and connects only to hosts of the
//! profile's `egress` list (exact names or `*.suffix`, port 80 and 443
//! unless one is given), at addresses the SSRF guard allows (private,
//! loopback and metadata addresses only when `HOOKLINE_EGRESS_ALLOW` lists
//! them). Every refusal is written to the run log and kept for
//! `run.completed` (`blocked_hosts`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hookline_model::catalog::EgressRule;
use hookline_model::ssrf::Guard;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::Log;

/// Where the proxy listens inside a run's network namespace.
pub const LISTEN: &str = "127.0.0.1:3128";

/// Largest request head the proxy reads.
const MAX_HEAD: usize = 16 * 1024;

/// One run's proxy.
#[derive(Clone)]
pub struct Egress {
    rules: Arc<Vec<EgressRule>>,
    guard: Arc<Guard>,
    blocked: Arc<Mutex<BTreeSet<String>>>,
    allowed: Arc<Mutex<BTreeSet<String>>>,
    emitter: Log,
}

impl Egress {
    /// A proxy allowing `rules` at addresses `guard` allows.
    pub fn new(rules: Vec<EgressRule>, guard: Arc<Guard>, emitter: Log) -> Self {
        Self {
            rules: Arc::new(rules),
            guard,
            blocked: Arc::default(),
            allowed: Arc::default(),
            emitter,
        }
    }

    /// Writes a note about the proxy to the run log.
    pub fn note(&self, text: &str) {
        self.emitter.log("hookline", text.to_owned());
    }

    /// The `host:port`s reached so far, sorted.
    pub fn allowed(&self) -> Vec<String> {
        self.allowed
            .lock()
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The `host:port`s refused so far, sorted.
    pub fn blocked(&self) -> Vec<String> {
        self.blocked
            .lock()
            .map(|b| b.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Serves connections on `listener` until `stop`.
    pub async fn serve(self, listener: TcpListener, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let this = self.clone();
                        let stop = stop.clone();
                        tokio::spawn(async move {
                            tokio::select! {
                                _ = stop.cancelled() => {}
                                _ = this.handle(stream) => {}
                            }
                        });
                    }
                    Err(_) => return,
                },
            }
        }
    }

    async fn handle(&self, mut client: TcpStream) {
        let Some((head, rest)) = read_head(&mut client).await else {
            return;
        };
        let Some((method, target)) = head.lines().next().and_then(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        }) else {
            let _ = client
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
            return;
        };
        let (host, port, forward) = if method.eq_ignore_ascii_case("CONNECT") {
            let Some((host, port)) = split_host_port(&target, 443) else {
                let _ = client
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
                return;
            };
            (host, port, None)
        } else {
            let Some(rest_of_url) = target.strip_prefix("http://") else {
                let _ = client
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
                return;
            };
            let (authority, path) = match rest_of_url.find('/') {
                Some(i) => (&rest_of_url[..i], &rest_of_url[i..]),
                None => (rest_of_url, "/"),
            };
            let Some((host, port)) = split_host_port(authority, 80) else {
                let _ = client
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
                return;
            };
            // The request again in origin form, without proxy headers.
            let mut lines = head.lines();
            let first = lines.next().unwrap_or_default().replacen(&target, path, 1);
            let mut out = format!("{first}\r\n");
            for line in lines.filter(|l| !l.to_ascii_lowercase().starts_with("proxy-")) {
                out.push_str(line);
                out.push_str("\r\n");
            }
            out.push_str("\r\n");
            (host, port, Some(out))
        };
        let upstream = match self.connect(&host, port).await {
            Ok(upstream) => upstream,
            Err(why) => {
                self.refuse(&host, port, &why);
                let body = format!("hookline egress proxy: {host}:{port} refused: {why}\n");
                let answer = format!(
                    "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = client.write_all(answer.as_bytes()).await;
                return;
            }
        };
        let mut upstream = upstream;
        match forward {
            None => {
                if client
                    .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Some(request) => {
                if upstream.write_all(request.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
        if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }

    async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, String> {
        if !self.rules.iter().any(|r| r.allows(host, port)) {
            return Err("not in the profile's egress list".to_owned());
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve: {e}"))?
            .collect();
        // Every address must pass, so a name cannot smuggle a private one.
        for addr in &addrs {
            self.guard.check_ip(addr.ip()).map_err(|e| e.to_string())?;
        }
        let mut last = "no address".to_owned();
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    if let Ok(mut allowed) = self.allowed.lock() {
                        allowed.insert(format!("{host}:{port}"));
                    }
                    return Ok(stream);
                }
                Err(e) => last = format!("cannot connect: {e}"),
            }
        }
        Err(last)
    }

    fn refuse(&self, host: &str, port: u16, why: &str) {
        let name = format!("{host}:{port}");
        self.emitter.log("hookline", format!("egress refused: {name} ({why})"));
        if let Ok(mut blocked) = self.blocked.lock() {
            blocked.insert(name);
        }
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let authority = authority.rsplit('@').next()?;
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        (
            host.to_owned(),
            rest.strip_prefix(':').map(str::parse).transpose().ok()?,
        )
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port.parse().ok()?)),
            None => (authority.to_owned(), None),
        }
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port.unwrap_or(default_port)))
}

/// Reads a request head (up to the blank line); answers it and whatever
/// bytes came after it.
async fn read_head(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            buf.truncate(end);
            return Some((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

/// Listeners on `addrs` inside the network namespace of process `pid`,
/// and a UDP socket on `udp`: a thread enters the namespace, binds, and
/// ends; the sockets stay in that namespace and are served from this one.
#[allow(unsafe_code)]
pub fn listen_in(
    pid: u32,
    addrs: Vec<String>,
    udp: &'static str,
) -> std::io::Result<(Vec<std::net::TcpListener>, std::net::UdpSocket)> {
    use std::os::fd::AsRawFd as _;
    std::thread::spawn(move || {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
        // SAFETY: setns on an open namespace fd changes only this thread,
        // which ends right after binding.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let listeners = addrs
            .iter()
            .map(|addr| {
                let listener = std::net::TcpListener::bind(addr)?;
                listener.set_nonblocking(true)?;
                Ok(listener)
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let socket = std::net::UdpSocket::bind(udp)?;
        socket.set_nonblocking(true)?;
        Ok((listeners, socket))
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_split() {
        assert_eq!(
            split_host_port("Example.com:8080", 80),
            Some(("example.com".into(), 8080))
        );
        assert_eq!(split_host_port("example.com", 443), Some(("example.com".into(), 443)));
        assert_eq!(split_host_port("[::1]:9", 80), Some(("::1".into(), 9)));
        assert_eq!(split_host_port(":80", 80), None);
    }
}
