//! The NDJSON wire (docs/protocol.md): one event per line, tagged by `type`.
//!
//! Parsing is strict about required fields and lenient about extra ones, so a newer shim
//! that adds fields still talks to this collector, and a broken line is skipped, not fatal.

use serde::{Deserialize, Serialize};

/// Protocol version this collector speaks (`hello.v`).
pub const PROTOCOL_VERSION: u32 = 2;

/// Lines longer than this are skipped and counted as malformed.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

// Query is the large variant and nearly every event is one: boxing it would add an allocation
// per query for nothing.
//
// Read lines with [`parse_line`], not through a `Deserialize` of this enum: serde's tagged
// enums buffer the line into a `Content` tree first, which is slow and cannot hold the
// `RawValue`s that params and lookups are kept in (so the derive is left out on purpose).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Hello(Hello),
    Request(RequestStart),
    End(RequestEnd),
    Query(Query),
    Drops(Drops),
    Disconnect(Disconnect),
    /// The answer to an [`Explain`] request (docs/explain.md).
    Plan(Plan),
    /// Protocol v2: a value later `query` events of the process name by id.
    Def(Def),
}

impl Event {
    /// The session id of the process the event belongs to.
    pub fn sid(&self) -> &str {
        match self {
            Event::Hello(e) => &e.sid,
            Event::Request(e) => &e.sid,
            Event::End(e) => &e.sid,
            Event::Query(e) => &e.sid,
            Event::Drops(e) => &e.sid,
            Event::Disconnect(e) => &e.sid,
            Event::Plan(e) => &e.sid,
            Event::Def(e) => &e.sid,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Database {
    pub alias: String,
    pub vendor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub v: u32,
    pub sid: String,
    pub pid: u32,
    #[serde(default)]
    pub ppid: Option<u32>,
    #[serde(default)]
    pub argv: Vec<String>,
    #[serde(default)]
    pub django: Option<String>,
    #[serde(default)]
    pub python: Option<String>,
    #[serde(default)]
    pub databases: Vec<Database>,
    #[serde(default)]
    pub root: Option<String>,
    /// Table → model label (`blog_book` → `blog.Book`), to name models from SQL alone.
    #[serde(default)]
    pub models: std::collections::BTreeMap<String, String>,
    pub ts: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestStart {
    pub sid: String,
    pub rid: String,
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default)]
    pub method: Option<String>,
    pub path: String,
    pub ts: f64,
}

fn default_kind() -> String {
    "http".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEnd {
    pub sid: String,
    pub rid: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub view: Option<String>,
    #[serde(deserialize_with = "duration")]
    pub ms: f64,
    #[serde(default, rename = "async")]
    pub is_async: bool,
}

/// The longest duration taken as real: a day. A negative, infinite or larger one is a
/// malformed event (summed, it would make every total wrong).
pub const MAX_MS: f64 = 86_400_000.0;

fn check_duration(ms: f64) -> Result<(), String> {
    if ms.is_finite() && (0.0..=MAX_MS).contains(&ms) {
        Ok(())
    } else {
        Err(format!("duration {ms} ms is out of range (0 to {MAX_MS})"))
    }
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let ms = f64::deserialize(d)?;
    check_duration(ms).map_err(serde::de::Error::custom)?;
    Ok(ms)
}

/// One application frame: `[file, line, function]` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Frame(pub String, pub u32, pub String);

impl Frame {
    pub fn file(&self) -> &str {
        &self.0
    }
    pub fn line(&self) -> u32 {
        self.1
    }
    pub fn function(&self) -> &str {
        &self.2
    }
}

/// A value a `query` carries either inline (v1) or as a reference to an earlier `def` of the
/// same process (v2: `sql_id`, `stack_id`, `lib_id`, `rel_id`, `orm_id`).
#[derive(Debug, Clone, PartialEq)]
pub enum Inline<T> {
    Value(T),
    Id(u64),
}

impl<T> Inline<T> {
    fn from_pair(value: Option<T>, id: Option<u64>, name: &str) -> Result<Option<Self>, String> {
        match (value, id) {
            (Some(_), Some(_)) => Err(format!("both {name} and {name}_id")),
            (Some(v), None) => Ok(Some(Inline::Value(v))),
            (None, Some(id)) => Ok(Some(Inline::Id(id))),
            (None, None) => Ok(None),
        }
    }

    fn into_pair(self) -> (Option<T>, Option<u64>) {
        match self {
            Inline::Value(v) => (Some(v), None),
            Inline::Id(id) => (None, Some(id)),
        }
    }
}

/// JSON kept as its text (params, ORM lookups): nothing on the hot path needs it as a tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawJson(pub Box<str>);

impl RawJson {
    pub fn get(&self) -> &str {
        &self.0
    }

    /// The compact text `serde_json` would write for this value. The shim writes compact
    /// JSON already, so the text is kept as received unless it may differ (whitespace, escapes,
    /// exponents, objects whose keys serde_json would sort).
    pub fn into_compact(self) -> Box<str> {
        if is_compact(self.0.as_bytes()) {
            return self.0;
        }
        match serde_json::from_str::<serde_json::Value>(&self.0) {
            Ok(v) => v.to_string().into_boxed_str(),
            Err(_) => self.0,
        }
    }
}

fn is_compact(bytes: &[u8]) -> bool {
    let mut in_string = false;
    let mut prev = 0u8;
    for &b in bytes {
        if in_string {
            match b {
                b'\\' => return false,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b' ' | b'\t' | b'\n' | b'\r' | b'{' => return false,
                b'e' | b'E' if prev.is_ascii_digit() || prev == b'.' => return false,
                _ => {}
            }
        }
        prev = b;
    }
    true
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.0.to_string()) {
            Ok(raw) => raw.serialize(s),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        Ok(RawJson(raw.into()))
    }
}

/// One `query` event. On the wire each of `sql`, `stack`, `lib`, `rel`, `orm` comes inline
/// or as an id (`sql_id`, …) defined by an earlier `def`, and times as float seconds and
/// milliseconds (`ts`, `ms`) or integer nanoseconds (`ts_ns`, `dur_ns`); `ts` and `ms` here are
/// always seconds and milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "QueryWire", into = "QueryWire")]
pub struct Query {
    pub sid: String,
    pub rid: String,
    pub qid: u64,
    pub alias: String,
    pub vendor: String,
    pub sql: Inline<String>,
    /// Kept as JSON text: the UI shows them and EXPLAIN/yank interpolate them; nothing else
    /// reads them.
    pub params: Option<RawJson>,
    pub many: bool,
    pub ts: f64,
    pub ms: f64,
    pub rows: Option<i64>,
    pub stack: Inline<Vec<Frame>>,
    /// Django/library frames between the database call and the first application frame,
    /// innermost first (how the ORM got from your line to the SQL).
    pub lib: Inline<Vec<Frame>>,
    pub error: Option<String>,
    /// The ORM call that ran the statement, when the shim knows it.
    pub orm: Option<Inline<Box<Orm>>>,
    /// The lazy relation access that ran the statement, when there was one.
    pub rel: Option<Inline<Box<Rel>>>,
}

/// `query` as it is on the wire (v1 and v2 fields side by side).
#[derive(Serialize, Deserialize)]
struct QueryWire {
    sid: String,
    rid: String,
    qid: u64,
    alias: String,
    vendor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sql: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sql_id: Option<u64>,
    #[serde(default)]
    params: Option<RawJson>,
    #[serde(default)]
    many: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dur_ns: Option<u64>,
    #[serde(default)]
    rows: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stack: Option<Vec<Frame>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stack_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lib: Option<Vec<Frame>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lib_id: Option<u64>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    orm: Option<Box<Orm>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    orm_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rel: Option<Box<Rel>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rel_id: Option<u64>,
}

impl TryFrom<QueryWire> for Query {
    type Error = String;

    fn try_from(w: QueryWire) -> Result<Self, String> {
        let ts = match (w.ts, w.ts_ns) {
            (Some(ts), None) => ts,
            (None, Some(ns)) => ns as f64 / 1e9,
            (Some(_), Some(_)) => return Err("both ts and ts_ns".into()),
            (None, None) => return Err("missing field `ts`".into()),
        };
        let ms = match (w.ms, w.dur_ns) {
            (Some(ms), None) => ms,
            (None, Some(ns)) => ns as f64 / 1e6,
            (Some(_), Some(_)) => return Err("both ms and dur_ns".into()),
            (None, None) => return Err("missing field `ms`".into()),
        };
        check_duration(ms)?;
        let sql = Inline::from_pair(w.sql, w.sql_id, "sql")?.ok_or("missing field `sql`")?;
        let empty = || Inline::Value(Vec::new());
        Ok(Query {
            sid: w.sid,
            rid: w.rid,
            qid: w.qid,
            alias: w.alias,
            vendor: w.vendor,
            sql,
            params: w.params,
            many: w.many,
            ts,
            ms,
            rows: w.rows,
            stack: Inline::from_pair(w.stack, w.stack_id, "stack")?.unwrap_or_else(empty),
            lib: Inline::from_pair(w.lib, w.lib_id, "lib")?.unwrap_or_else(empty),
            error: w.error,
            orm: Inline::from_pair(w.orm, w.orm_id, "orm")?,
            rel: Inline::from_pair(w.rel, w.rel_id, "rel")?,
        })
    }
}

impl From<Query> for QueryWire {
    fn from(q: Query) -> Self {
        let (sql, sql_id) = q.sql.into_pair();
        let (stack, stack_id) = q.stack.into_pair();
        let (lib, lib_id) = q.lib.into_pair();
        let (orm, orm_id) = q.orm.map_or((None, None), Inline::into_pair);
        let (rel, rel_id) = q.rel.map_or((None, None), Inline::into_pair);
        QueryWire {
            sid: q.sid,
            rid: q.rid,
            qid: q.qid,
            alias: q.alias,
            vendor: q.vendor,
            sql,
            sql_id,
            params: q.params,
            many: q.many,
            ts: Some(q.ts),
            ts_ns: None,
            ms: Some(q.ms),
            dur_ns: None,
            rows: q.rows,
            stack,
            stack_id,
            lib: lib.filter(|l| !l.is_empty()),
            lib_id,
            error: q.error,
            orm,
            orm_id,
            rel,
            rel_id,
        }
    }
}

/// `def` (protocol v2): a value a process's later `query` events name by `id`. One id space
/// per `sid`, shared by every kind; a def of an id already defined replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DefWire", into = "DefWire")]
pub struct Def {
    pub sid: String,
    pub id: u64,
    pub value: DefValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DefValue {
    Sql(String),
    /// A list of frames: used by `stack_id` and `lib_id` alike.
    Frames(Vec<Frame>),
    Rel(Box<Rel>),
    Orm(Box<Orm>),
}

#[derive(Serialize, Deserialize)]
struct DefWire {
    sid: String,
    id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sql: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frames: Option<Vec<Frame>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rel: Option<Box<Rel>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    orm: Option<Box<Orm>>,
}

impl TryFrom<DefWire> for Def {
    type Error = String;

    fn try_from(w: DefWire) -> Result<Self, String> {
        let mut values = [
            w.sql.map(DefValue::Sql),
            w.frames.map(DefValue::Frames),
            w.rel.map(DefValue::Rel),
            w.orm.map(DefValue::Orm),
        ]
        .into_iter()
        .flatten();
        let value = values
            .next()
            .ok_or("def without a value (sql, frames, rel or orm)")?;
        if values.next().is_some() {
            return Err("def with more than one value".into());
        }
        Ok(Def {
            sid: w.sid,
            id: w.id,
            value,
        })
    }
}

impl From<Def> for DefWire {
    fn from(d: Def) -> Self {
        let mut w = DefWire {
            sid: d.sid,
            id: d.id,
            sql: None,
            frames: None,
            rel: None,
            orm: None,
        };
        match d.value {
            DefValue::Sql(s) => w.sql = Some(s),
            DefValue::Frames(f) => w.frames = Some(f),
            DefValue::Rel(r) => w.rel = Some(r),
            DefValue::Orm(o) => w.orm = Some(o),
        }
        w
    }
}

/// Keyword lookups (`{"pk": 7}`), kept as `(name, JSON text)` pairs so they hash and compare.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Lookups(pub Vec<(String, String)>);

impl Serialize for Lookups {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.0 {
            map.insert(
                k.clone(),
                serde_json::from_str(v).unwrap_or(serde_json::Value::Null),
            );
        }
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Lookups {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        Ok(Lookups(
            map.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Orm {
    pub model: String,
    pub op: String,
    /// The keyword lookups as compact JSON text (`{"pk":7}`): distinct per query in a
    /// get-per-row loop, so the store keeps them beside the query; [`Lookups::parse`] reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookups: Option<LookupsText>,
}

/// The JSON object of an `orm.lookups`, kept as text (it must be an object).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LookupsText(pub RawJson);

impl<'de> Deserialize<'de> for LookupsText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawJson::deserialize(d)?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(serde::de::Error::custom("lookups must be an object"));
        }
        Ok(LookupsText(raw))
    }
}

impl Lookups {
    /// The `(name, JSON text)` pairs of a lookups object's text.
    pub fn parse(text: &str) -> Option<Lookups> {
        serde_json::from_str(text).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rel {
    pub model: String,
    pub field: String,
    pub kind: String,
    #[serde(default)]
    pub target: Option<String>,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookups: Option<Lookups>,
    #[serde(default)]
    pub prefetched: bool,
    #[serde(default)]
    pub origin: Option<Origin>,
}

impl Rel {
    /// True for relations that hold many objects (managers): they need prefetch_related.
    pub fn is_many(&self) -> bool {
        is_many_kind(&self.kind) || (self.kind == "generic" && self.op != "load")
    }

    /// The kind with a GenericRelation manager told apart from a GenericForeignKey: both are
    /// `generic` on the wire; only the manager is read with an op other than `load`.
    pub fn shape(&self) -> &str {
        if self.kind == "generic" && self.op != "load" {
            "generic_many"
        } else {
            &self.kind
        }
    }
}

/// Kinds that hold many objects (see [`Rel::shape`] for generic relations).
pub fn is_many_kind(kind: &str) -> bool {
    matches!(kind, "reverse_fk" | "m2m" | "generic_many")
}

/// How a model instance was loaded (see docs/protocol.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub how: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub to_attr: Option<String>,
    #[serde(default)]
    pub site: Option<Frame>,
    #[serde(default)]
    pub rows: Option<u64>,
    #[serde(default)]
    pub qid: Option<u64>,
    #[serde(default)]
    pub origin: Option<Box<Origin>>,
    /// The user's class whose queryset a framework evaluated (an admin, a DRF view, a
    /// generic view): the fix goes there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// Who owns a queryset a framework evaluates (docs/protocol.md, `owner`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// `admin`, `drf` or `view`.
    pub kind: String,
    /// The dotted class: `catalog.admin.BookAdmin`.
    pub class: String,
    /// `file:line` of its `class` statement; absent for a library's class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The label of the model it lists: `catalog.Book`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The class is a library's (not under the project root): the user cannot change it.
    #[serde(default)]
    pub library: bool,
    /// What the class already declares, that a fix extends.
    #[serde(default, skip_serializing_if = "Declares::is_empty")]
    pub declares: Declares,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Declares {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_select_related: Option<Declared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queryset: Option<Declared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Declared>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_queryset: Option<Declared>,
}

impl Declares {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// A class attribute or method: where it is, and (an attribute) the source of its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Declared {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drops {
    pub sid: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disconnect {
    pub sid: String,
    pub ts: f64,
}

/// The shim's answer to an `explain` request: the plan of one of its queries, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub sid: String,
    /// The request's `id`: the collector matches answers to requests by it.
    pub id: u64,
    pub qid: u64,
    #[serde(default)]
    pub analyze: bool,
    /// `sqlite`, `postgresql`, `mariadb`, `mysql`, … (`null` when the query was unknown).
    #[serde(default)]
    pub vendor: Option<String>,
    /// `json` (PostgreSQL, MariaDB/MySQL), `rows` (SQLite's id/parent/notused/detail rows) or
    /// `text` (MySQL's EXPLAIN ANALYZE tree).
    #[serde(default)]
    pub format: Option<String>,
    /// The EXPLAIN prefix that ran, e.g. `EXPLAIN (FORMAT JSON)`.
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub plan: Option<serde_json::Value>,
    /// Estimated rows of the tables the plan reads, from the database's statistics (so a
    /// sequential scan can be told big or small); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<std::collections::BTreeMap<String, f64>>,
    /// How long the EXPLAIN statement took.
    #[serde(default)]
    pub ms: Option<f64>,
    /// `null`, or why there is no plan.
    #[serde(default)]
    pub error: Option<String>,
    /// With an error: `refused`, `unsupported`, `timeout` or `database`.
    #[serde(default)]
    pub reason: Option<String>,
    /// The line as received (the collector keeps it: the raw view shows the plan in the
    /// database's own key order, which a parsed JSON object does not keep).
    #[serde(skip)]
    pub line: Option<String>,
}

/// Lines the collector sends to a shim, on the connection that process opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Explain(Explain),
}

/// Ask for the plan of query `qid` of the process the connection carries. No SQL travels:
/// the shim explains only statements it captured itself and still remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explain {
    /// Chosen by the collector, echoed in the answer.
    pub id: u64,
    pub qid: u64,
    /// EXPLAIN ANALYZE (runs the statement: plain SELECTs only, read-only, rolled back).
    #[serde(default)]
    pub analyze: bool,
}

impl Request {
    /// One wire line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("requests always serialise");
        line.push('\n');
        line
    }
}

/// Why a line was skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseError {
    TooLong(usize),
    Invalid(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::TooLong(n) => write!(f, "line of {n} bytes exceeds {MAX_LINE}"),
            ParseError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

/// Parse one line (without or with its trailing newline).
pub fn parse_line(line: &[u8]) -> Result<Event, ParseError> {
    if line.len() > MAX_LINE {
        return Err(ParseError::TooLong(line.len()));
    }
    // The shim always writes `{"type":"<name>",` first: then the struct named there is
    // deserialised directly (its derive ignores the `type` key). Other lines find `type` first
    // with a pass that skips every other value. Neither goes through serde's tagged-enum
    // buffer, which copies the whole line into a `Content` tree first (and cannot hold the
    // `RawValue`s params are kept in).
    let kind = match line.strip_prefix(br#"{"type":""#).and_then(|rest| {
        let end = rest.iter().take(16).position(|&b| b == b'"')?;
        (rest.get(end + 1) == Some(&b',')).then(|| &rest[..end])
    }) {
        Some(kind) => std::borrow::Cow::Borrowed(kind),
        None => {
            #[derive(Deserialize)]
            struct Kind<'a> {
                #[serde(borrow, rename = "type")]
                kind: std::borrow::Cow<'a, str>,
            }
            let k: Kind = from_slice(line)?;
            match k.kind {
                std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
                std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
            }
        }
    };
    match &*kind {
        b"query" => from_slice(line).map(Event::Query),
        b"def" => from_slice(line).map(Event::Def),
        b"request" => from_slice(line).map(Event::Request),
        b"end" => from_slice(line).map(Event::End),
        b"hello" => from_slice(line).map(Event::Hello),
        b"drops" => from_slice(line).map(Event::Drops),
        b"disconnect" => from_slice(line).map(Event::Disconnect),
        b"plan" => from_slice(line).map(Event::Plan),
        other => Err(ParseError::Invalid(format!(
            "unknown event type {:?}",
            String::from_utf8_lossy(other)
        ))),
    }
}

fn from_slice<'a, T: Deserialize<'a>>(line: &'a [u8]) -> Result<T, ParseError> {
    serde_json::from_slice(line).map_err(|e| ParseError::Invalid(e.to_string()))
}

/// Serialise an event as one wire line (no newline).
pub fn to_line(event: &Event) -> String {
    serde_json::to_string(event).expect("events always serialise")
}

/// Current wall-clock time in protocol seconds.
pub fn now_ts() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLES: &str = include_str!("../tests/protocol/examples.ndjson");
    const MALFORMED: &str = include_str!("../tests/protocol/malformed.ndjson");
    const EXAMPLES_V2: &str = include_str!("../tests/protocol/examples-v2.ndjson");

    #[test]
    fn every_example_line_parses_and_round_trips() {
        let mut kinds = std::collections::HashSet::new();
        for line in EXAMPLES.lines().chain(EXAMPLES_V2.lines()) {
            let ev = parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"));
            let mut again = parse_line(to_line(&ev).as_bytes()).unwrap();
            if let (Event::Query(a), Event::Query(b)) = (&ev, &mut again) {
                // `ts_ns` comes back as float seconds: equal within serde_json's float parsing.
                assert!((a.ts - b.ts).abs() < 1e-6 && (a.ms - b.ms).abs() < 1e-9);
                (b.ts, b.ms) = (a.ts, a.ms);
            }
            assert_eq!(ev, again);
            kinds.insert(std::mem::discriminant(&ev));
        }
        assert_eq!(kinds.len(), 8, "examples cover every event type");
    }

    #[test]
    fn key_order_does_not_matter() {
        // `type` first takes the fast path; the same line with its keys sorted (`type` no
        // longer first) the general one: same event, or the same refusal.
        for line in EXAMPLES
            .lines()
            .chain(EXAMPLES_V2.lines())
            .chain(MALFORMED.lines())
        {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                assert!(parse_line(line.as_bytes()).is_err());
                continue;
            };
            let sorted = value.to_string();
            assert!(!sorted.starts_with(r#"{"type""#) || !line.starts_with(r#"{"type""#));
            match (parse_line(line.as_bytes()), parse_line(sorted.as_bytes())) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{line}"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{line}: {a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn v2_defs_and_references_parse() {
        let def = r#"{"type":"def","sid":"s","id":4,"frames":[["a.py",1,"f"]]}"#;
        let Event::Def(d) = parse_line(def.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(d.id, 4);
        assert_eq!(
            d.value,
            DefValue::Frames(vec![Frame("a.py".into(), 1, "f".into())])
        );
        let q = r#"{"type":"query","sid":"s","rid":"s-1","qid":9,"alias":"default","vendor":"sqlite","sql_id":1,"params":[1, 2],"ts_ns":1763730001256300000,"dur_ns":84000,"stack_id":4,"lib_id":5,"rel_id":6,"orm_id":7}"#;
        let Event::Query(q) = parse_line(q.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(q.sql, Inline::Id(1));
        assert_eq!((q.stack, q.lib), (Inline::Id(4), Inline::Id(5)));
        assert_eq!((q.rel, q.orm), (Some(Inline::Id(6)), Some(Inline::Id(7))));
        assert!((q.ts - 1_763_730_001.256_3).abs() < 1e-6);
        assert_eq!(q.ms, 0.084);
        assert_eq!(&*q.params.unwrap().into_compact(), "[1,2]");
    }

    #[test]
    fn params_text_is_compact_json() {
        for (raw, compact) in [
            ("[3]", "[3]"),
            ("[1, 2]", "[1,2]"),
            (r#"["caf\u00e9"]"#, r#"["café"]"#),
            ("[1e-05]", "[0.00001]"),
            (r#"[{"b":1,"a":2}]"#, r#"[{"a":2,"b":1}]"#),
            (r#"["true, e1"]"#, r#"["true, e1"]"#),
        ] {
            let text = RawJson(raw.into()).into_compact();
            assert_eq!(&*text, compact, "{raw}");
        }
    }

    #[test]
    fn every_malformed_line_is_rejected() {
        for line in MALFORMED.lines() {
            assert!(parse_line(line.as_bytes()).is_err(), "accepted: {line}");
        }
    }

    #[test]
    fn frames_are_arrays_on_the_wire() {
        let line = EXAMPLES.lines().nth(4).unwrap();
        let Event::Query(q) = parse_line(line.as_bytes()).unwrap() else {
            panic!("not a query")
        };
        let Inline::Value(stack) = q.stack else {
            panic!("inline stack")
        };
        assert_eq!(
            stack[0],
            Frame("blog/views.py".into(), 27, "article_list".into())
        );
        assert_eq!(q.params.unwrap().get(), "[3]");
    }

    #[test]
    fn oversized_line_is_rejected_before_parsing() {
        let big = vec![b' '; MAX_LINE + 1];
        assert_eq!(parse_line(&big), Err(ParseError::TooLong(MAX_LINE + 1)));
    }

    #[test]
    fn relation_attribution_parses() {
        let line = r#"{"type":"query","sid":"s","rid":"r","qid":5,"alias":"default","vendor":"sqlite","sql":"SELECT 1","ts":1.0,"ms":0.1,
            "orm":{"model":"blog.Book","op":"get","lookups":{"pk":7}},
            "rel":{"model":"blog.Tag","field":"created_by","kind":"fk","target":"auth.User","op":"load",
              "origin":{"how":"prefetch","model":"blog.Article","field":"tags",
                "origin":{"how":"queryset","model":"blog.Article","site":["blog/views.py",25,"v"],"rows":30}}}}"#;
        let Event::Query(q) = parse_line(line.as_bytes()).unwrap() else {
            panic!()
        };
        let Some(Inline::Value(orm)) = q.orm else {
            panic!()
        };
        assert_eq!(
            Lookups::parse(orm.lookups.unwrap().0.get()).unwrap().0,
            vec![("pk".to_owned(), "7".to_owned())]
        );
        let Some(Inline::Value(rel)) = q.rel else {
            panic!()
        };
        let origin = rel.origin.unwrap();
        assert_eq!(origin.how, "prefetch");
        let root = origin.origin.unwrap();
        assert_eq!(root.site.unwrap().line(), 25);
        assert_eq!(root.rows, Some(30));
    }

    #[test]
    fn explain_requests_are_one_line_and_plans_parse() {
        let line = Request::Explain(Explain {
            id: 7,
            qid: 302,
            analyze: true,
        })
        .to_line();
        assert_eq!(
            line,
            "{\"type\":\"explain\",\"id\":7,\"qid\":302,\"analyze\":true}\n"
        );
        let refusal = r#"{"type":"plan","sid":"s","id":8,"qid":9,"analyze":false,"vendor":null,"format":null,"prefix":null,"plan":null,"ms":null,"error":"query 9 is not remembered","reason":"refused"}"#;
        let Event::Plan(p) = parse_line(refusal.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!((p.id, p.qid, p.reason.as_deref()), (8, 9, Some("refused")));
        assert!(p.plan.is_none());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let line = r#"{"type":"drops","sid":"a","count":3,"future":"field"}"#;
        assert!(matches!(parse_line(line.as_bytes()), Ok(Event::Drops(_))));
    }
}
