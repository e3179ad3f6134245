//! The socket side: accept shim connections (TCP or unix), split their bytes into lines, parse
//! each into an [`Event`] and hand batches to one consumer over a channel.
//!
//! Each connection is its own task, so parsing spreads over cores and one slow or broken peer
//! cannot stall another. A bounded channel gives back-pressure: when the consumer falls behind,
//! reads pause, the shim's own bounded queue fills, and the shim drops and counts (it never
//! blocks the app). Malformed and oversized lines are counted and skipped.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::protocol::{self, Event, MAX_LINE};

pub const DEFAULT_ADDRESS: &str = "127.0.0.1:7878";

/// Where the collector listens: `HOST:PORT` or `unix:/path/to.sock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp(String),
    Unix(PathBuf),
}

impl FromStr for Address {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a path, e.g. unix:/tmp/djtop.sock".into());
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Address::Tcp(s.to_owned()))
            }
            _ => Err(format!(
                "'{s}' is not an address: use HOST:PORT (e.g. 127.0.0.1:7878) or unix:/path/to.sock"
            )),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(a) => f.write_str(a),
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// What the collector tells its consumer.
#[derive(Debug)]
pub enum Incoming {
    Connected {
        conn: u64,
    },
    /// Events parsed from one read, in order; `raw` holds each event's line when asked for
    /// (recording keeps the bytes it received, not a re-serialisation).
    Batch {
        conn: u64,
        events: Vec<Event>,
        raw: Vec<Vec<u8>>,
        malformed: u64,
    },
    /// The connection closed; `sid` is the process it carried, if it said hello.
    Disconnected {
        conn: u64,
        sid: Option<String>,
    },
}

enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, PathBuf),
}

/// A bound listener; [`Collector::serve`] accepts until the task is dropped.
pub struct Collector {
    listener: Listener,
    address: Address,
}

impl Collector {
    pub async fn bind(address: &Address) -> Result<Self> {
        let listener = match address {
            Address::Tcp(a) => {
                let l = tokio::net::TcpListener::bind(a).await.with_context(|| {
                    format!("cannot listen on {a}: is another djtop running? Pick another address with --listen HOST:PORT")
                })?;
                Listener::Tcp(l)
            }
            Address::Unix(path) => {
                // A socket file left by a previous run would make bind fail; a live one would
                // answer a connect, so only remove a stale one.
                if path.exists() && std::os::unix::net::UnixStream::connect(path).is_err() {
                    let _ = std::fs::remove_file(path);
                }
                let l = tokio::net::UnixListener::bind(path).with_context(|| {
                    format!(
                        "cannot listen on unix:{}: is another djtop using it?",
                        path.display()
                    )
                })?;
                Listener::Unix(l, path.clone())
            }
        };
        // Report the real port when asked for port 0.
        let address = match &listener {
            Listener::Tcp(l) => Address::Tcp(l.local_addr()?.to_string()),
            Listener::Unix(_, p) => Address::Unix(p.clone()),
        };
        Ok(Self { listener, address })
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Accept connections forever, one task each.
    pub async fn serve(self, tx: mpsc::Sender<Incoming>, keep_raw: bool) {
        let mut next_conn = 0u64;
        loop {
            next_conn += 1;
            let conn = next_conn;
            let tx = tx.clone();
            match &self.listener {
                Listener::Tcp(l) => match l.accept().await {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(read_connection(conn, stream, tx, keep_raw));
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                },
                Listener::Unix(l, _) => match l.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(read_connection(conn, stream, tx, keep_raw));
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                },
            }
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = &self.listener {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Splits a byte stream into lines, discarding any line longer than [`MAX_LINE`] without
/// buffering it whole.
#[derive(Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// Inside an oversized line: skip bytes until the next newline.
    discarding: bool,
}

impl LineSplitter {
    /// Feed bytes; calls `line` for every complete line and returns how many oversized lines
    /// were dropped.
    pub fn feed(&mut self, mut bytes: &[u8], mut line: impl FnMut(&[u8])) -> u64 {
        let mut oversized = 0;
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let (head, rest) = (&bytes[..nl], &bytes[nl + 1..]);
            if self.discarding {
                self.discarding = false;
            } else if self.partial.is_empty() {
                if head.len() > MAX_LINE {
                    oversized += 1;
                } else {
                    line(head);
                }
            } else if self.partial.len() + head.len() > MAX_LINE {
                self.partial.clear();
                oversized += 1;
            } else {
                self.partial.extend_from_slice(head);
                line(&self.partial);
                self.partial.clear();
            }
            bytes = rest;
        }
        if !self.discarding && !bytes.is_empty() {
            if self.partial.len() + bytes.len() > MAX_LINE {
                self.partial.clear();
                self.discarding = true;
                oversized += 1;
            } else {
                self.partial.extend_from_slice(bytes);
            }
        }
        oversized
    }

    /// A final line without its newline, at end of stream.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.partial);
        (!self.discarding && !rest.is_empty()).then_some(rest)
    }
}

/// Parses lines into a batch.
#[derive(Default)]
pub struct Batcher {
    pub events: Vec<Event>,
    pub raw: Vec<Vec<u8>>,
    pub malformed: u64,
    pub sid: Option<String>,
}

impl Batcher {
    pub fn line(&mut self, line: &[u8], keep_raw: bool) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match protocol::parse_line(line) {
            Ok(ev) => {
                if let Event::Hello(h) = &ev {
                    self.sid = Some(h.sid.clone());
                }
                if keep_raw {
                    self.raw.push(line.to_vec());
                }
                self.events.push(ev);
            }
            Err(_) => self.malformed += 1,
        }
    }
}

async fn read_connection<S: AsyncRead + Unpin>(
    conn: u64,
    mut stream: S,
    tx: mpsc::Sender<Incoming>,
    keep_raw: bool,
) {
    if tx.send(Incoming::Connected { conn }).await.is_err() {
        return;
    }
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut sid: Option<String> = None;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        let mut batch = Batcher::default();
        if n == 0 {
            if let Some(last) = splitter.finish() {
                batch.line(&last, keep_raw);
            }
        } else {
            batch.malformed += splitter.feed(&buf[..n], |l| batch.line(l, keep_raw));
        }
        if batch.sid.is_some() {
            sid = batch.sid.take();
        }
        if !batch.events.is_empty() || batch.malformed > 0 {
            let msg = Incoming::Batch {
                conn,
                events: batch.events,
                raw: batch.raw,
                malformed: batch.malformed,
            };
            if tx.send(msg).await.is_err() {
                return;
            }
        }
        if n == 0 {
            break;
        }
    }
    let _ = tx.send(Incoming::Disconnected { conn, sid }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_errors_say_the_fix() {
        assert_eq!(
            "127.0.0.1:7878".parse(),
            Ok(Address::Tcp("127.0.0.1:7878".into()))
        );
        assert_eq!("[::1]:9".parse(), Ok(Address::Tcp("[::1]:9".into())));
        assert_eq!(
            "unix:/tmp/x.sock".parse(),
            Ok(Address::Unix("/tmp/x.sock".into()))
        );
        let err = "7878".parse::<Address>().unwrap_err();
        assert!(err.contains("HOST:PORT"), "{err}");
        assert!("unix:".parse::<Address>().is_err());
    }

    #[test]
    fn splitter_joins_partial_lines_across_reads() {
        let mut s = LineSplitter::default();
        let mut lines = Vec::new();
        s.feed(b"ab", |l| lines.push(l.to_vec()));
        s.feed(b"c\nde\nf", |l| lines.push(l.to_vec()));
        assert_eq!(lines, vec![b"abc".to_vec(), b"de".to_vec()]);
        assert_eq!(s.finish(), Some(b"f".to_vec()));
    }

    #[test]
    fn splitter_drops_oversized_lines_and_keeps_the_next() {
        let mut s = LineSplitter::default();
        let mut lines = Vec::new();
        let big = vec![b'x'; MAX_LINE / 2 + 1];
        let mut dropped = s.feed(&big, |l| lines.push(l.to_vec()));
        dropped += s.feed(&big, |l| lines.push(l.to_vec()));
        dropped += s.feed(&big, |l| lines.push(l.to_vec()));
        dropped += s.feed(b"tail\nok\n", |l| lines.push(l.to_vec()));
        assert_eq!(dropped, 1);
        assert_eq!(lines, vec![b"ok".to_vec()]);
    }

    #[tokio::test]
    async fn collector_parses_counts_malformed_and_reports_disconnect() {
        use tokio::io::AsyncWriteExt;
        let collector = Collector::bind(&"127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let Address::Tcp(addr) = collector.address().clone() else {
            unreachable!()
        };
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(collector.serve(tx, true));

        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let examples = include_str!("../tests/protocol/examples.ndjson");
        let malformed = include_str!("../tests/protocol/malformed.ndjson");
        s.write_all(examples.as_bytes()).await.unwrap();
        s.write_all(malformed.as_bytes()).await.unwrap();
        drop(s);

        let (mut events, mut raw, mut bad, mut sid) = (0, 0, 0, None);
        while let Some(msg) = rx.recv().await {
            match msg {
                Incoming::Connected { .. } => {}
                Incoming::Batch {
                    events: e,
                    raw: r,
                    malformed,
                    ..
                } => {
                    events += e.len();
                    raw += r.len();
                    bad += malformed;
                }
                Incoming::Disconnected { sid: s, .. } => {
                    sid = s;
                    break;
                }
            }
        }
        assert_eq!(events, examples.lines().count());
        assert_eq!(raw, events);
        assert_eq!(bad as usize, malformed.lines().count());
        assert_eq!(sid.as_deref(), Some("5f0c2a9e1b7d4c33"));
    }
}
