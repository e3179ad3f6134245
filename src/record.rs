//! Recordings: `djtop record` appends every event it receives to a file, and [`load`] replays a
//! file into a [`Store`] through the same `apply` the live collector uses.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, Result};
use tokio::sync::mpsc;

use crate::collector::{Address, Collector, Incoming, LineSplitter};
use crate::protocol::{self, Disconnect, Event};
use crate::store::Store;

/// Run a headless collector that appends events to `out` until SIGINT/SIGTERM.
pub async fn record(address: &Address, out: &Path) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .with_context(|| format!("cannot open {} for writing", out.display()))?;
    let mut file = std::io::BufWriter::with_capacity(256 * 1024, file);
    let collector = Collector::bind(address).await?;
    eprintln!("listening on {}", collector.address());

    let (tx, mut rx) = mpsc::channel(1024);
    let server = tokio::spawn(collector.serve(tx, true));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let (mut events, mut malformed) = (0u64, 0u64);
    let mut write = |msg: Incoming, file: &mut std::io::BufWriter<std::fs::File>| -> Result<()> {
        match msg {
            Incoming::Batch {
                raw, malformed: m, ..
            } => {
                malformed += m;
                for line in raw {
                    events += 1;
                    file.write_all(&line)?;
                    file.write_all(b"\n")?;
                }
            }
            Incoming::Disconnected { sid: Some(sid), .. } => {
                let ev = Event::Disconnect(Disconnect {
                    sid,
                    ts: protocol::now_ts(),
                });
                writeln!(file, "{}", protocol::to_line(&ev))?;
            }
            _ => {}
        }
        Ok(())
    };
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                write(msg, &mut file)?;
                // Drain what is already queued, then flush once: readers of a live recording
                // see whole batches without a flush per line.
                while let Ok(msg) = rx.try_recv() {
                    write(msg, &mut file)?;
                }
                file.flush()?;
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }
    server.abort();
    while let Ok(msg) = rx.try_recv() {
        write(msg, &mut file)?;
    }
    file.flush()?;
    eprintln!(
        "recorded {events} events to {}; skipped {malformed} malformed lines",
        out.display()
    );
    Ok(())
}

/// Load a recording. Malformed lines are counted in `store.malformed`, not fatal.
pub fn load(path: &Path) -> Result<Store> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read recording {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut store = Store::new();
    let mut splitter = LineSplitter::default();
    let apply = |line: &[u8], store: &mut Store| {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match protocol::parse_line(line) {
            Ok(ev) => store.apply(ev),
            Err(_) => store.malformed += 1,
        }
    };
    loop {
        let buf = reader
            .fill_buf()
            .with_context(|| format!("cannot read recording {}", path.display()))?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let oversized = splitter.feed(buf, |line| apply(line, &mut store));
        store.malformed += oversized;
        reader.consume(n);
    }
    if let Some(last) = splitter.finish() {
        apply(&last, &mut store);
    }
    Ok(store)
}

/// Load a recording that must hold events (`check`, `report`): an empty or unreadable file
/// means the shim never wrote to it, and passing CI on that would hide the misconfiguration.
pub fn load_events(path: &Path) -> Result<Store> {
    let store = load(path)?;
    if store.processes.is_empty() && store.requests.is_empty() {
        let junk = if store.malformed > 0 {
            format!(" ({} malformed lines)", store.malformed)
        } else {
            String::new()
        };
        anyhow::bail!(
            "{} has no events{junk} — is the shim enabled and DJTOP_RECORD set?",
            path.display()
        );
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_without_events_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.ndjson");
        std::fs::write(&empty, "").unwrap();
        let err = load_events(&empty).unwrap_err().to_string();
        assert!(
            err.contains("has no events — is the shim enabled and DJTOP_RECORD set?"),
            "{err}"
        );
        let junk = dir.path().join("junk.bin");
        std::fs::write(&junk, [0u8, 159, 146, 150, b'\n', b'{', b'\n']).unwrap();
        let err = load_events(&junk).unwrap_err().to_string();
        assert!(err.contains("no events (2 malformed lines)"), "{err}");
        let good = dir.path().join("good.ndjson");
        std::fs::write(&good, include_str!("../tests/protocol/examples.ndjson")).unwrap();
        assert_eq!(load_events(&good).unwrap().requests.len(), 2);
    }

    #[test]
    fn load_counts_malformed_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.ndjson");
        let mut text = String::new();
        text.push_str(include_str!("../tests/protocol/examples.ndjson"));
        text.push_str(include_str!("../tests/protocol/malformed.ndjson"));
        std::fs::write(&path, text).unwrap();
        let store = load(&path).unwrap();
        let malformed = include_str!("../tests/protocol/malformed.ndjson");
        assert_eq!(store.malformed as usize, malformed.lines().count());
        assert_eq!(store.queries.len(), 4);
        assert_eq!(store.requests.len(), 2);
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = load(Path::new("/nonexistent/x.ndjson")).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/x.ndjson"));
    }
}
