//! The NDJSON wire (docs/protocol.md): one event per line, tagged by `type`.
//!
//! Parsing is strict about required fields and lenient about extra ones, so a newer shim
//! that adds fields still talks to this collector, and a broken line is skipped, not fatal.

use serde::{Deserialize, Serialize};

/// Protocol version this collector speaks (`hello.v`).
pub const PROTOCOL_VERSION: u32 = 1;

/// Lines longer than this are skipped and counted as malformed.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

// Query is the large variant and nearly every event is one: boxing it would add an allocation
// per query for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub ms: f64,
    #[serde(default, rename = "async")]
    pub is_async: bool,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    pub sid: String,
    pub rid: String,
    pub qid: u64,
    pub alias: String,
    pub vendor: String,
    pub sql: String,
    /// Kept as JSON: the UI shows them and EXPLAIN/yank interpolate them; nothing else reads them.
    #[serde(default)]
    pub params: Option<serde_json::Value>,
    #[serde(default)]
    pub many: bool,
    pub ts: f64,
    pub ms: f64,
    #[serde(default)]
    pub rows: Option<i64>,
    #[serde(default)]
    pub stack: Vec<Frame>,
    /// Django/library frames between the database call and the first application frame,
    /// innermost first (how the ORM got from your line to the SQL).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lib: Vec<Frame>,
    #[serde(default)]
    pub error: Option<String>,
    /// The ORM call that ran the statement, when the shim knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orm: Option<Orm>,
    /// The lazy relation access that ran the statement, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<Rel>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookups: Option<Lookups>,
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

    #[test]
    fn every_example_line_parses_and_round_trips() {
        let mut kinds = std::collections::HashSet::new();
        for line in EXAMPLES.lines() {
            let ev = parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"));
            let again = parse_line(to_line(&ev).as_bytes()).unwrap();
            assert_eq!(ev, again);
            kinds.insert(std::mem::discriminant(&ev));
        }
        assert_eq!(kinds.len(), 7, "examples cover every event type");
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
        assert_eq!(
            q.stack[0],
            Frame("blog/views.py".into(), 27, "article_list".into())
        );
        assert_eq!(q.params, Some(serde_json::json!([3])));
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
        let orm = q.orm.unwrap();
        assert_eq!(
            orm.lookups.unwrap().0,
            vec![("pk".to_owned(), "7".to_owned())]
        );
        let rel = q.rel.unwrap();
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
