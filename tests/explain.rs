//! EXPLAIN end to end, against real databases: a real Django process with the shim
//! (tests/python/explainproj/scenario.py) connects to a real [`Collector`]; its query events
//! go into the TUI's [`App`]; `App::show_plan` asks for a plan, the request travels back over
//! the process's own connection, the shim answers on its own thread and connection, and the
//! answer is drawn on a test terminal.
//!
//! SQLite always runs; PostgreSQL (127.0.0.1:5432, user postgres) and MariaDB (127.0.0.1:3306,
//! root) must be running: a missing server FAILS the test with a message saying how to start
//! it (`make test` does). To leave one out on purpose, name it in
//! `DJTOP_TEST_SKIP_DATABASES=postgresql,mariadb` (said loudly on stderr).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use djtop::analysis::Config;
use djtop::collector::{Address, Collector, Incoming, Peers, SendError};
use djtop::explain::{Answer, Basis};
use djtop::protocol::{self, Event, Explain, Request};
use djtop::store::{QueryId, Store};
use djtop::ui::{draw, send_request, take_plans, App, Effect, PlanState, View};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let path = std::env::var_os("DJTOP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} does not exist: run `make venv` (or set DJTOP_PYTHON to a Python with Django, \
         psycopg and mysqlclient)",
        path.display()
    );
    path
}

/// False (and said on stderr) when the user asked to leave this database out.
fn wanted(vendor: &str) -> bool {
    let skip = std::env::var("DJTOP_TEST_SKIP_DATABASES").unwrap_or_default();
    if skip.split(',').any(|s| s.trim() == vendor) {
        eprintln!(
            "\n*** SKIPPED: the {vendor} EXPLAIN round trip (DJTOP_TEST_SKIP_DATABASES={skip}) ***\n"
        );
        return false;
    }
    true
}

/// Fail, loudly, when the server is not there.
fn require_server(vendor: &str) {
    let (port, name) = match vendor {
        "postgresql" => (5432, "PostgreSQL"),
        "mariadb" => (3306, "MariaDB"),
        _ => return,
    };
    let addr = format!("127.0.0.1:{port}");
    if let Err(e) =
        std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
    {
        panic!(
            "\n\n{name} is not running at {addr} ({e}): the EXPLAIN round trip needs it.\n\
             Start it with `scripts/databases.sh start` (`make test` does), install it with \
             `scripts/databases.sh install`,\nor leave it out on purpose with \
             DJTOP_TEST_SKIP_DATABASES={vendor}.\n"
        );
    }
}

/// The Django process running the scenario, with the shim sending to `addr`.
struct Shim {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Shim {
    fn start(vendor: &str, db: &str, addr: &str) -> Shim {
        let tests = repo().join("tests/python");
        let path = format!("{}:{}", repo().join("python").display(), tests.display());
        let mut child = Command::new(python())
            .args(["-m", "explainproj.scenario"])
            .current_dir(&tests)
            .env("PYTHONPATH", path)
            .env("EXPLAINPROJ_VENDOR", vendor)
            .env("EXPLAINPROJ_DB", db)
            .env("DJTOP_ADDRESS", addr)
            .env("PYTHONUNBUFFERED", "1")
            .env_remove("DJTOP_RECORD")
            .env_remove("DJTOP_ENABLED")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the Django scenario");
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let keep = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                keep.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take();
        Shim {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    fn line(&self) -> String {
        self.lines.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!(
                "the Django scenario said nothing in {WAIT:?}; its stderr:\n{}",
                self.stderr.lock().unwrap()
            )
        })
    }

    /// The stock of book `pk`, read by the process itself.
    fn stock(&mut self, pk: u32) -> i64 {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "stock {pk}").unwrap();
        stdin.flush().unwrap();
        let line = self.line();
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line:?}"))
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The collector and the TUI's state, without a terminal.
struct Live {
    rx: mpsc::Receiver<Incoming>,
    peers: Peers,
    app: App,
    /// Every `plan` event received, answered to the app or not.
    plans: Vec<protocol::Plan>,
    addr: String,
}

impl Live {
    async fn start() -> Live {
        let collector = Collector::bind(&"127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let Address::Tcp(addr) = collector.address().clone() else {
            unreachable!()
        };
        let peers = collector.peers();
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(collector.serve(tx, false));
        let app = App::new(Store::new(), addr.clone(), false, Config::default());
        Live {
            rx,
            peers,
            app,
            plans: Vec::new(),
            addr,
        }
    }

    /// Feed what arrives into the app (as the terminal loop does) until `done`.
    async fn pump(&mut self, what: &str, mut done: impl FnMut(&Live) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(self) {
            let msg = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("the collector stopped");
            if let Incoming::Batch { events, .. } = &msg {
                for e in events {
                    if let Event::Plan(p) = e {
                        self.plans.push(p.clone());
                    }
                }
            }
            match take_plans(msg, &mut self.app) {
                Incoming::Batch { events, .. } => {
                    for e in events {
                        self.app.store.apply(e);
                    }
                }
                Incoming::Disconnected { sid: Some(sid), .. } => self
                    .app
                    .store
                    .apply(Event::Disconnect(protocol::Disconnect { sid, ts: 0.0 })),
                _ => {}
            }
        }
    }

    /// The last query whose SQL starts with `start` and contains all of `needles`.
    fn query(&self, start: &str, needles: &[&str]) -> QueryId {
        let s = &self.app.store;
        (0..s.queries.len())
            .rev()
            .find(|&q| {
                let sql = s.sql(&s.queries[q]);
                sql.starts_with(start) && needles.iter().all(|n| sql.contains(n))
            })
            .unwrap_or_else(|| panic!("no query {start}… with {needles:?}"))
    }

    fn sid(&self) -> String {
        self.app.store.processes[0].sid.clone()
    }

    /// Ask as `x`/`X` does and wait for the answer.
    async fn plan(&mut self, q: QueryId, analyze: bool) -> Rc<Answer> {
        self.app.show_plan(q, analyze);
        assert_eq!(
            self.app.view(),
            View::Plan(self.app.store.queries[q].request, q, analyze)
        );
        if let Some(Effect::Explain { sid, request }) = self.app.effect.take() {
            send_request(&mut self.app, Some(&self.peers), &sid, &request);
        }
        self.pump("the plan", |l| {
            matches!(l.app.plans.get(&(q, analyze)), Some(PlanState::Done(_)))
        })
        .await;
        match self.app.plans.get(&(q, analyze)) {
            Some(PlanState::Done(a)) => a.clone(),
            _ => unreachable!(),
        }
    }

    fn screen(&mut self, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, &mut self.app)).unwrap();
        let buf = t.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }
}

fn ok(answer: &Answer) -> &djtop::explain::Plan {
    answer
        .result
        .as_ref()
        .unwrap_or_else(|f| panic!("no plan: {f:?}"))
}

fn refused(answer: &Answer, words: &str) {
    let f = answer.result.as_ref().expect_err("refused");
    assert_eq!(f.reason, "refused", "{f:?}");
    assert!(f.message.contains(words), "{:?} lacks {words:?}", f.message);
}

async fn round_trip(vendor: &str) {
    require_server(vendor);
    let dir = tempfile::tempdir().unwrap();
    let db = match vendor {
        "sqlite" => dir.path().join("explain.sqlite3").display().to_string(),
        _ => "djtop_explain_rs".to_owned(),
    };
    let mut live = Live::start().await;
    let mut shim = Shim::start(vendor, &db, &live.addr);
    assert_eq!(shim.line(), "ready", "the scenario ran");
    live.pump("the scenario's queries", |l| {
        let s = &l.app.store;
        s.queries.iter().any(|q| s.sql(q).starts_with("UPDATE"))
    })
    .await;

    // A SELECT with a join: the plan comes back and renders.
    let join = live.query("SELECT", &["INNER JOIN", "explainproj_author"]);
    let answer = live.plan(join, false).await;
    let plan = ok(&answer);
    let tables: Vec<&str> = plan
        .nodes
        .iter()
        .filter_map(|n| n.relation.as_deref())
        .collect();
    assert!(
        tables.iter().any(|t| t.contains("explainproj_book"))
            && tables.iter().any(|t| t.contains("explainproj_author")),
        "both tables in {:#?}",
        plan.nodes
    );
    let screen = live.screen(160, 30);
    assert!(screen.contains("explainproj_book"), "{screen}");
    assert!(
        screen.contains(&format!("EXPLAIN · {}", plan.vendor)),
        "{screen}"
    );
    if vendor != "sqlite" {
        assert!(screen.contains("◆ costliest:"), "{screen}");
    }

    // The UPDATE, explained without ANALYZE, is only planned: the row is unchanged.
    let update = live.query("UPDATE", &["stock"]);
    assert_eq!(shim.stock(1), 1, "the app ran its UPDATE once");
    let answer = live.plan(update, false).await;
    ok(&answer);
    // EXPLAIN ANALYZE of it is refused, and nothing ran.
    let answer = live.plan(update, true).await;
    if vendor == "sqlite" {
        refused(&answer, "SQLite has no EXPLAIN ANALYZE");
    } else {
        refused(&answer, "only done for a SELECT, not UPDATE");
    }
    assert_eq!(shim.stock(1), 1, "the row is unchanged");
    let screen = live.screen(160, 12);
    let why = if vendor == "sqlite" {
        "refused: SQLite has no EXPLAIN ANALYZE"
    } else {
        "refused: EXPLAIN ANALYZE runs the statement"
    };
    assert!(screen.contains(why), "{screen}");

    if vendor == "sqlite" {
        refused(
            &*live.plan(join, true).await,
            "SQLite has no EXPLAIN ANALYZE",
        );
    } else {
        // ANALYZE of a SELECT: times and actual rows.
        let answer = live.plan(join, true).await;
        let plan = ok(&answer);
        assert_eq!(plan.basis(), Basis::Time);
        assert!(plan.has_actual_rows());
        assert!(plan.execution_ms.is_some());
        let screen = live.screen(160, 30);
        assert!(
            screen.contains("self ms") && screen.contains("×err"),
            "{screen}"
        );
        // SELECT ... FOR UPDATE takes locks: refused.
        let locking = live.query("SELECT", &["FOR UPDATE"]);
        refused(&*live.plan(locking, true).await, "FOR UPDATE");
    }

    // An id the process never captured (or no longer holds) is refused, saying so.
    let sid = live.sid();
    let ask = Request::Explain(Explain {
        id: 9_999,
        qid: 987_654,
        analyze: false,
    });
    live.peers.send(&sid, &ask).unwrap();
    live.pump("the refusal", |l| l.plans.iter().any(|p| p.id == 9_999))
        .await;
    let p = live.plans.iter().find(|p| p.id == 9_999).unwrap();
    assert_eq!(p.reason.as_deref(), Some("refused"));
    assert!(
        p.error
            .as_deref()
            .unwrap()
            .contains("query 987654 is not among the last 2000 statements"),
        "{p:?}"
    );

    // Kill the process. A request sent before the collector noticed fails to go; afterwards
    // the app knows the process is gone without asking.
    let count = live.query("SELECT", &["COUNT(*)", "published"]);
    shim.child.kill().unwrap();
    shim.child.wait().unwrap();
    live.pump("the disconnect", |l| !l.app.store.processes[0].connected)
        .await;
    assert_eq!(live.peers.send(&sid, &ask), Err(SendError::Gone));
    let answer = live.plan(count, false).await;
    let f = answer.result.as_ref().unwrap_err();
    assert_eq!(f.reason, "gone");
    let screen = live.screen(160, 12);
    assert!(
        screen.contains("process gone:") && screen.contains("has exited"),
        "{screen}"
    );
    // The app stays usable: back to the query detail, and the cached plans remain.
    live.app.handle_key(
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Esc,
            crossterm::event::KeyModifiers::NONE,
        ),
        10,
    );
    live.app.show_plan(join, false);
    assert!(live.app.effect.is_none(), "cached");
    assert!(live.screen(160, 20).contains("explainproj_book"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_round_trip() {
    round_trip("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_round_trip() {
    if wanted("postgresql") {
        round_trip("postgresql").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_round_trip() {
    if wanted("mariadb") {
        round_trip("mariadb").await;
    }
}
