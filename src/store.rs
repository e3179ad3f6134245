//! The in-memory state built from events: processes, requests and their queries.
//!
//! An N+1 repeats one SQL text and one stack thousands of times, so both are interned: a query
//! row holds ids, and the texts live once. Applying the events of a recording yields exactly the
//! state the live stream built, because both go through [`Store::apply`].

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use crate::protocol::{self, DefValue, Event, Frame, Inline, Lookups};

/// Index of a request in [`Store::requests`].
pub type RequestId = usize;
/// Index of a query in [`Store::queries`].
pub type QueryId = usize;

type Hasher = foldhash::fast::RandomState;
type FastMap<K, V> = HashMap<K, V, Hasher>;

/// Deduplicating table: each distinct value is stored once and named by its index. The hash
/// table holds only ids (compared against `items`), so a value is not kept twice, and a value
/// already present is found by a borrowed key (`&str`, `&[Frame]`) without building an owned one.
pub struct Interner<T> {
    items: Vec<T>,
    table: HashTable<u32>,
    state: Hasher,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            table: HashTable::new(),
            state: Hasher::default(),
        }
    }
}

impl<T> std::fmt::Debug for Interner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interner({} items)", self.items.len())
    }
}

impl<T: Eq + Hash> Interner<T> {
    pub fn intern(&mut self, value: T) -> u32 {
        let hash = self.state.hash_one(&value);
        let items = &self.items;
        if let Some(&id) = self.table.find(hash, |&id| items[id as usize] == value) {
            return id;
        }
        self.insert(hash, value)
    }

    /// Intern by a borrowed key; `make` builds the owned value only when it is new.
    pub fn intern_ref<Q>(&mut self, key: &Q, make: impl FnOnce(&Q) -> T) -> u32
    where
        T: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        let hash = self.state.hash_one(key);
        let items = &self.items;
        if let Some(&id) = self
            .table
            .find(hash, |&id| items[id as usize].borrow() == key)
        {
            return id;
        }
        self.insert(hash, make(key))
    }

    fn insert(&mut self, hash: u64, value: T) -> u32 {
        let id = u32::try_from(self.items.len()).expect("fewer than 2^32 distinct values");
        self.items.push(value);
        let (items, state) = (&self.items, &self.state);
        self.table
            .insert_unique(hash, id, |&i| state.hash_one(&items[i as usize]));
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

/// What a process's `def` id stands for in this store (protocol v2).
#[derive(Debug, Clone)]
enum Resolved {
    Sql(u32),
    Frames(u32),
    Rel(u32),
    /// Interned (model, op) and the lookups text.
    Orm(u32, Option<Box<str>>),
}

/// The ORM call of a query (see [`Store::orm`]): `model` and `op` are interned, the lookups
/// are kept per query as JSON text and parsed here.
#[derive(Debug, Clone, PartialEq)]
pub struct OrmRef<'a> {
    pub model: &'a String,
    pub op: &'a String,
    pub lookups: Option<Lookups>,
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
    /// Interned (model, op) of the ORM call, when the shim knew it (read it with
    /// [`Store::orm`]).
    pub orm: Option<u32>,
    /// The ORM call's lookups as JSON text (`{"pk":7}`): unique per query in a get-per-row
    /// loop, so kept here rather than interned.
    pub orm_lookups: Option<Box<str>>,
    /// Interned [`protocol::Rel`], when a lazy relation access ran the query.
    pub rel: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Store {
    pub processes: Vec<Process>,
    process_index: FastMap<Box<str>, usize>,
    /// The process of the previous event: consecutive events mostly come from one process.
    last_process: Option<usize>,
    pub requests: Vec<Request>,
    /// Per process (same index as `processes`): `rid` → request.
    request_index: Vec<FastMap<Box<str>, RequestId>>,
    /// The request of the previous event: queries come in runs of one request.
    last_request: Option<RequestId>,
    /// Per process: what each `def` id (protocol v2) stands for in this store.
    defs: Vec<FastMap<u64, Resolved>>,
    pub queries: Vec<Query>,
    sql: Interner<Box<str>>,
    stacks: Interner<Vec<Frame>>,
    names: Interner<Box<str>>,
    /// Fingerprint id of each interned SQL text (index = SQL id), computed once per text.
    sql_fingerprint: Vec<u32>,
    fingerprints: Interner<Box<str>>,
    /// (model, op) of ORM calls; the lookups stay with each query.
    orms: Interner<(String, String)>,
    rels: Interner<protocol::Rel>,
    /// Lines the collector or loader could not use, plus queries that named an undefined
    /// `def` id (those are also counted in [`Store::undefined`]).
    pub malformed: u64,
    /// Queries kept with a placeholder because they named a `def` id their process never
    /// defined (a recording cut before the def, a lost line): included in `malformed`.
    pub undefined: u64,
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
        let process = self.process_for(event.sid());
        if let Event::Def(d) = event {
            // Nothing visible changes: a def only names a value for the queries to come.
            self.define(process, d.id, d.value);
            return;
        }
        self.generation += 1;
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
            Event::Query(q) => self.add_query(process, q),
            Event::Drops(d) => {
                let p = &mut self.processes[process];
                p.dropped = p.dropped.max(d.count);
            }
            Event::Disconnect(_) => self.processes[process].connected = false,
            Event::Plan(_) | Event::Def(_) => {}
        }
    }

    fn define(&mut self, process: usize, id: u64, value: DefValue) {
        let resolved = match value {
            DefValue::Sql(sql) => Resolved::Sql(self.intern_sql(sql)),
            DefValue::Frames(frames) => Resolved::Frames(self.stacks.intern(frames)),
            DefValue::Rel(rel) => Resolved::Rel(self.rels.intern(*rel)),
            DefValue::Orm(orm) => {
                let (id, lookups) = self.intern_orm(*orm);
                Resolved::Orm(id, lookups)
            }
        };
        // A def of an id already defined replaces it (the shim sends its defs again on every
        // new connection; another producer may reuse ids).
        self.defs[process].insert(id, resolved);
    }

    fn add_query(&mut self, process: usize, q: protocol::Query) {
        let request = self.request_for(process, &q.rid);
        let mut undefined = false;
        let sql = match q.sql {
            Inline::Value(sql) => self.intern_sql(sql),
            Inline::Id(id) => match self.defs[process].get(&id) {
                Some(&Resolved::Sql(sql)) => sql,
                _ => {
                    undefined = true;
                    self.intern_sql(format!("<undefined sql #{id}>"))
                }
            },
        };
        let stack = self.frames(process, q.stack, &mut undefined);
        let lib = self.frames(process, q.lib, &mut undefined);
        let (orm, orm_lookups) = match q.orm {
            None => (None, None),
            Some(Inline::Value(orm)) => {
                let (id, lookups) = self.intern_orm(*orm);
                (Some(id), lookups)
            }
            Some(Inline::Id(id)) => match self.defs[process].get(&id) {
                Some(Resolved::Orm(orm, lookups)) => (Some(*orm), lookups.clone()),
                _ => {
                    undefined = true;
                    (None, None)
                }
            },
        };
        let rel = match q.rel {
            None => None,
            Some(Inline::Value(rel)) => Some(self.rels.intern(*rel)),
            Some(Inline::Id(id)) => match self.defs[process].get(&id) {
                Some(&Resolved::Rel(rel)) => Some(rel),
                _ => {
                    undefined = true;
                    None
                }
            },
        };
        if undefined {
            self.undefined += 1;
            self.malformed += 1;
        }
        let query = Query {
            request,
            qid: q.qid,
            alias: self.names.intern_ref(q.alias.as_str(), |s: &str| s.into()),
            vendor: self.names.intern_ref(q.vendor.as_str(), |s: &str| s.into()),
            sql,
            params: q
                .params
                .map_or_else(|| "null".into(), protocol::RawJson::into_compact),
            many: q.many,
            ts: q.ts,
            ms: q.ms,
            rows: q.rows.filter(|r| *r >= 0),
            stack,
            lib,
            error: q.error.map(String::into_boxed_str),
            orm,
            orm_lookups,
            rel,
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

    /// A stack or library frames, inline or by def id (an undefined id: empty, flagged).
    fn frames(&mut self, process: usize, frames: Inline<Vec<Frame>>, undefined: &mut bool) -> u32 {
        match frames {
            Inline::Value(frames) => self.stacks.intern_ref(frames.as_slice(), <[Frame]>::to_vec),
            Inline::Id(id) => match self.defs[process].get(&id) {
                Some(&Resolved::Frames(frames)) => frames,
                _ => {
                    *undefined = true;
                    self.stacks.intern_ref(&[][..], <[Frame]>::to_vec)
                }
            },
        }
    }

    fn intern_orm(&mut self, orm: protocol::Orm) -> (u32, Option<Box<str>>) {
        let id = self.orms.intern((orm.model, orm.op));
        (id, orm.lookups.map(|l| l.0 .0))
    }

    /// Forget requests and queries (the `c` key); processes stay, with their counters and
    /// their `def` ids (re-interned into the emptied tables: later queries still name them).
    pub fn clear(&mut self) {
        let old = std::mem::take(self);
        let processes = old.processes.len();
        *self = Store {
            processes: old.processes,
            process_index: old.process_index,
            request_index: (0..processes).map(|_| FastMap::default()).collect(),
            generation: old.generation + 1,
            ..Store::default()
        };
        let mut defs = Vec::with_capacity(processes);
        for table in &old.defs {
            let mut new = FastMap::default();
            for (&id, r) in table {
                let r = match r {
                    Resolved::Sql(x) => Resolved::Sql(self.intern_sql(old.sql.get(*x).to_string())),
                    Resolved::Frames(x) => {
                        Resolved::Frames(self.stacks.intern(old.stacks.get(*x).clone()))
                    }
                    Resolved::Rel(x) => Resolved::Rel(self.rels.intern(old.rels.get(*x).clone())),
                    Resolved::Orm(x, lookups) => {
                        Resolved::Orm(self.orms.intern(old.orms.get(*x).clone()), lookups.clone())
                    }
                };
                new.insert(id, r);
            }
            defs.push(new);
        }
        self.defs = defs;
    }

    fn process_for(&mut self, sid: &str) -> usize {
        if let Some(i) = self.last_process.filter(|&i| self.processes[i].sid == sid) {
            return i;
        }
        let i = match self.process_index.get(sid) {
            Some(&i) => i,
            None => {
                let i = self.processes.len();
                self.processes.push(Process::unknown(sid));
                self.process_index.insert(sid.into(), i);
                self.request_index.push(FastMap::default());
                self.defs.push(FastMap::default());
                i
            }
        };
        self.last_process = Some(i);
        i
    }

    /// The request for `rid`, created on first sight: a query may arrive before its request
    /// event was seen (a lost line, a recording cut short) and must not be lost.
    fn request_for(&mut self, process: usize, rid: &str) -> RequestId {
        if let Some(i) = self.last_request.filter(|&i| {
            let r = &self.requests[i];
            r.process == process && r.rid == rid
        }) {
            return i;
        }
        let i = match self.request_index[process].get(rid) {
            Some(&i) => i,
            None => {
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
                self.request_index[process].insert(rid.into(), i);
                i
            }
        };
        self.last_request = Some(i);
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

    /// The ORM call that ran the query: `model` and `op`, and its lookups parsed from the
    /// text kept with the query.
    pub fn orm(&self, q: &Query) -> Option<OrmRef<'_>> {
        q.orm.map(|id| {
            let (model, op) = self.orms.get(id);
            OrmRef {
                model,
                op,
                lookups: q.orm_lookups.as_deref().and_then(Lookups::parse),
            }
        })
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
pub(crate) mod tests {
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

    /// Everything analysis and the UI can read, as text (times rounded to the microsecond).
    pub(crate) fn describe(store: &Store) -> Vec<String> {
        let mut out = Vec::new();
        for p in &store.processes {
            out.push(format!(
                "process {} {:?} {:?} {} hellos={} events={} dropped={} connected={}",
                p.sid,
                p.pid,
                p.argv,
                p.models.len(),
                p.hellos,
                p.events,
                p.dropped,
                p.connected
            ));
        }
        for r in &store.requests {
            out.push(format!(
                "request {} {} {} {:?} {} ts={:.6} {:?} {:?} {:?} {:?} ended={} queries={:?} sql_ms={:.6}",
                r.process, r.rid, r.kind, r.method, r.path, r.ts, r.status, r.route, r.view,
                r.ms, r.ended, r.queries, r.sql_ms
            ));
        }
        for q in &store.queries {
            out.push(format!(
                "query {} {} {} {} sql={:?} fp={} params={} many={} ts={:.6} ms={:.6} rows={:?} \
                 stack={:?} lib={:?} error={:?} orm={:?} rel={:?}",
                q.request,
                q.qid,
                store.alias(q),
                store.vendor(q),
                store.sql(q),
                store.fingerprint_text(q),
                q.params,
                q.many,
                q.ts,
                q.ms,
                q.rows,
                store.stack(q),
                store.library_frames(q),
                q.error,
                store.orm(q),
                store.rel(q)
            ));
        }
        out.push(format!("unique sql {}", store.unique_sql()));
        out.push(format!(
            "malformed {} undefined {}",
            store.malformed, store.undefined
        ));
        out
    }

    const EXAMPLES: &str = include_str!("../tests/protocol/examples.ndjson");
    const EXAMPLES_V2: &str = include_str!("../tests/protocol/examples-v2.ndjson");
    /// The request that examples-v2.ndjson adds after the `end` of request 17, in v1 form.
    const EXTRA_V1: &str = r##"{"type":"request","sid":"5f0c2a9e1b7d4c33","rid":"5f0c2a9e1b7d4c33-18","kind":"http","method":"GET","path":"/authors/","ts":1763730002.0}
{"type":"query","sid":"5f0c2a9e1b7d4c33","rid":"5f0c2a9e1b7d4c33-18","qid":305,"alias":"default","vendor":"sqlite","sql":"SELECT \"blog_author\".\"id\", \"blog_author\".\"name\" FROM \"blog_author\" WHERE \"blog_author\".\"id\" = %s LIMIT 21","params":[7],"many":false,"ts":1763730002.0001,"ms":0.05,"rows":1,"stack":[["blog/views.py",27,"article_list"],["blog/templatetags/x.py",8,"author_name"]],"lib":[["django/db/models/query.py",631,"get"],["django/db/models/fields/related_descriptors.py",224,"get_object"]],"error":null,"orm":{"model":"blog.Author","op":"get","lookups":{"pk":7}},"rel":{"model":"blog.Article","field":"author","kind":"fk","target":"blog.Author","op":"load","origin":{"how":"queryset","model":"blog.Article","site":["blog/views.py",25,"article_list"],"rows":30,"qid":301}}}
{"type":"query","sid":"5f0c2a9e1b7d4c33","rid":"5f0c2a9e1b7d4c33-18","qid":306,"alias":"default","vendor":"sqlite","sql":"SELECT \"blog_author\".\"id\" FROM \"blog_author\" WHERE \"blog_author\".\"id\" = %s","params":[8],"many":false,"ts":1763730002.0002,"ms":0.06,"rows":1,"stack":[["blog/views.py",25,"article_list"]],"error":null,"orm":{"model":"blog.Author","op":"get","lookups":{"pk":8}},"rel":{"model":"blog.Article","field":"author","kind":"fk","target":"blog.Author","op":"load","origin":{"how":"queryset","model":"blog.Article","site":["blog/views.py",25,"article_list"],"rows":30,"qid":301}}}
{"type":"end","sid":"5f0c2a9e1b7d4c33","rid":"5f0c2a9e1b7d4c33-18","status":200,"route":"authors/","view":"blog.views.author_list","ms":3.5,"async":false}
"##;

    #[test]
    fn v1_and_v2_streams_of_the_same_events_build_the_same_store() {
        let mut v1 = String::new();
        for (i, line) in EXAMPLES.lines().enumerate() {
            v1.push_str(line);
            v1.push('\n');
            if i == 7 {
                v1.push_str(EXTRA_V1);
            }
        }
        let (a, b) = (load(&v1), load(EXAMPLES_V2));
        assert_eq!(describe(&a), describe(&b));
        assert_eq!(a.queries.len(), 6);
        let q = &b.queries[4];
        let orm = b.orm(q).unwrap();
        assert_eq!(
            (orm.model.as_str(), orm.op.as_str()),
            ("blog.Author", "get")
        );
        assert_eq!(
            orm.lookups.unwrap().0,
            vec![("pk".to_owned(), "7".to_owned())]
        );
        assert_eq!(b.rel(q).unwrap().field, "author");
        assert_eq!(b.library_frames(q).len(), 2);
        let redefined = &b.queries[5];
        assert!(b.sql(redefined).ends_with("= %s"), "a def replaces its id");
        assert_eq!(b.orms.len(), 1, "(model, op) interned once");
        assert_eq!(b.malformed, 0);
    }

    #[test]
    fn undefined_references_keep_the_query_with_a_placeholder_and_are_counted() {
        let store = load(concat!(
            r#"{"type":"def","sid":"a","id":1,"sql":"SELECT 1"}"#,
            "\n",
            r#"{"type":"query","sid":"a","rid":"a-1","qid":1,"alias":"default","vendor":"sqlite","sql_id":7,"ts_ns":1000000000,"dur_ns":1000,"stack_id":1,"lib_id":8,"rel_id":9,"orm_id":1}"#,
            "\n",
            r#"{"type":"query","sid":"never-seen","rid":"b-1","qid":2,"alias":"default","vendor":"sqlite","sql_id":1,"ts_ns":1000000000,"dur_ns":1000}"#,
            "\n",
            r#"{"type":"query","sid":"a","rid":"a-1","qid":3,"alias":"default","vendor":"sqlite","sql_id":1,"ts_ns":1000000000,"dur_ns":1000}"#,
        ));
        assert_eq!(store.queries.len(), 3, "nothing lost");
        let q = &store.queries[0];
        assert_eq!(store.sql(q), "<undefined sql #7>");
        assert!(store.stack(q).is_empty() && store.library_frames(q).is_empty());
        assert!(store.orm(q).is_none() && store.rel(q).is_none());
        assert_eq!(
            store.sql(&store.queries[1]),
            "<undefined sql #1>",
            "ids are per sid"
        );
        assert_eq!(store.sql(&store.queries[2]), "SELECT 1");
        assert_eq!((store.undefined, store.malformed), (2, 2));
        assert_eq!(store.processes.len(), 2);
        assert_eq!(
            store.processes[0].events, 2,
            "a def is not an event of the process"
        );
    }

    #[test]
    fn defs_survive_clear() {
        let mut store = load(EXAMPLES_V2);
        store.clear();
        let line = r#"{"type":"query","sid":"5f0c2a9e1b7d4c33","rid":"r","qid":9,"alias":"default","vendor":"sqlite","sql_id":2,"ts_ns":1,"dur_ns":1,"stack_id":3,"rel_id":5,"orm_id":6}"#;
        store.apply(parse_line(line.as_bytes()).unwrap());
        let q = &store.queries[0];
        assert!(store
            .sql(q)
            .starts_with(r#"SELECT "blog_author"."id", "blog_author"."name""#));
        assert_eq!(store.stack(q)[0].line(), 27);
        assert_eq!(store.rel(q).unwrap().field, "author");
        assert_eq!(store.orm(q).unwrap().model, "blog.Author");
        assert_eq!(store.malformed, 0);
    }

    #[test]
    fn interner_keeps_each_value_once_and_finds_borrowed_keys() {
        let mut i: Interner<Box<str>> = Interner::default();
        let a = i.intern("x".into());
        assert_eq!(i.intern_ref("x", |_| unreachable!("already interned")), a);
        let b = i.intern_ref("y", |s: &str| s.into());
        assert_ne!(a, b);
        for n in 0..10_000 {
            i.intern(n.to_string().into_boxed_str());
        }
        assert_eq!(i.intern_ref("y", |_| unreachable!()), b);
        assert_eq!(&**i.get(b), "y");
        assert_eq!(i.len(), 10_002);
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
