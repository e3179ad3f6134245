//! The NDJSON wire (docs/protocol.md): one event per line, tagged by `type`.
//!
//! Parsing is strict about required fields and lenient about extra ones, so a newer shim
//! that adds fields still talks to this collector, and a broken line is skipped, not fatal.

use serde::{Deserialize, Serialize};

/// Protocol version this collector speaks (`hello.v`).
pub const PROTOCOL_VERSION: u32 = 1;

/// Lines longer than this are skipped and counted as malformed.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Hello(Hello),
    Request(RequestStart),
    End(RequestEnd),
    Query(Query),
    Drops(Drops),
    Disconnect(Disconnect),
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
    #[serde(default)]
    pub error: Option<String>,
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
        assert_eq!(kinds.len(), 6, "examples cover every event type");
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
    fn unknown_fields_are_ignored() {
        let line = r#"{"type":"drops","sid":"a","count":3,"future":"field"}"#;
        assert!(matches!(parse_line(line.as_bytes()), Ok(Event::Drops(_))));
    }
}
