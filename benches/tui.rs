//! TUI responsiveness: how long one frame takes (`djtop::ui::draw` on a 160x48 TestBackend)
//! with 1,000,000 stored queries, and with a single request of 100,000 queries; and the library
//! side of start-up (load a small recording, App::new, first frame).
//!
//! "cold" is the first frame after the data changed (summaries and findings recomputed: what
//! every frame costs while a request is still receiving queries); "warm" is a redraw with
//! nothing new (a key press). `cargo bench --bench tui`. Sizes scale with DJTOP_BENCH_SCALE.

mod common;

use std::time::{Duration, Instant};

use common::{lines, median, recording, report, scaled, Gen, Shape};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use djtop::analysis::Config;
use djtop::protocol::parse_line;
use djtop::store::Store;
use djtop::ui::{draw, App, View};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const W: u16 = 160;
const H: u16 = 48;

fn store_of(bytes: &[u8]) -> Store {
    let mut store = Store::new();
    for l in lines(bytes) {
        store.apply(parse_line(l).unwrap());
    }
    store
}

fn frame(terminal: &mut Terminal<TestBackend>, app: &mut App) -> Duration {
    let t0 = Instant::now();
    terminal.draw(|f| draw(f, app)).unwrap();
    t0.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median first frame of a fresh App (empty caches) showing `view`, over `runs` runs.
fn cold(store: &mut Store, view: Option<View>, runs: usize) -> Duration {
    let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
    let mut times = Vec::new();
    for _ in 0..runs {
        let mut app = App::new(
            std::mem::take(store),
            "bench".into(),
            true,
            Config::default(),
        );
        if let Some(v) = view {
            if let View::Queries(r) | View::Findings(r) = v {
                app.selected_request = Some(r);
            }
            app.views.push(v);
        }
        times.push(frame(&mut terminal, &mut app));
        *store = app.store;
    }
    median(times)
}

/// Median redraw with warm caches.
fn warm(app: &mut App, runs: usize) -> Duration {
    let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
    frame(&mut terminal, app);
    median((0..runs).map(|_| frame(&mut terminal, app)).collect())
}

fn app_at(store: Store, view: Option<View>) -> App {
    let mut app = App::new(store, "bench".into(), true, Config::default());
    if let Some(v) = view {
        app.views.push(v);
    }
    app
}

fn main() {
    djtop::highlight::ensure_loaded();

    // -- 1,000,000 queries: 4,000 requests of 1 + 249 ---------------------------------------
    let (bytes, gen) = recording(0, scaled(4000), 249, Shape::LazyFk);
    let mut store = store_of(&bytes);
    drop(bytes);
    let total = store.queries.len();
    assert_eq!(total as u64, gen.queries);
    let newest = store.requests.len() - 1;
    let label = format!("{total} queries in {} requests", store.requests.len());

    let t = cold(&mut store, None, 10);
    report(
        "tui.frame.requests.1m.cold",
        ms(t),
        "ms",
        &format!("request list, first frame (summaries+findings of the visible rows), {label}"),
    );
    let mut app = app_at(store, None);
    let t = warm(&mut app, 30);
    report(
        "tui.frame.requests.1m.warm",
        ms(t),
        "ms",
        "request list, redraw",
    );
    let store_back = std::mem::take(&mut app.store);
    let mut store = store_back;
    let t = cold(&mut store, Some(View::Queries(newest)), 10);
    report(
        "tui.frame.queries.1m.cold",
        ms(t),
        "ms",
        "query list of a 250-query request, first frame",
    );
    drop(store);

    // -- one request of 100,000 queries -----------------------------------------------------
    let (bytes, _) = recording(1, 1, scaled(100_000) - 1, Shape::LazyFk);
    let mut store = store_of(&bytes);
    drop(bytes);
    let n = store.queries.len();
    let big = 0;
    let label = format!("one request of {n} queries");

    let t = cold(&mut store, None, 10);
    report(
        "tui.frame.requests.100k.cold",
        ms(t),
        "ms",
        &format!("request list, first frame, {label}"),
    );
    let t = cold(&mut store, Some(View::Queries(big)), 10);
    report(
        "tui.frame.queries.100k.cold",
        ms(t),
        "ms",
        &format!("query list, first frame (summary+findings computed), {label}"),
    );
    let t = cold(&mut store, Some(View::Findings(big)), 10);
    report(
        "tui.frame.findings.100k.cold",
        ms(t),
        "ms",
        &format!("findings panel, first frame, {label}"),
    );

    let mut app = app_at(store, Some(View::Queries(big)));
    app.selected_request = Some(big);
    let t = warm(&mut app, 30);
    report(
        "tui.frame.queries.100k.warm",
        ms(t),
        "ms",
        "query list, redraw (caches warm)",
    );

    // A key press in the 100k list: handle_key + the frame it causes.
    let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
    frame(&mut terminal, &mut app);
    let mut keys = Vec::new();
    for i in 0..30 {
        let code = if i % 2 == 0 {
            KeyCode::Char('j')
        } else {
            KeyCode::Char('k')
        };
        let t0 = Instant::now();
        app.handle_key(KeyEvent::new(code, KeyModifiers::NONE), 40);
        terminal.draw(|f| draw(f, &mut app)).unwrap();
        keys.push(t0.elapsed());
    }
    report(
        "tui.key.move.100k",
        ms(median(keys)),
        "ms",
        "j/k in the 100k query list: handle_key + frame",
    );

    // While the request is still running: one more query arrived since the last frame.
    let sid = Gen::new(1).sid;
    let mut live = Vec::new();
    for i in 0..20u64 {
        let line = format!(
            r#"{{"type":"query","sid":"{sid}","rid":"{sid}-1","qid":{},"alias":"default","vendor":"postgresql","sql":"SELECT 1","params":[],"many":false,"ts":1763730001.5,"ms":0.05,"rows":1,"stack":[["blog/views.py",27,"book_list"]],"error":null}}"#,
            10_000_000 + i
        );
        app.store.apply(parse_line(line.as_bytes()).unwrap());
        live.push(frame(&mut terminal, &mut app));
    }
    report(
        "tui.frame.queries.100k.live",
        ms(median(live)),
        "ms",
        "query list while the request grows (caches invalid every frame)",
    );
    app.views.truncate(1);
    let mut live = Vec::new();
    for i in 0..20u64 {
        let line = format!(
            r#"{{"type":"query","sid":"{sid}","rid":"{sid}-1","qid":{},"alias":"default","vendor":"postgresql","sql":"SELECT 1","params":[],"many":false,"ts":1763730001.5,"ms":0.05,"rows":1,"stack":[["blog/views.py",27,"book_list"]],"error":null}}"#,
            20_000_000 + i
        );
        app.store.apply(parse_line(line.as_bytes()).unwrap());
        live.push(frame(&mut terminal, &mut app));
    }
    report(
        "tui.frame.requests.100k.live",
        ms(median(live)),
        "ms",
        "request list while the 100k request grows",
    );
    drop(app);

    // -- start-up, library path: load a small recording, App::new, first frame --------------
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.ndjson");
    let (bytes, _) = recording(2, 20, 49, Shape::LazyFk);
    std::fs::write(&path, &bytes).unwrap();
    let mut times = Vec::new();
    for _ in 0..10 {
        let t0 = Instant::now();
        let store = djtop::record::load(&path).unwrap();
        let mut app = App::new(store, "replay small.ndjson".into(), true, Config::default());
        let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
        terminal.draw(|f| draw(f, &mut app)).unwrap();
        times.push(t0.elapsed());
    }
    report(
        "tui.startup.library",
        ms(median(times)),
        "ms",
        "record::load(1,000 queries) + App::new + first frame (in-process; no terminal setup)",
    );
}
