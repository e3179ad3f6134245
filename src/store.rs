//! The in-memory state built from events: processes, requests and their queries.
//!
//! An N+1 repeats one SQL text and one stack thousands of times, so both are interned: a query
//! row holds ids, and the texts live once. Applying the events of a recording yields exactly the
//! state the live stream built, because both go through [`Store::apply`].

use std::collections::HashMap;
use std::hash::Hash;

use crate::protocol::{self, Event, Frame};

/// Index of a request in [`Store::requests`].
pub type RequestId = usize;
/// Index of a query in [`Store::queries`].
pub type QueryId = usize;

/// Deduplicating table: each distinct value is stored once and named by its index.
#[derive(Debug)]
pub struct Interner<T: Eq + Hash + Clone> {
    items: Vec<T>,
    index: HashMap<T, u32>,
}

impl<T: Eq + Hash + Clone> Default for Interner<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: Eq + Hash + Clone> Interner<T> {
    pub fn intern(&mut self, value: T) -> u32 {
        if let Some(&id) = self.index.get(&value) {
            return id;
        }
        let id = self.items.len() as u32;
        self.items.push(value.clone());
        self.index.insert(value, id);
        id
    }

    pub fn get(&self, id: u32) -> &T {
        &self.items[id as usize]
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct Process {
    pub sid: String,
    pub pid: Option<u32>,
    pub argv: Vec<String>,
    pub django: Option<String>,
    pub python: Option<String>,
    pub databases: Vec<protocol::Database>,
    pub root: Option<String>,
    pub models: std::collections::BTreeMap<String, String>,
    pub connected: bool,
    /// How many times a `hello` arrived for this sid (1 = first connect).
    pub hellos: u32,
    pub events: u64,
    pub dropped: u64,
}

impl Process {
    fn unknown(sid: &str) -> Self {
        Self {
            sid: sid.to_owned(),
            pid: None,
            argv: Vec::new(),
            django: None,
            python: None,
            databases: Vec::new(),
            root: None,
            models: Default::default(),
            connected: true,
            hellos: 0,
            events: 0,
            dropped: 0,
        }
    }

    /// A short label: `runserver (4242)`.
    pub fn label(&self) -> String {
        let what = self
            .argv
            .iter()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .or(self.argv.first())
            .map(|s| s.rsplit('/').next().unwrap_or(s).to_owned())
            .unwrap_or_else(|| "?".to_owned());
        match self.pid {
            Some(pid) => format!("{what} ({pid})"),
            None => what,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub process: usize,
    pub rid: String,
    /// `http`, `command`, `thread` or `startup`.
    pub kind: String,
    pub method: Option<String>,
    pub path: String,
    pub ts: f64,
    pub status: Option<u16>,
    pub route: Option<String>,
    pub view: Option<String>,
    /// Wall time of the request, known once it ended.
    pub ms: Option<f64>,
    pub is_async: bool,
    pub ended: bool,
    pub queries: Vec<QueryId>,
    pub sql_ms: f64,
}

impl Request {
    pub fn is_http(&self) -> bool {
        self.kind == "http"
    }
}

#[derive(Debug, Clone)]
pub struct Query {
    pub request: RequestId,
    pub qid: u64,
    pub alias: u32,
    pub vendor: u32,
    pub sql: u32,
    /// Params as compact JSON text (`null` for executemany).
    pub params: Box<str>,
    pub many: bool,
    pub ts: f64,
    pub ms: f64,
    pub rows: Option<i64>,
    pub stack: u32,
    /// Interned library frames (see [`protocol::Query::lib`]).
    pub lib: u32,
    pub error: Option<Box<str>>,
    /// Interned [`protocol::Orm`], when the shim knew the ORM call.
    pub orm: Option<u32>,
    /// Interned [`protocol::Rel`], when a lazy relation access ran the query.
    pub rel: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Store {
    pub processes: Vec<Process>,
    process_index: HashMap<String, usize>,
    pub requests: Vec<Request>,
    request_index: HashMap<(usize, String), RequestId>,
    pub queries: Vec<Query>,
    sql: Interner<Box<str>>,
    stacks: Interner<Vec<Frame>>,
    names: Interner<Box<str>>,
    /// Fingerprint id of each interned SQL text (index = SQL id), computed once per text.
    sql_fingerprint: Vec<u32>,
    fingerprints: Interner<Box<str>>,
    orms: Interner<protocol::Orm>,
    rels: Interner<protocol::Rel>,
    /// Lines the collector or loader could not use.
    pub malformed: u64,
    /// Bumped on every change so views can tell when to rebuild.
    pub generation: u64,
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&mut self, event: Event) {
        if matches!(event, Event::Plan(_)) {
            // Answers to EXPLAIN requests belong to whoever asked (the UI), not to the store.
            return;
        }
        self.generation += 1;
        let process = self.process_for(event.sid());
        self.processes[process].events += 1;
        match event {
            Event::Hello(h) => {
                let p = &mut self.processes[process];
                p.pid = Some(h.pid);
                p.argv = h.argv;
                p.django = h.django;
                p.python = h.python;
                p.databases = h.databases;
                p.root = h.root;
                p.models = h.models;
                p.connected = true;
                p.hellos += 1;
            }
            Event::Request(r) => {
                let id = self.request_for(process, &r.rid);
                let req = &mut self.requests[id];
                req.kind = r.kind;
                req.method = r.method;
                req.path = r.path;
                req.ts = r.ts;
            }
            Event::End(e) => {
                let id = self.request_for(process, &e.rid);
                let req = &mut self.requests[id];
                req.status = e.status;
                req.route = e.route;
                req.view = e.view;
                req.ms = Some(e.ms);
                req.is_async = e.is_async;
                req.ended = true;
            }
            Event::Query(q) => {
                let request = self.request_for(process, &q.rid);
                let params = match &q.params {
                    Some(v) => v.to_string().into_boxed_str(),
                    None => "null".into(),
                };
                let query = Query {
                    request,
                    qid: q.qid,
                    alias: self.names.intern(q.alias.into_boxed_str()),
                    vendor: self.names.intern(q.vendor.into_boxed_str()),
                    sql: self.intern_sql(q.sql),
                    params,
                    many: q.many,
                    ts: q.ts,
                    ms: q.ms,
                    rows: q.rows.filter(|r| *r >= 0),
                    stack: self.stacks.intern(q.stack),
                    lib: self.stacks.intern(q.lib),
                    error: q.error.map(String::into_boxed_str),
                    orm: q.orm.map(|o| self.orms.intern(o)),
                    rel: q.rel.map(|r| self.rels.intern(r)),
                };
                let id = self.queries.len();
                let req = &mut self.requests[request];
                req.queries.push(id);
                req.sql_ms += query.ms;
                if req.ts == 0.0 || query.ts < req.ts {
                    req.ts = query.ts;
                }
                self.queries.push(query);
            }
            Event::Drops(d) => {
                let p = &mut self.processes[process];
                p.dropped = p.dropped.max(d.count);
            }
            Event::Disconnect(_) => self.processes[process].connected = false,
            Event::Plan(_) => {}
        }
    }

    /// Forget requests and queries (the `c` key); processes stay, with their counters.
    pub fn clear(&mut self) {
        let processes = std::mem::take(&mut self.processes);
        let process_index = std::mem::take(&mut self.process_index);
        let generation = self.generation + 1;
        *self = Store {
            processes,
            process_index,
            generation,
            ..Store::default()
        };
    }

    fn process_for(&mut self, sid: &str) -> usize {
        if let Some(&i) = self.process_index.get(sid) {
            return i;
        }
        let i = self.processes.len();
        self.processes.push(Process::unknown(sid));
        self.process_index.insert(sid.to_owned(), i);
        i
    }

    /// The request for `rid`, created on first sight: a query may arrive before its request
    /// event was seen (a lost line, a recording cut short) and must not be lost.
    fn request_for(&mut self, process: usize, rid: &str) -> RequestId {
        if let Some(&i) = self.request_index.get(&(process, rid.to_owned())) {
            return i;
        }
        let i = self.requests.len();
        self.requests.push(Request {
            process,
            rid: rid.to_owned(),
            kind: "http".to_owned(),
            method: None,
            path: rid.to_owned(),
            ts: 0.0,
            status: None,
            route: None,
            view: None,
            ms: None,
            is_async: false,
            ended: false,
            queries: Vec::new(),
            sql_ms: 0.0,
        });
        self.request_index.insert((process, rid.to_owned()), i);
        i
    }

    fn intern_sql(&mut self, sql: String) -> u32 {
        let id = self.sql.intern(sql.into_boxed_str());
        if id as usize == self.sql_fingerprint.len() {
            let fp = crate::analysis::fingerprint(self.sql.get(id));
            let fp_id = self.fingerprints.intern(fp.into_boxed_str());
            self.sql_fingerprint.push(fp_id);
        }
        id
    }

    /// The id of the query's fingerprint: equal ids mean similar queries.
    pub fn fingerprint_id(&self, q: &Query) -> u32 {
        self.sql_fingerprint[q.sql as usize]
    }

    pub fn fingerprint_text(&self, q: &Query) -> &str {
        self.fingerprints.get(self.fingerprint_id(q))
    }

    pub fn sql(&self, q: &Query) -> &str {
        self.sql.get(q.sql)
    }

    pub fn stack(&self, q: &Query) -> &[Frame] {
        self.stacks.get(q.stack)
    }

    /// Library frames between the database call and the first application frame.
    pub fn library_frames(&self, q: &Query) -> &[Frame] {
        self.stacks.get(q.lib)
    }

    pub fn orm(&self, q: &Query) -> Option<&protocol::Orm> {
        q.orm.map(|id| self.orms.get(id))
    }

    pub fn rel(&self, q: &Query) -> Option<&protocol::Rel> {
        q.rel.map(|id| self.rels.get(id))
    }

    pub fn alias(&self, q: &Query) -> &str {
        self.names.get(q.alias)
    }

    pub fn vendor(&self, q: &Query) -> &str {
        self.names.get(q.vendor)
    }

    /// Distinct SQL texts stored.
    pub fn unique_sql(&self) -> usize {
        self.sql.len()
    }

    pub fn request_queries(&self, id: RequestId) -> impl Iterator<Item = &Query> {
        self.requests[id].queries.iter().map(|&q| &self.queries[q])
    }

    pub fn dropped(&self) -> u64 {
        self.processes.iter().map(|p| p.dropped).sum()
    }

    pub fn connected(&self) -> usize {
        self.processes.iter().filter(|p| p.connected).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_line;

    fn load(text: &str) -> Store {
        let mut store = Store::new();
        for line in text.lines() {
            store.apply(parse_line(line.as_bytes()).unwrap());
        }
        store
    }

    #[test]
    fn examples_build_requests_queries_and_processes() {
        let store = load(include_str!("../tests/protocol/examples.ndjson"));
        assert_eq!(store.processes.len(), 1);
        let p = &store.processes[0];
        assert_eq!(p.pid, Some(4242));
        assert_eq!(p.dropped, 12);
        assert!(!p.connected, "disconnect marks the process gone");
        assert_eq!(p.label(), "runserver (4242)");

        assert_eq!(store.requests.len(), 2);
        let r = &store.requests[1];
        assert_eq!(r.path, "/articles/?page=2");
        assert_eq!(r.status, Some(200));
        assert_eq!(r.route.as_deref(), Some("articles/"));
        assert_eq!(r.queries.len(), 4);
        assert!((r.sql_ms - (0.21 + 0.084 + 0.3 + 0.05)).abs() < 1e-9);
        let q = &store.queries[r.queries[1]];
        assert_eq!(store.stack(q)[0].line(), 27);
        assert_eq!(&*q.params, "[3]");
        assert_eq!(
            store.queries[r.queries[0]].rows, None,
            "-1 rowcount means unknown"
        );
        assert_eq!(&*store.queries[r.queries[2]].params, "null");
    }

    #[test]
    fn sql_and_stacks_are_interned() {
        let mut store = Store::new();
        let q = r#"{"type":"query","sid":"s","rid":"s-1","qid":QID,"alias":"default","vendor":"sqlite","sql":"SELECT 1 WHERE x = %s","params":[QID],"ts":1.0,"ms":0.1,"stack":[["a.py",1,"f"]]}"#;
        for i in 0..1000 {
            let line = q.replace("QID", &i.to_string());
            store.apply(parse_line(line.as_bytes()).unwrap());
        }
        assert_eq!(store.queries.len(), 1000);
        assert_eq!(store.unique_sql(), 1);
        assert_eq!(
            store.stacks.len(),
            2,
            "one stack, one (empty) list of library frames"
        );
    }

    #[test]
    fn clear_keeps_processes_and_forgets_the_rest() {
        let mut store = load(include_str!("../tests/protocol/examples.ndjson"));
        store.clear();
        assert!(store.requests.is_empty() && store.queries.is_empty());
        assert_eq!(store.unique_sql(), 0);
        assert_eq!(store.processes.len(), 1);
        assert_eq!(store.dropped(), 12);
    }

    #[test]
    fn query_before_its_request_is_kept() {
        let store = load(
            r#"{"type":"query","sid":"s","rid":"s-9","qid":1,"alias":"default","vendor":"sqlite","sql":"SELECT 1","ts":5.0,"ms":1.0}"#,
        );
        assert_eq!(store.requests.len(), 1);
        assert_eq!(store.requests[0].queries.len(), 1);
        assert_eq!(store.processes[0].pid, None);
    }
}
