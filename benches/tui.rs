//! TUI responsiveness: how long one frame takes (`djtop::ui::draw` on a 160x48 TestBackend)
//! with 1,000,000 stored queries, and with a single request of 100,000 queries; and the library
//! side of start-up (load a small recording, App::new, first frame).
//!
//! "cold" is the first frame of a fresh App (the request analysed from scratch: what the first
//! look at a request costs); "live" a frame after 1,000 more queries arrived for the open
//! request (its analysis is extended, not redone); "warm" is a redraw with nothing new. `cargo bench --bench tui`. Sizes scale with DJTOP_BENCH_SCALE.

mod common;

use common::{lines, median_of, medians, millis, recording, report, scaled, Sample, Shape, Timer};
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

fn frame(terminal: &mut Terminal<TestBackend>, app: &mut App) -> Sample {
    let t = Timer::start();
    terminal.draw(|f| draw(f, app)).unwrap();
    t.stop()
}

fn show(id: &str, s: Sample, note: &str) {
    let (cpu, wall) = millis(s);
    report(id, cpu, Some(wall), "ms", note);
}

/// Median first frame of a fresh App (empty caches) showing `view`, over `runs` runs.
fn cold(store: &mut Store, view: Option<View>, runs: usize) -> Sample {
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
    medians(&times)
}

/// Median redraw with warm caches.
fn warm(app: &mut App, runs: usize) -> Sample {
    let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
    frame(&mut terminal, app);
    let samples: Vec<Sample> = (0..runs).map(|_| frame(&mut terminal, app)).collect();
    medians(&samples)
}

/// Filter keystrokes: `/`, then each character of `text` (each one timed: handle_key + the
/// frame it causes), then Esc; `rounds` times.
fn filter_keys(app: &mut App, text: &str, rounds: usize) -> Sample {
    let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
    frame(&mut terminal, app);
    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    let mut samples = Vec::new();
    for _ in 0..rounds {
        app.handle_key(key(KeyCode::Char('/')), 40);
        frame(&mut terminal, app);
        for c in text.chars() {
            let t = Timer::start();
            app.handle_key(key(KeyCode::Char(c)), 40);
            terminal.draw(|f| draw(f, app)).unwrap();
            samples.push(t.stop());
        }
        app.handle_key(key(KeyCode::Esc), 40);
        frame(&mut terminal, app);
    }
    medians(&samples)
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
    show(
        "tui.frame.requests.1m.cold",
        t,
        &format!("request list, first frame (summaries+findings of the visible rows), {label}"),
    );
    let mut app = app_at(store, None);
    let t = warm(&mut app, 30);
    show("tui.frame.requests.1m.warm", t, "request list, redraw");
    let t = filter_keys(&mut app, "books", 3);
    show(
        "tui.key.filter.1m",
        t,
        "`/` filter on the request list, a keystroke + its frame (typing \"books\")",
    );
    let store_back = std::mem::take(&mut app.store);
    let mut store = store_back;
    let t = cold(&mut store, Some(View::Queries(newest)), 10);
    show(
        "tui.frame.queries.1m.cold",
        t,
        "query list of a 250-query request, first frame",
    );
    drop(store);

    // -- one request of 100,000 queries -----------------------------------------------------
    // Still running (no `end` yet), as while it is watched live; GROW more queries of the same
    // N+1 are kept aside to arrive LIVE_STEP per frame.
    let live_frames = 30;
    let live_step = scaled(1000);
    let (bytes, _) = recording(
        1,
        1,
        scaled(100_000) - 1 + live_frames * live_step,
        Shape::LazyFk,
    );
    let all: Vec<&[u8]> = lines(&bytes).collect();
    // hello, defs, request, the list query, the loads…, end: everything up to the
    // 100,000th query now, the rest (without the end) arrives while frames are drawn.
    let mut store = Store::new();
    let mut rest = all[..all.len() - 1].iter();
    for l in rest.by_ref() {
        store.apply(parse_line(l).unwrap());
        if store.queries.len() == scaled(100_000) {
            break;
        }
    }
    let mut growth = rest;
    let n = store.queries.len();
    let big = 0;
    let label = format!("one request of {n} queries");

    let t = cold(&mut store, None, 10);
    show(
        "tui.frame.requests.100k.cold",
        t,
        &format!("request list, first frame, {label}"),
    );
    let t = cold(&mut store, Some(View::Queries(big)), 10);
    show(
        "tui.frame.queries.100k.cold",
        t,
        &format!("query list, first frame (summary+findings computed), {label}"),
    );
    let t = cold(&mut store, Some(View::Findings(big)), 10);
    show(
        "tui.frame.findings.100k.cold",
        t,
        &format!("findings panel, first frame, {label}"),
    );

    // What a first frame spends its time on: the analysis of the request.
    let (t, findings) = median_of(5, false, || {
        djtop::analysis::findings(&store, big, Config::default())
    });
    show(
        "tui.analysis.findings.100k",
        t,
        &format!(
            "analysis::findings of the 100k request ({} findings)",
            findings.len()
        ),
    );
    let (t, _) = median_of(5, false, || djtop::analysis::summarize(&store, big));
    show(
        "tui.analysis.summary.100k",
        t,
        "analysis::summarize of the 100k request (duplicate + similar groups)",
    );

    let mut app = app_at(store, Some(View::Queries(big)));
    app.selected_request = Some(big);
    let t = warm(&mut app, 30);
    show(
        "tui.frame.queries.100k.warm",
        t,
        "query list, redraw (caches warm)",
    );

    let t = filter_keys(&mut app, "author", 3);
    show(
        "tui.key.filter.100k",
        t,
        "`/` filter on the 100k query list (SQL text), a keystroke + its frame (typing \"author\")",
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
        let t = Timer::start();
        app.handle_key(KeyEvent::new(code, KeyModifiers::NONE), 40);
        terminal.draw(|f| draw(f, &mut app)).unwrap();
        keys.push(t.stop());
    }
    show(
        "tui.key.move.100k",
        medians(&keys),
        "j/k in the 100k query list: handle_key + frame",
    );

    // While the request is still running: LIVE_STEP more queries arrived since the last frame.
    let mut live = |app: &mut App, terminal: &mut Terminal<TestBackend>| {
        // Bring the caches up to date first: only the growth is timed.
        frame(terminal, app);
        let mut times = Vec::new();
        for _ in 0..live_frames / 3 {
            for _ in 0..live_step {
                let l = growth.next().expect("enough growth");
                app.store.apply(parse_line(l).unwrap());
            }
            times.push(frame(terminal, app));
        }
        medians(&times)
    };
    let t = live(&mut app, &mut terminal);
    show(
        "tui.frame.queries.100k.live",
        t,
        &format!("query list while the request grows by {live_step} queries per frame"),
    );
    app.views.truncate(1);
    let t = live(&mut app, &mut terminal);
    show(
        "tui.frame.requests.100k.live",
        t,
        &format!("request list while the 100k request grows by {live_step} queries per frame"),
    );
    app.views.push(View::Findings(big));
    let t = live(&mut app, &mut terminal);
    show(
        "tui.frame.findings.100k.live",
        t,
        &format!("findings panel while the 100k request grows by {live_step} queries per frame"),
    );
    drop(app);
    drop(bytes);

    // -- start-up, library path: load a small recording, App::new, first frame --------------
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.ndjson");
    let (bytes, _) = recording(2, 20, 49, Shape::LazyFk);
    std::fs::write(&path, &bytes).unwrap();
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Timer::start();
        let store = djtop::record::load(&path).unwrap();
        let mut app = App::new(store, "replay small.ndjson".into(), true, Config::default());
        let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
        terminal.draw(|f| draw(f, &mut app)).unwrap();
        times.push(t.stop());
    }
    show(
        "tui.startup.library",
        medians(&times),
        "record::load(1,000 queries) + App::new + first frame (in-process; no terminal setup)",
    );
}
