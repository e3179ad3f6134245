//! Shared by the benches: realistic event lines (what the shim sends for an N+1) and a tiny
//! reporter. Each bench uses a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::time::{Duration, Instant};

/// The shape of a request's repeated queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `for book in Book.objects.all(): book.author.name`: one list query, then a lazy FK load
    /// per row. Every load carries the same `rel` (interned once per request) and a different
    /// param.
    LazyFk,
    /// `Author.objects.filter(pk=i).first()` per id: each query carries an `orm` with its own
    /// lookups (`{"pk": i}`). Both shapes carry the library frames (`lib`) the shim sends.
    GetPerRow,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::LazyFk => "lazy-fk",
            Shape::GetPerRow => "get-per-row",
        }
    }
}

const LIST_SQL: &str = r#"SELECT \"blog_book\".\"id\", \"blog_book\".\"title\", \"blog_book\".\"author_id\", \"blog_book\".\"published\" FROM \"blog_book\" ORDER BY \"blog_book\".\"published\" DESC"#;
const LOAD_SQL: &str = r#"SELECT \"blog_author\".\"id\", \"blog_author\".\"name\", \"blog_author\".\"email\" FROM \"blog_author\" WHERE \"blog_author\".\"id\" = %s LIMIT 21"#;
const FIRST_SQL: &str = r#"SELECT \"blog_author\".\"id\", \"blog_author\".\"name\", \"blog_author\".\"email\" FROM \"blog_author\" WHERE \"blog_author\".\"id\" = %s ORDER BY \"blog_author\".\"id\" ASC LIMIT 1"#;

// Library frames between the app's line and the SQL, as the shim sends them (`lib`).
const LIB_FK: &str = r#"[["django/db/models/sql/compiler.py",1623,"execute_sql"],["django/db/models/query.py",93,"__iter__"],["django/db/models/query.py",1954,"_fetch_all"],["django/db/models/query.py",368,"__len__"],["django/db/models/query.py",631,"get"],["django/db/models/fields/related_descriptors.py",224,"get_object"],["django/db/models/fields/related_descriptors.py",261,"__get__"]]"#;
const LIB_FIRST: &str = r#"[["django/db/models/sql/compiler.py",1623,"execute_sql"],["django/db/models/query.py",93,"__iter__"],["django/db/models/query.py",1954,"_fetch_all"],["django/db/models/query.py",386,"__iter__"],["django/db/models/query.py",1106,"first"]]"#;

/// Which lines the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Protocol v2, what the shim sends: each distinct SQL text, frame list, `rel` and
    /// repeated `orm` once per process as a `def`, queries naming them by id, integer ns times.
    V2,
    /// Protocol v1: everything inline in every query, float times (the reference row).
    V1,
}

impl Wire {
    /// Suffix of the figure ids: none for v2, `.v1` for the reference rows.
    pub fn suffix(self) -> &'static str {
        match self {
            Wire::V2 => "",
            Wire::V1 => ".v1",
        }
    }
}

/// Writes the NDJSON of one process: `hello`, then whole requests.
pub struct Gen {
    pub sid: String,
    pub wire: Wire,
    qid: u64,
    rid: u64,
    ts: f64,
    /// v2: the def id of each value already sent (by its JSON text).
    defs: std::collections::HashMap<String, u64>,
    pub queries: u64,
    pub events: u64,
}

impl Gen {
    pub fn new(process: u32) -> Self {
        Self::with_wire(process, Wire::V2)
    }

    pub fn with_wire(process: u32, wire: Wire) -> Self {
        Self {
            sid: format!("{:016x}", 0x5f0c_2a9e_0000_0000u64 + process as u64),
            wire,
            qid: 0,
            rid: 0,
            ts: 1_763_730_000.0 + process as f64,
            defs: Default::default(),
            queries: 0,
            events: 0,
        }
    }

    /// v2: the id of `json` (the value of a def's `kind` field), writing its def first if new.
    fn def(&mut self, out: &mut Vec<u8>, kind: &str, json: &str) -> u64 {
        let key = format!("{kind}:{json}");
        if let Some(&id) = self.defs.get(&key) {
            return id;
        }
        let id = self.defs.len() as u64;
        self.defs.insert(key, id);
        self.events += 1;
        writeln!(
            out,
            r#"{{"type":"def","sid":"{}","id":{id},"{kind}":{json}}}"#,
            self.sid
        )
        .unwrap();
        id
    }

    pub fn hello(&mut self, out: &mut Vec<u8>) {
        self.events += 1;
        let v = match self.wire {
            Wire::V2 => 2,
            Wire::V1 => 1,
        };
        writeln!(
            out,
            r#"{{"type":"hello","v":{v},"sid":"{}","pid":{},"ppid":4200,"argv":["manage.py","runserver"],"django":"5.2.1","python":"3.11.7","databases":[{{"alias":"default","vendor":"postgresql"}}],"root":"/home/me/blog","models":{{"blog_book":"blog.Book","blog_author":"blog.Author","auth_user":"auth.User"}},"ts":{:.6}}}"#,
            self.sid,
            4242 + self.sid.len(),
            self.ts
        )
        .unwrap();
    }

    /// One request: `request`, a list query, `n` repeated queries, `end`.
    pub fn request(&mut self, out: &mut Vec<u8>, n: usize, shape: Shape) {
        self.rid += 1;
        let rid = format!("{}-{}", self.sid, self.rid);
        let sid = self.sid.clone();
        self.ts += 0.5;
        writeln!(
            out,
            r#"{{"type":"request","sid":"{sid}","rid":"{rid}","kind":"http","method":"GET","path":"/books/?page={}","ts":{:.6}}}"#,
            self.rid % 50,
            self.ts
        )
        .unwrap();
        self.qid += 1;
        let list_qid = self.qid;
        let list_stack = r#"[["blog/views.py",25,"book_list"]]"#;
        let list_orm = r#"{"model":"blog.Book","op":"iterate","lookups":{}}"#;
        let (stack, lib, sql) = match shape {
            Shape::LazyFk => (
                r#"[["blog/templatetags/blog_tags.py",12,"author_name"],["blog/views.py",27,"book_list"]]"#,
                LIB_FK,
                LOAD_SQL,
            ),
            Shape::GetPerRow => (
                r#"[["blog/views.py",31,"load_author"],["blog/views.py",38,"author_list"]]"#,
                LIB_FIRST,
                FIRST_SQL,
            ),
        };
        let rel = format!(
            r#"{{"model":"blog.Book","field":"author","kind":"fk","target":"blog.Author","op":"load","origin":{{"how":"queryset","model":"blog.Book","site":["blog/views.py",25,"book_list"],"rows":{n},"qid":{list_qid}}}}}"#
        );
        let list_ts = self.ts + 0.0001;
        match self.wire {
            Wire::V1 => writeln!(
                out,
                r#"{{"type":"query","sid":"{sid}","rid":"{rid}","qid":{list_qid},"alias":"default","vendor":"postgresql","sql":"{LIST_SQL}","params":[],"many":false,"ts":{list_ts:.6},"ms":1.2034,"rows":{n},"stack":{list_stack},"error":null,"orm":{list_orm}}}"#,
            ),
            Wire::V2 => {
                let sql_id = self.def(out, "sql", &format!("\"{LIST_SQL}\""));
                let stack_id = self.def(out, "frames", list_stack);
                let orm_id = self.def(out, "orm", list_orm);
                writeln!(
                    out,
                    r#"{{"type":"query","sid":"{sid}","rid":"{rid}","qid":{list_qid},"alias":"default","vendor":"postgresql","sql_id":{sql_id},"params":[],"many":false,"ts_ns":{},"dur_ns":1203400,"rows":{n},"stack_id":{stack_id},"error":null,"orm_id":{orm_id}}}"#,
                    (list_ts * 1e6).round() as u64 * 1000
                )
            }
        }
        .unwrap();
        // v2: the defs this request's repeated queries name (a rel per request: its origin
        // names the list query).
        let ids = match self.wire {
            Wire::V1 => None,
            Wire::V2 => Some((
                self.def(out, "sql", &format!("\"{sql}\"")),
                self.def(out, "frames", stack),
                self.def(out, "frames", lib),
                match shape {
                    Shape::LazyFk => Some(self.def(out, "rel", &rel)),
                    Shape::GetPerRow => None,
                },
            )),
        };
        for i in 0..n {
            self.qid += 1;
            let qid = self.qid;
            let ts = self.ts + 0.0002 + i as f64 * 0.00012;
            let ms = 0.05 + (i % 17) as f64 * 0.0031;
            // Distinct across the whole recording (the worst case for interning `orm`).
            let pk = qid;
            match (ids, shape) {
                (None, Shape::LazyFk) => writeln!(
                    out,
                    r#"{{"type":"query","sid":"{sid}","rid":"{rid}","qid":{qid},"alias":"default","vendor":"postgresql","sql":"{sql}","params":[{pk}],"many":false,"ts":{ts:.6},"ms":{ms:.4},"rows":1,"stack":{stack},"lib":{lib},"error":null,"rel":{rel}}}"#
                ),
                (None, Shape::GetPerRow) => writeln!(
                    out,
                    r#"{{"type":"query","sid":"{sid}","rid":"{rid}","qid":{qid},"alias":"default","vendor":"postgresql","sql":"{sql}","params":[{pk}],"many":false,"ts":{ts:.6},"ms":{ms:.4},"rows":1,"stack":{stack},"lib":{lib},"error":null,"orm":{{"model":"blog.Author","op":"first","lookups":{{"pk":{pk}}}}}}}"#
                ),
                (Some((sql_id, stack_id, lib_id, rel_id)), _) => {
                    let ts_ns = (ts * 1e6).round() as u64 * 1000;
                    let dur_ns = (ms * 1e4).round() as u64 * 100;
                    write!(
                        out,
                        r#"{{"type":"query","sid":"{sid}","rid":"{rid}","qid":{qid},"alias":"default","vendor":"postgresql","sql_id":{sql_id},"params":[{pk}],"many":false,"ts_ns":{ts_ns},"dur_ns":{dur_ns},"rows":1,"stack_id":{stack_id},"lib_id":{lib_id},"error":null"#
                    )
                    .unwrap();
                    match rel_id {
                        Some(rel_id) => writeln!(out, r#","rel_id":{rel_id}}}"#),
                        // Lookups distinct per query: inline, never a def.
                        None => writeln!(
                            out,
                            r#","orm":{{"model":"blog.Author","op":"first","lookups":{{"pk":{pk}}}}}}}"#
                        ),
                    }
                }
            }
            .unwrap();
        }
        writeln!(
            out,
            r#"{{"type":"end","sid":"{sid}","rid":"{rid}","status":200,"route":"books/","view":"blog.views.book_list","ms":{:.4},"async":false}}"#,
            n as f64 * 0.2 + 3.0
        )
        .unwrap();
        self.queries += n as u64 + 1;
        self.events += n as u64 + 3;
    }
}

/// The NDJSON of one process with `requests` requests of `1 + n` queries each (v2 lines).
pub fn recording(process: u32, requests: usize, n: usize, shape: Shape) -> (Vec<u8>, Gen) {
    recording_wire(process, requests, n, shape, Wire::V2)
}

/// [`recording`] in the given wire format.
pub fn recording_wire(
    process: u32,
    requests: usize,
    n: usize,
    shape: Shape,
    wire: Wire,
) -> (Vec<u8>, Gen) {
    let mut gen = Gen::with_wire(process, wire);
    let mut out = Vec::with_capacity(requests * (n + 3) * 480);
    gen.hello(&mut out);
    for _ in 0..requests {
        gen.request(&mut out, n, shape);
    }
    (out, gen)
}

/// Every line of `bytes`, without its newline.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
}

const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

fn cpu_clock(clock: i32) -> Duration {
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec; libc is linked by std on Linux.
    let rc = unsafe { clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of the calling thread: what "on one core" means on a shared, loaded machine
/// (time the scheduler gave to other processes is not in it).
pub fn thread_cpu() -> Duration {
    cpu_clock(CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of every thread of this process.
pub fn process_cpu() -> Duration {
    cpu_clock(CLOCK_PROCESS_CPUTIME_ID)
}

/// One timing: wall clock and this thread's CPU time.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Duration,
}

pub struct Timer {
    wall: Instant,
    cpu: Duration,
}

impl Timer {
    pub fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: thread_cpu(),
        }
    }
    pub fn stop(&self) -> Sample {
        Sample {
            wall: self.wall.elapsed(),
            cpu: thread_cpu() - self.cpu,
        }
    }
}

/// Medians of the wall and CPU times of `samples` (each median taken on its own).
pub fn medians(samples: &[Sample]) -> Sample {
    let mut wall: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    let mut cpu: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
    wall.sort();
    cpu.sort();
    Sample {
        wall: wall[wall.len() / 2],
        cpu: cpu[cpu.len() / 2],
    }
}

/// Medians of `runs` timings of `f` (after one warm-up run when `warm`), and the last output.
pub fn median_of<T>(runs: usize, warm: bool, mut f: impl FnMut() -> T) -> (Sample, T) {
    if warm {
        std::hint::black_box(f());
    }
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Timer::start();
        let out = f();
        samples.push(t.stop());
        last = Some(out);
    }
    (medians(&samples), last.expect("runs > 0"))
}

/// Print a figure and append it as a JSON line to `$DJTOP_BENCH_JSON` (benches/render.py
/// turns those into docs/performance.md's tables). `value` is the CPU-time figure, `wall` the
/// same from the wall clock (higher on a loaded machine).
pub fn report(id: &str, value: f64, wall: Option<f64>, unit: &str, note: &str) {
    let wall_text = wall.map_or(String::new(), |w| format!(" (wall {w:.3})"));
    println!("{id:<40} {value:>14.3} {unit:<10}{wall_text} {note}");
    if let Some(path) = std::env::var_os("DJTOP_BENCH_JSON") {
        let line = serde_json::json!({
            "id": id,
            "value": value,
            "wall": wall,
            "unit": unit,
            "note": note,
            "date": today(),
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("DJTOP_BENCH_JSON is writable");
        writeln!(f, "{line}").unwrap();
    }
}

/// A rate from a count and a sample: (per CPU-second, per wall-second).
pub fn rates(count: f64, s: Sample) -> (f64, f64) {
    (count / s.cpu.as_secs_f64(), count / s.wall.as_secs_f64())
}

/// Milliseconds of a sample: (CPU, wall).
pub fn millis(s: Sample) -> (f64, f64) {
    (s.cpu.as_secs_f64() * 1e3, s.wall.as_secs_f64() * 1e3)
}

/// `YYYY-MM-DD` (UTC), without a date crate.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

/// Scale for quick runs: `DJTOP_BENCH_SCALE=0.1` makes every size ten times smaller.
pub fn scaled(n: usize) -> usize {
    let scale: f64 = std::env::var("DJTOP_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * scale) as usize).max(1)
}
