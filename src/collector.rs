//! The socket side: accept shim connections (TCP or unix), split their bytes into lines, parse
//! each into an [`Event`] and hand batches to one consumer over a channel.
//!
//! Each connection is its own task, so parsing spreads over cores and one slow or broken peer
//! cannot stall another. A bounded channel gives back-pressure: when the consumer falls behind,
//! reads pause, the shim's own bounded queue fills, and the shim drops and counts (it never
//! blocks the app). Malformed and oversized lines are counted and skipped.
//!
//! The way back: each connection also has a writer task, and [`Peers`] maps a process's `sid`
//! (learnt from its `hello`) to the writer of the connection that carries it, so a request
//! about a query (EXPLAIN) goes to the process that ran it.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::protocol::{self, Event, Request, MAX_LINE};

/// Lines waiting to be written to one shim; more and [`Peers::send`] says it is busy.
const OUTGOING: usize = 64;

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
    peers: Peers,
}

/// The connected processes, by `sid`: how to send them a [`Request`]. Cheap to clone; every
/// clone sees the same connections.
#[derive(Clone, Default)]
pub struct Peers {
    inner: Arc<Mutex<HashMap<String, Peer>>>,
}

struct Peer {
    conn: u64,
    tx: mpsc::Sender<Vec<u8>>,
}

/// Why a request could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// No open connection carries this process: it exited, or its connection closed.
    Gone,
    /// Too many lines are already waiting to be written to it.
    Busy,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Gone => f.write_str("the process is gone: its connection to djtop closed"),
            SendError::Busy => f.write_str("the process has too many requests waiting"),
        }
    }
}

impl std::error::Error for SendError {}

impl Peers {
    /// Queue `request` for the connection of process `sid`; never waits.
    pub fn send(&self, sid: &str, request: &Request) -> Result<(), SendError> {
        let peers = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let peer = peers.get(sid).ok_or(SendError::Gone)?;
        peer.tx
            .try_send(request.to_line().into_bytes())
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SendError::Busy,
                mpsc::error::TrySendError::Closed(_) => SendError::Gone,
            })
    }

    /// Whether a connection carries process `sid` now.
    pub fn is_connected(&self, sid: &str) -> bool {
        let peers = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        peers.get(sid).is_some_and(|p| !p.tx.is_closed())
    }

    fn register(&self, sid: &str, conn: u64, tx: mpsc::Sender<Vec<u8>>) {
        let mut peers = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        peers.insert(sid.to_owned(), Peer { conn, tx });
    }

    /// Forget `sid` if connection `conn` still carries it (a reconnect may have replaced it).
    fn unregister(&self, sid: &str, conn: u64) {
        let mut peers = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if peers.get(sid).is_some_and(|p| p.conn == conn) {
            peers.remove(sid);
        }
    }
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
                use std::os::unix::fs::{FileTypeExt, PermissionsExt};
                // A socket file left by a previous run would make bind fail; a live one would
                // answer a connect, so only remove a stale one. Anything that is not a socket
                // is the user's file: never touched.
                if let Ok(meta) = std::fs::symlink_metadata(path) {
                    if !meta.file_type().is_socket() {
                        anyhow::bail!(
                            "cannot listen on unix:{}: that path exists and is not a socket; pick another path",
                            path.display()
                        );
                    }
                    if std::os::unix::net::UnixStream::connect(path).is_err() {
                        let _ = std::fs::remove_file(path);
                    }
                }
                let l = tokio::net::UnixListener::bind(path).with_context(|| {
                    format!(
                        "cannot listen on unix:{}: is another djtop using it?",
                        path.display()
                    )
                })?;
                // Only this user may connect (or read the SQL): not the umask's default.
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot make unix:{} private", path.display()))?;
                Listener::Unix(l, path.clone())
            }
        };
        // Report the real port when asked for port 0.
        let address = match &listener {
            Listener::Tcp(l) => Address::Tcp(l.local_addr()?.to_string()),
            Listener::Unix(_, p) => Address::Unix(p.clone()),
        };
        Ok(Self {
            listener,
            address,
            peers: Peers::default(),
        })
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The way back to the connected processes (take it before [`Collector::serve`]).
    pub fn peers(&self) -> Peers {
        self.peers.clone()
    }

    /// Accept connections forever, one task each.
    pub async fn serve(self, tx: mpsc::Sender<Incoming>, keep_raw: bool) {
        let mut next_conn = 0u64;
        loop {
            next_conn += 1;
            let conn = next_conn;
            let tx = tx.clone();
            let peers = self.peers.clone();
            match &self.listener {
                Listener::Tcp(l) => match l.accept().await {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(read_connection(conn, stream, tx, keep_raw, peers));
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                },
                Listener::Unix(l, _) => match l.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(read_connection(conn, stream, tx, keep_raw, peers));
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
        while let Some(nl) = memchr::memchr(b'\n', bytes) {
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
            Ok(mut ev) => {
                match &mut ev {
                    Event::Hello(h) => self.sid = Some(h.sid.clone()),
                    Event::Plan(p) => p.line = Some(String::from_utf8_lossy(line).into_owned()),
                    _ => {}
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

async fn read_connection<S: AsyncRead + AsyncWrite + Send + 'static>(
    conn: u64,
    stream: S,
    tx: mpsc::Sender<Incoming>,
    keep_raw: bool,
    peers: Peers,
) {
    if tx.send(Incoming::Connected { conn }).await.is_err() {
        return;
    }
    let (mut stream, mut writer) = tokio::io::split(stream);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(OUTGOING);
    let writer_task = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if writer.write_all(&line).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
    });
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
        if let Some(new) = batch.sid.take() {
            // Registered before the consumer sees the hello: it may answer it at once.
            if let Some(old) = sid.as_deref().filter(|old| *old != new) {
                peers.unregister(old, conn);
            }
            peers.register(&new, conn, out_tx.clone());
            sid = Some(new);
        }
        if !batch.events.is_empty() || batch.malformed > 0 {
            let msg = Incoming::Batch {
                conn,
                events: batch.events,
                raw: batch.raw,
                malformed: batch.malformed,
            };
            if tx.send(msg).await.is_err() {
                break;
            }
        }
        if n == 0 {
            break;
        }
    }
    if let Some(sid) = &sid {
        peers.unregister(sid, conn);
    }
    drop(out_tx);
    writer_task.abort();
    let _ = tx.send(Incoming::Disconnected { conn, sid }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A collector on a free loopback port, serving into a channel: (its address, the
    /// receiving end, its peers).
    async fn serving(keep_raw: bool) -> (String, mpsc::Receiver<Incoming>, Peers) {
        let collector = Collector::bind(&"127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let Address::Tcp(addr) = collector.address().clone() else {
            unreachable!()
        };
        let peers = collector.peers();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(collector.serve(tx, keep_raw));
        (addr, rx, peers)
    }

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

    #[tokio::test]
    async fn a_unix_path_that_is_a_regular_file_is_refused_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "mine").unwrap();
        let err = Collector::bind(&Address::Unix(file.clone()))
            .await
            .err()
            .expect("bind must refuse a regular file");
        assert!(err.to_string().contains("is not a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");

        // A socket of ours is private to this user.
        let sock = dir.path().join("djtop.sock");
        let collector = Collector::bind(&Address::Unix(sock.clone())).await.unwrap();
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        drop(collector);
        // A stale socket (nobody listening) is replaced.
        let stale = std::os::unix::net::UnixListener::bind(dir.path().join("stale.sock")).unwrap();
        drop(stale);
        Collector::bind(&Address::Unix(dir.path().join("stale.sock")))
            .await
            .unwrap();
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
    async fn requests_go_to_the_connection_of_the_process_by_sid() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (addr, mut rx, peers) = serving(false).await;
        let ask = Request::Explain(protocol::Explain {
            id: 1,
            qid: 302,
            analyze: false,
        });
        assert_eq!(peers.send("aaaa", &ask), Err(SendError::Gone));

        let hello = |sid: &str| {
            format!(r#"{{"type":"hello","v":1,"sid":"{sid}","pid":1,"ts":1.0}}"#) + "\n"
        };
        let mut a = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut b = tokio::net::TcpStream::connect(&addr).await.unwrap();
        a.write_all(hello("aaaa").as_bytes()).await.unwrap();
        b.write_all(hello("bbbb").as_bytes()).await.unwrap();
        let mut hellos = 0;
        while hellos < 2 {
            if let Some(Incoming::Batch { events, .. }) = rx.recv().await {
                hellos += events.len();
            }
        }
        assert!(peers.is_connected("aaaa") && peers.is_connected("bbbb"));
        peers.send("bbbb", &ask).unwrap();
        let mut line = String::new();
        BufReader::new(&mut b).read_line(&mut line).await.unwrap();
        assert_eq!(
            line,
            "{\"type\":\"explain\",\"id\":1,\"qid\":302,\"analyze\":false}\n"
        );

        drop(b);
        loop {
            if let Some(Incoming::Disconnected { sid, .. }) = rx.recv().await {
                assert_eq!(sid.as_deref(), Some("bbbb"));
                break;
            }
        }
        assert_eq!(
            peers.send("bbbb", &ask),
            Err(SendError::Gone),
            "gone with its connection"
        );
        assert_eq!(
            SendError::Gone.to_string(),
            "the process is gone: its connection to djtop closed"
        );
        assert!(peers.is_connected("aaaa"));
        drop(a);
    }

    #[tokio::test]
    async fn collector_parses_counts_malformed_and_reports_disconnect() {
        use tokio::io::AsyncWriteExt;
        let (addr, mut rx, _) = serving(true).await;

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

    #[tokio::test]
    async fn a_v2_stream_builds_the_same_store_live_and_replayed() {
        use tokio::io::AsyncWriteExt;
        let v2 = include_str!("../tests/protocol/examples-v2.ndjson");
        let (addr, mut rx, _) = serving(true).await;
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // Odd-sized writes: lines cross reads.
        for chunk in v2.as_bytes().chunks(97) {
            s.write_all(chunk).await.unwrap();
        }
        drop(s);
        let mut live = crate::store::Store::new();
        let mut recording = Vec::new();
        while let Some(msg) = rx.recv().await {
            match msg {
                Incoming::Batch { events, raw, .. } => {
                    for line in raw {
                        recording.extend_from_slice(&line);
                        recording.push(b'\n');
                    }
                    for ev in events {
                        live.apply(ev);
                    }
                }
                Incoming::Disconnected { .. } => break,
                Incoming::Connected { .. } => {}
            }
        }
        assert_eq!(recording, v2.as_bytes(), "recorded verbatim");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.ndjson");
        std::fs::write(&path, &recording).unwrap();
        let replayed = crate::record::load(&path).unwrap();
        use crate::store::tests::describe;
        assert_eq!(describe(&live), describe(&replayed));
        assert_eq!(live.queries.len(), 6);
    }
}
