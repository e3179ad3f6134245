//! Collector ingest: query events per second.
//!
//! 1. In-process, one thread: parse pre-generated lines (`protocol::parse_line`), then parse and
//!    `Store::apply`, then the same while the TUI's analysis keeps up (a request-list frame
//!    drawn on a TestBackend every 33 ms, as the live loop does).
//! 2. End to end: several TCP connections write pre-generated lines to a real
//!    `collector::Collector`; its tasks and the consumer (apply to a Store, frames every 33 ms)
//!    share one tokio current-thread runtime, i.e. one core. Clients run on other threads.
//!
//! `cargo bench --bench ingest`. Sizes scale with DJTOP_BENCH_SCALE.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{
    lines, median_of, medians, rates, recording_wire, report, scaled, Shape, Timer, Wire,
};
use djtop::collector::{Address, Collector, Incoming};
use djtop::protocol::{parse_line, Event};
use djtop::store::Store;
use djtop::ui::{draw, App};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const FRAME: Duration = Duration::from_millis(33);

fn query_events(bytes: &[u8]) -> u64 {
    lines(bytes)
        .filter(|l| l.starts_with(br#"{"type":"query""#))
        .count() as u64
}

/// A TUI frame as the live loop draws it: the request list, 160x48.
struct Screen {
    terminal: Terminal<TestBackend>,
}

impl Screen {
    fn new() -> Self {
        Self {
            terminal: Terminal::new(TestBackend::new(160, 48)).unwrap(),
        }
    }
    fn frame(&mut self, app: &mut App) {
        self.terminal.draw(|f| draw(f, app)).unwrap();
    }
}

fn in_process(shape: Shape, wire: Wire) {
    // 2,000 requests of 1 + 250 queries: ~500,000 query events.
    let (bytes, gen) = recording_wire(0, scaled(2000), 250, shape, wire);
    let queries = gen.queries as f64;
    let events = gen.events as f64;
    let name = format!("{}{}", shape.name(), wire.suffix());

    let (t, n) = median_of(5, true, || {
        let mut n = 0u64;
        for l in lines(&bytes) {
            if parse_line(l).is_ok() {
                n += 1;
            }
        }
        n
    });
    assert_eq!(n as f64, events);
    let (cpu, wall) = rates(queries, t);
    report(
        &format!("ingest.parse.{name}"),
        cpu,
        Some(wall),
        "queries/s",
        &format!("parse_line only, {events} events, one thread"),
    );

    let (t, store) = median_of(5, true, || {
        let mut store = Store::new();
        for l in lines(&bytes) {
            store.apply(parse_line(l).unwrap());
        }
        store
    });
    assert_eq!(store.queries.len() as f64, queries);
    let (cpu, wall) = rates(queries, t);
    report(
        &format!("ingest.parse_apply.{name}"),
        cpu,
        Some(wall),
        "queries/s",
        "parse_line + Store::apply, one thread",
    );
    drop(store);
    if wire == Wire::V1 {
        return;
    }

    let (t, frames) = median_of(5, true, || {
        let mut app = App::new(Store::new(), "bench".into(), true, Default::default());
        let mut screen = Screen::new();
        let mut last = Instant::now();
        let mut frames = 0u32;
        for (i, l) in lines(&bytes).enumerate() {
            app.store.apply(parse_line(l).unwrap());
            if i % 256 == 0 && last.elapsed() >= FRAME {
                screen.frame(&mut app);
                frames += 1;
                last = Instant::now();
            }
        }
        screen.frame(&mut app);
        frames + 1
    });
    let (cpu, wall) = rates(queries, t);
    report(
        &format!("ingest.parse_apply_frames.{name}"),
        cpu,
        Some(wall),
        "queries/s",
        &format!("+ a request-list frame every 33 ms ({frames} frames), one thread"),
    );
}

/// `clients` connections, each its own process's lines, into one Collector + consumer on a
/// current-thread runtime (this thread). Returns the timing of the collector's thread and the
/// number of query events.
fn end_to_end(
    clients: u32,
    requests: usize,
    n: usize,
    keep_raw: bool,
    frames: bool,
    wire: Wire,
) -> (common::Sample, u64) {
    let feeds: Vec<(Vec<u8>, u64)> = (0..clients)
        .map(|c| {
            let (bytes, gen) = recording_wire(c + 1, requests, n, Shape::LazyFk, wire);
            (bytes, gen.queries)
        })
        .collect();
    let expected: u64 = feeds.iter().map(|f| f.1).sum();
    assert_eq!(
        feeds.iter().map(|f| query_events(&f.0)).sum::<u64>(),
        expected
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let collector = Collector::bind(&"127.0.0.1:0".parse::<Address>().unwrap())
            .await
            .unwrap();
        let Address::Tcp(addr) = collector.address().clone() else {
            unreachable!()
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let server = tokio::spawn(collector.serve(tx, keep_raw));
        let timer = Timer::start();
        let writers: Vec<_> = feeds
            .into_iter()
            .map(|(bytes, _)| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.write_all(&bytes).unwrap();
                })
            })
            .collect();
        let mut app = App::new(Store::new(), "bench".into(), true, Default::default());
        let mut screen = Screen::new();
        let mut sink = std::io::BufWriter::with_capacity(256 * 1024, std::io::sink());
        let mut last = Instant::now();
        let mut disconnected = 0;
        while disconnected < clients {
            let Some(msg) = rx.recv().await else { break };
            match msg {
                Incoming::Batch { events, raw, .. } => {
                    for line in raw {
                        sink.write_all(&line).unwrap();
                        sink.write_all(b"\n").unwrap();
                    }
                    for ev in events {
                        if !keep_raw || matches!(ev, Event::Hello(_)) {
                            app.store.apply(ev);
                        }
                    }
                }
                Incoming::Disconnected { .. } => disconnected += 1,
                Incoming::Connected { .. } => {}
            }
            if frames && last.elapsed() >= FRAME {
                screen.frame(&mut app);
                last = Instant::now();
            }
        }
        let sample = timer.stop();
        for w in writers {
            w.join().unwrap();
        }
        server.abort();
        if !keep_raw {
            assert_eq!(
                app.store.queries.len() as u64,
                expected,
                "every query applied"
            );
        }
        (sample, expected)
    })
}

fn main() {
    in_process(Shape::LazyFk, Wire::V2);
    in_process(Shape::GetPerRow, Wire::V2);
    in_process(Shape::LazyFk, Wire::V1);
    in_process(Shape::GetPerRow, Wire::V1);

    let clients = 4;
    let requests = scaled(500);
    for (id, keep_raw, frames, wire, what) in [
        (
            "ingest.e2e.tui",
            false,
            true,
            Wire::V2,
            "Collector + Store::apply + request-list frame every 33 ms",
        ),
        (
            "ingest.e2e.apply",
            false,
            false,
            Wire::V2,
            "Collector + Store::apply, no frames",
        ),
        (
            "ingest.e2e.record",
            true,
            false,
            Wire::V2,
            "Collector keeping raw lines, written to a sink (djtop record's path)",
        ),
        (
            "ingest.e2e.apply.v1",
            false,
            false,
            Wire::V1,
            "Collector + Store::apply, no frames, v1 lines (everything inline)",
        ),
    ] {
        let runs: Vec<(common::Sample, u64)> = (0..5)
            .map(|_| end_to_end(clients, requests, 250, keep_raw, frames, wire))
            .collect();
        let queries = runs[0].1;
        let samples: Vec<common::Sample> = runs.iter().map(|r| r.0).collect();
        let (cpu, wall) = rates(queries as f64, medians(&samples));
        report(
            id,
            cpu,
            Some(wall),
            "queries/s",
            &format!(
                "{what}; {clients} TCP connections, {queries} queries, current-thread runtime (one core), median of 5"
            ),
        );
    }
}
