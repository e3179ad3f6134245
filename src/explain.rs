//! EXPLAIN plans as data: the shim's `plan` answers (docs/protocol.md) parsed into one tree
//! shape for every vendor, with what a reader looks for first (after depesz and pev2): each
//! node's own share of the time (or cost), rows estimated against rows returned and the
//! estimate's error factor, the costliest node, and sequential scans of big tables.
//!
//! Pure functions over JSON, no terminal: the plan view (`ui/plan.rs`) only draws them.
//!
//! - PostgreSQL `EXPLAIN (FORMAT JSON)` (+ `ANALYZE, BUFFERS`): nested `Plans`.
//! - SQLite `EXPLAIN QUERY PLAN`: `(id, parent, notused, detail)` rows.
//! - MariaDB `EXPLAIN FORMAT=JSON` / `ANALYZE FORMAT=JSON` and MySQL `EXPLAIN FORMAT=JSON`:
//!   `query_block` objects holding `table`, `nested_loop`, `filesort`, … .
//! - MySQL `EXPLAIN ANALYZE`: its text tree (`-> Node  (cost=… rows=…) (actual time=…)`).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::protocol;

/// A full scan of a table with at least this many rows stands out.
pub const BIG_TABLE_ROWS: f64 = 1000.0;
/// An estimate off by this factor or more is worth a look; by [`BAD_ESTIMATE`], a red flag.
pub const POOR_ESTIMATE: f64 = 10.0;
pub const BAD_ESTIMATE: f64 = 100.0;

/// One operation of a plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// What it does: `Hash Join`, `Seq Scan on blog_book`, `SCAN blog_book`, … .
    pub label: String,
    /// Conditions, keys, sort methods, buffers: one line each, in the vendor's words.
    pub details: Vec<String>,
    pub depth: usize,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// The table it reads, when it reads one.
    pub relation: Option<String>,
    /// Reads the whole table (a sequential / full table scan).
    pub full_scan: bool,
    /// Rows estimated per loop (the planner's `rows`).
    pub est_rows: Option<f64>,
    /// Rows returned per loop (ANALYZE).
    pub actual_rows: Option<f64>,
    pub loops: Option<f64>,
    /// Time in this node and below, all loops (ANALYZE).
    pub total_ms: Option<f64>,
    /// Time in this node alone: `total_ms` less its children's.
    pub self_ms: Option<f64>,
    /// Cost of this node and below, in the planner's units.
    pub total_cost: Option<f64>,
    pub self_cost: Option<f64>,
    /// Rows the planner expects this node to read over all loops (MariaDB/MySQL, which give
    /// no costs in every version): the weight when neither time nor cost is known.
    pub examined: Option<f64>,
    /// Rows of the table a full scan reads (the database's statistics, else its estimate).
    pub table_rows: Option<f64>,
    /// `(never executed)` under ANALYZE.
    pub never_executed: bool,
}

impl Node {
    /// How far off the row estimate was: `actual / estimated` or its inverse, whichever is
    /// ≥ 1, and whether the planner under-estimated. Needs ANALYZE.
    pub fn misestimate(&self) -> Option<(f64, bool)> {
        if self.never_executed {
            return None;
        }
        let (est, actual) = (self.est_rows?, self.actual_rows?);
        // PostgreSQL never estimates below one row; a zero on either side counts as one.
        let (e, a) = (est.max(1.0), actual.max(1.0));
        Some(if a >= e {
            (a / e, true)
        } else {
            (e / a, false)
        })
    }
}

/// What a node's share is a share of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Its own time (ANALYZE).
    Time,
    /// Its own planner cost.
    Cost,
    /// The rows it is expected to read (MariaDB without costs).
    Rows,
    /// Nothing to weigh nodes by (SQLite).
    None,
}

impl Basis {
    pub fn noun(self) -> &'static str {
        match self {
            Basis::Time => "of the time",
            Basis::Cost => "of the cost",
            Basis::Rows => "of the rows read",
            Basis::None => "",
        }
    }
}

/// A parsed plan: nodes in pre-order (a node's subtree follows it), several roots allowed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub vendor: String,
    pub analyze: bool,
    pub nodes: Vec<Node>,
    pub planning_ms: Option<f64>,
    pub execution_ms: Option<f64>,
    /// Plan-wide lines: triggers, JIT, the optimizer's time.
    pub notes: Vec<String>,
}

impl Plan {
    pub fn basis(&self) -> Basis {
        if self.nodes.iter().any(|n| n.self_ms.is_some()) {
            Basis::Time
        } else if self.nodes.iter().any(|n| n.self_cost.is_some()) {
            Basis::Cost
        } else if self.nodes.iter().any(|n| n.examined.is_some()) {
            Basis::Rows
        } else {
            Basis::None
        }
    }

    /// A node's own weight in the plan's [`Basis`].
    pub fn weight(&self, i: usize) -> Option<f64> {
        let n = &self.nodes[i];
        match self.basis() {
            Basis::Time => n.self_ms,
            Basis::Cost => n.self_cost,
            Basis::Rows => n.examined,
            Basis::None => None,
        }
    }

    fn total_weight(&self) -> f64 {
        (0..self.nodes.len()).filter_map(|i| self.weight(i)).sum()
    }

    /// A node's own share of the plan's weight, 0..=1 (`None` for a node without a weight of
    /// its own, like a nested loop that only joins what its children read).
    pub fn share(&self, i: usize) -> Option<f64> {
        let total = self.total_weight();
        let own = self.weight(i)?;
        (total > 0.0).then(|| own / total)
    }

    /// The node with the largest own weight.
    pub fn costliest(&self) -> Option<usize> {
        if self.total_weight() <= 0.0 {
            return None;
        }
        (0..self.nodes.len())
            .filter(|&i| self.weight(i).is_some())
            .max_by(|&a, &b| {
                let (x, y) = (self.weight(a).unwrap_or(0.0), self.weight(b).unwrap_or(0.0));
                x.total_cmp(&y).then(b.cmp(&a))
            })
    }

    /// A full scan of a table of at least [`BIG_TABLE_ROWS`] rows.
    pub fn big_scan(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        n.full_scan && n.table_rows.is_some_and(|r| r >= BIG_TABLE_ROWS)
    }

    /// Nodes below `i`.
    pub fn descendants(&self, i: usize) -> usize {
        let depth = self.nodes[i].depth;
        self.nodes[i + 1..]
            .iter()
            .take_while(|n| n.depth > depth)
            .count()
    }

    /// The nodes shown when the ones in `collapsed` hide their subtrees, in order.
    pub fn visible(&self, collapsed: &HashSet<usize>) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut i = 0;
        while i < self.nodes.len() {
            out.push(i);
            i += if collapsed.contains(&i) {
                1 + self.descendants(i)
            } else {
                1
            };
        }
        out
    }

    fn has(&self, f: impl Fn(&Node) -> bool) -> bool {
        self.nodes.iter().any(f)
    }

    pub fn has_actual_rows(&self) -> bool {
        self.has(|n| n.actual_rows.is_some())
    }

    pub fn has_est_rows(&self) -> bool {
        self.has(|n| n.est_rows.is_some())
    }

    pub fn has_loops(&self) -> bool {
        self.has(|n| n.loops.is_some_and(|l| l != 1.0))
    }

    /// Fill each node's self (or total) figure from the other and its children's: done once
    /// all nodes are in.
    fn finish(&mut self) {
        for i in (0..self.nodes.len()).rev() {
            let children = self.nodes[i].children.clone();
            let sum = |f: fn(&Node) -> Option<f64>, nodes: &[Node]| -> Option<f64> {
                children
                    .iter()
                    .filter_map(|&c| f(&nodes[c]))
                    .fold(None, |acc, x| Some(acc.unwrap_or(0.0) + x))
            };
            let child_ms = sum(|n| n.total_ms, &self.nodes);
            let child_cost = sum(|n| n.total_cost, &self.nodes);
            let n = &mut self.nodes[i];
            (n.total_ms, n.self_ms) = settle(n.total_ms, n.self_ms, child_ms);
            (n.total_cost, n.self_cost) = settle(n.total_cost, n.self_cost, child_cost);
        }
    }
}

/// (total, self) from whichever of the two is known and the children's total.
fn settle(
    total: Option<f64>,
    own: Option<f64>,
    children: Option<f64>,
) -> (Option<f64>, Option<f64>) {
    match (total, own) {
        (Some(t), None) => (Some(t), Some((t - children.unwrap_or(0.0)).max(0.0))),
        (None, Some(s)) => (Some(s + children.unwrap_or(0.0)), Some(s)),
        (None, None) if children.is_some() => (children, None),
        other => other,
    }
}

/// Why there is no plan to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// `refused`, `unsupported`, `timeout`, `database` (from the shim), `gone`, `no answer`,
    /// `replay` (from the collector) or `unreadable` (a plan djtop could not parse).
    pub reason: String,
    pub message: String,
}

impl Failure {
    pub fn new(reason: &str, message: impl Into<String>) -> Self {
        Self {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    /// A one-word heading for the panel.
    pub fn title(&self) -> &'static str {
        match self.reason.as_str() {
            "refused" => "refused",
            "unsupported" => "not supported",
            "timeout" => "timed out",
            "database" => "database error",
            "gone" => "process gone",
            "no answer" => "no answer",
            "replay" => "not live",
            "unreadable" => "unreadable plan",
            _ => "failed",
        }
    }
}

/// The shim's answer, ready to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub result: Result<Plan, Failure>,
    /// The plan as the database wrote it (pretty JSON, SQLite's rows, MySQL's text).
    pub raw: Option<String>,
    /// The EXPLAIN prefix that ran.
    pub prefix: Option<String>,
    /// How long the EXPLAIN took.
    pub ms: Option<f64>,
}

impl Answer {
    pub fn failed(f: Failure) -> Self {
        Self {
            result: Err(f),
            raw: None,
            prefix: None,
            ms: None,
        }
    }
}

/// Turn a `plan` event into an [`Answer`].
pub fn answer(ev: &protocol::Plan) -> Answer {
    let format = ev.format.as_deref().unwrap_or("json");
    let raw = ev.plan.as_ref().map(|p| {
        // JSON as the database ordered it, from the line received, when there is one.
        let original = (format == "json")
            .then(|| ev.line.as_deref().and_then(|l| json_member(l, "plan")))
            .flatten();
        match original {
            Some(text) => reindent(text),
            None => raw_text(format, p),
        }
    });
    let result = match (&ev.error, &ev.plan) {
        (Some(msg), _) => Err(Failure::new(
            ev.reason.as_deref().unwrap_or("database"),
            msg,
        )),
        (None, None) => Err(Failure::new("database", "the process sent no plan")),
        (None, Some(plan)) => parse(
            ev.vendor.as_deref().unwrap_or(""),
            ev.format.as_deref().unwrap_or("json"),
            ev.analyze,
            plan,
            ev.tables.as_ref(),
        )
        .map_err(|e| Failure::new("unreadable", format!("{e}: R shows the plan as sent"))),
    };
    Answer {
        result,
        raw,
        prefix: ev.prefix.clone(),
        ms: ev.ms,
    }
}

type Tables = BTreeMap<String, f64>;

/// Parse a plan in `format` (`json`, `rows`, `text`) from `vendor`.
pub fn parse(
    vendor: &str,
    format: &str,
    analyze: bool,
    plan: &Value,
    tables: Option<&Tables>,
) -> Result<Plan, String> {
    let empty = Tables::new();
    let tables = tables.unwrap_or(&empty);
    let mut out = match (vendor, format) {
        ("postgresql", "json") => postgres(plan, tables)?,
        ("sqlite", "rows") => sqlite(plan, tables)?,
        ("mysql" | "mariadb", "json") => mysql(plan, tables)?,
        ("mysql" | "mariadb", "text") => mysql_tree(plan.as_str().ok_or("not text")?, tables)?,
        (v, f) => return Err(format!("djtop does not read {f} plans of {v}")),
    };
    out.vendor = vendor.to_owned();
    out.analyze = analyze;
    if out.nodes.is_empty() {
        return Err("the plan has no nodes".into());
    }
    out.finish();
    Ok(out)
}

/// The plan as the database wrote it, for `R`.
pub fn raw_text(format: &str, plan: &Value) -> String {
    match (format, plan) {
        ("text", Value::String(s)) => s.clone(),
        ("rows", Value::Array(rows)) => {
            let mut out = String::from("id  parent  notused  detail\n");
            for row in rows {
                let cells: Vec<String> = match row {
                    Value::Array(c) => c
                        .iter()
                        .map(|v| match v {
                            Value::String(s) => s.clone(),
                            v => v.to_string(),
                        })
                        .collect(),
                    v => vec![v.to_string()],
                };
                if let [id, parent, notused, detail] = cells.as_slice() {
                    let _ = writeln!(out, "{id:<3} {parent:<7} {notused:<8} {detail}");
                } else {
                    let _ = writeln!(out, "{}", cells.join("  "));
                }
            }
            out
        }
        _ => serde_json::to_string_pretty(plan).unwrap_or_else(|_| plan.to_string()),
    }
}

/// The text of member `key` of the JSON object `text` (top level only), as written.
pub fn json_member<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let b = text.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    let mut want_value = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                i = skip_string(b, i)?;
                if depth == 1 && !want_value {
                    // A key at the top level: is it ours?
                    let mut j = i;
                    while j < b.len() && b[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if b.get(j) == Some(&b':') && &text[start + 1..i - 1] == key {
                        let mut v = j + 1;
                        while v < b.len() && b[v].is_ascii_whitespace() {
                            v += 1;
                        }
                        let end = value_end(b, v)?;
                        return Some(&text[v..end]);
                    }
                    want_value = b.get(j) == Some(&b':');
                    i = j;
                    continue;
                }
                want_value = false;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                want_value = false;
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => want_value = false,
            b':' => want_value = true,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Past the end of the string starting at `b[i] == '"'`.
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Past the end of the JSON value starting at `b[v]`.
fn value_end(b: &[u8], v: usize) -> Option<usize> {
    let mut i = v;
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = skip_string(b, i)?;
                if depth == 0 {
                    return Some(i);
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b',' | b'}' | b']' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    (depth == 0).then_some(i)
}

/// Compact JSON text indented two spaces per level, keys left in their order.
pub fn reindent(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut chars = json.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                while let Some(s) = chars.next() {
                    out.push(s);
                    if s == '\\' {
                        if let Some(e) = chars.next() {
                            out.push(e);
                        }
                    } else if s == '"' {
                        break;
                    }
                }
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                while chars.peek().is_some_and(|x| x.is_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// Builds the pre-order arena.
#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
}

impl Builder {
    fn push(&mut self, mut node: Node, parent: Option<usize>) -> usize {
        let i = self.nodes.len();
        node.parent = parent;
        node.depth = parent.map_or(0, |p| self.nodes[p].depth + 1);
        if let Some(p) = parent {
            self.nodes[p].children.push(i);
        }
        self.nodes.push(node);
        i
    }

    fn plan(self) -> Plan {
        Plan {
            nodes: self.nodes,
            ..Default::default()
        }
    }
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Value::Null => None,
        v => Some(v.to_string()),
    }
}

// -- PostgreSQL ---------------------------------------------------------------------------------

fn postgres(plan: &Value, tables: &Tables) -> Result<Plan, String> {
    let top = match plan {
        Value::Array(a) => a.first().ok_or("an empty plan")?,
        v => v,
    };
    let root = top.get("Plan").ok_or("no \"Plan\" in the JSON")?;
    let mut b = Builder::default();
    pg_node(&mut b, root, None, tables);
    let mut out = b.plan();
    out.planning_ms = num(top.get("Planning Time"));
    out.execution_ms = num(top.get("Execution Time"));
    if let Some(Value::Array(triggers)) = top.get("Triggers") {
        for t in triggers {
            out.notes.push(format!(
                "trigger {}: {} ms, {} calls",
                text(t.get("Trigger Name")).unwrap_or_default(),
                num(t.get("Time")).unwrap_or(0.0),
                num(t.get("Calls")).unwrap_or(0.0)
            ));
        }
    }
    if let Some(jit) = top.get("JIT").and_then(|j| j.get("Timing")) {
        if let Some(ms) = num(jit.get("Total")) {
            out.notes.push(format!("JIT: {ms:.3} ms"));
        }
    }
    Ok(out)
}

/// PostgreSQL's text-format name of a node.
fn pg_label(n: &Value) -> String {
    let kind = n.get("Node Type").and_then(Value::as_str).unwrap_or("?");
    let s = |k: &str| n.get(k).and_then(Value::as_str);
    let mut label = match (kind, s("Strategy")) {
        ("Aggregate", Some("Hashed")) => "HashAggregate".to_owned(),
        ("Aggregate", Some("Sorted")) => "GroupAggregate".to_owned(),
        ("Aggregate", Some("Mixed")) => "MixedAggregate".to_owned(),
        ("SetOp", Some("Hashed")) => "HashSetOp".to_owned(),
        _ => kind.to_owned(),
    };
    if let Some(join) = s("Join Type").filter(|j| *j != "Inner") {
        label = if kind == "Nested Loop" {
            format!("Nested Loop {join} Join")
        } else {
            label.replace(" Join", &format!(" {join} Join"))
        };
    }
    if n.get("Parallel Aware") == Some(&Value::Bool(true)) {
        label = format!("Parallel {label}");
    }
    if let Some(dir) = s("Scan Direction").filter(|d| *d == "Backward") {
        label = format!("{label} {dir}");
    }
    if let Some(index) = s("Index Name") {
        if kind == "Bitmap Index Scan" {
            label.push_str(&format!(" on {index}"));
        } else {
            label.push_str(&format!(" using {index}"));
        }
    }
    let target = s("Relation Name")
        .or(s("CTE Name"))
        .or(s("Function Name"))
        .or(s("Tuplestore Name"));
    if let Some(rel) = target {
        label.push_str(&format!(" on {rel}"));
        if let Some(alias) = s("Alias").filter(|a| *a != rel) {
            label.push_str(&format!(" {alias}"));
        }
    } else if let Some(alias) = s("Alias").filter(|_| kind == "Subquery Scan") {
        label.push_str(&format!(" on {alias}"));
    }
    match (s("Parent Relationship"), s("Subplan Name")) {
        (_, Some(name)) => format!("{name}: {label}"),
        (Some(rel @ ("InitPlan" | "SubPlan")), None) => format!("{rel}: {label}"),
        _ => label,
    }
}

const PG_DETAILS: &[&str] = &[
    "Hash Cond",
    "Merge Cond",
    "Join Filter",
    "Rows Removed by Join Filter",
    "Index Cond",
    "Recheck Cond",
    "Rows Removed by Index Recheck",
    "Filter",
    "Rows Removed by Filter",
    "Sort Key",
    "Presorted Key",
    "Sort Method",
    "Group Key",
    "Cache Key",
    "Heap Fetches",
    "Workers Planned",
    "Workers Launched",
    "Hash Buckets",
    "Hash Batches",
    "Peak Memory Usage",
    "One-Time Filter",
];

fn pg_node(b: &mut Builder, n: &Value, parent: Option<usize>, tables: &Tables) {
    let mut details = Vec::new();
    for key in PG_DETAILS {
        if let Some(v) = text(n.get(*key)) {
            let v = match *key {
                "Sort Method" => match (
                    text(n.get("Sort Space Used")),
                    text(n.get("Sort Space Type")),
                ) {
                    (Some(used), Some(kind)) => format!("{v}  {kind}: {used}kB"),
                    _ => v,
                },
                "Peak Memory Usage" => format!("{v}kB"),
                _ => v,
            };
            if *key == "Rows Removed by Filter" && v == "0" {
                continue;
            }
            details.push(format!("{key}: {v}"));
        }
    }
    let blocks = |kind: &str| -> Vec<String> {
        ["Hit", "Read", "Dirtied", "Written"]
            .iter()
            .filter_map(|what| {
                let v = num(n.get(format!("{kind} {what} Blocks").as_str()))?;
                (v > 0.0).then(|| format!("{}={v}", what.to_lowercase()))
            })
            .collect()
    };
    let mut buffers = Vec::new();
    for (kind, word) in [("Shared", "shared"), ("Local", "local"), ("Temp", "temp")] {
        let b = blocks(kind);
        if !b.is_empty() {
            buffers.push(format!("{word} {}", b.join(" ")));
        }
    }
    if !buffers.is_empty() {
        details.push(format!("Buffers: {}", buffers.join(", ")));
    }
    let kind = n.get("Node Type").and_then(Value::as_str).unwrap_or("");
    let relation = text(n.get("Relation Name"));
    let loops = num(n.get("Actual Loops"));
    let actual_rows = num(n.get("Actual Rows"));
    let never_executed = loops == Some(0.0);
    let full_scan = kind == "Seq Scan";
    let table_rows = relation
        .as_ref()
        .and_then(|r| tables.get(r).copied())
        .or_else(|| {
            // Without statistics, what a full scan read (ANALYZE) or is expected to return.
            let removed = num(n.get("Rows Removed by Filter")).unwrap_or(0.0);
            match actual_rows {
                Some(a) => Some(a + removed),
                None => num(n.get("Plan Rows")),
            }
        });
    let node = Node {
        label: pg_label(n),
        details,
        relation,
        full_scan,
        est_rows: num(n.get("Plan Rows")),
        actual_rows,
        loops,
        total_ms: num(n.get("Actual Total Time")).map(|t| t * loops.unwrap_or(1.0)),
        total_cost: num(n.get("Total Cost")),
        table_rows: if full_scan { table_rows } else { None },
        never_executed,
        ..Default::default()
    };
    let i = b.push(node, parent);
    if let Some(Value::Array(children)) = n.get("Plans") {
        for c in children {
            pg_node(b, c, Some(i), tables);
        }
    }
}

// -- SQLite ---------------------------------------------------------------------------------------

fn sqlite(plan: &Value, tables: &Tables) -> Result<Plan, String> {
    let rows = plan
        .as_array()
        .ok_or("SQLite's plan is not a list of rows")?;
    let mut parsed = Vec::new();
    for row in rows {
        let cells = row.as_array().ok_or("a row is not a list")?;
        let (id, parent, detail) = match cells.as_slice() {
            [id, parent, _, detail] => (num(Some(id)), num(Some(parent)), detail.as_str()),
            _ => return Err("a row is not (id, parent, notused, detail)".into()),
        };
        parsed.push((
            id.ok_or("a row has no id")? as i64,
            parent.unwrap_or(0.0) as i64,
            detail.unwrap_or("").to_owned(),
        ));
    }
    let mut b = Builder::default();
    let mut placed = vec![false; parsed.len()];
    // Children follow their parent, in SQLite's order (pre-order).
    fn add(
        b: &mut Builder,
        rows: &[(i64, i64, String)],
        placed: &mut [bool],
        parent_id: i64,
        parent: Option<usize>,
        tables: &Tables,
    ) {
        for (k, (id, p, detail)) in rows.iter().enumerate() {
            if *p != parent_id || placed[k] {
                continue;
            }
            placed[k] = true;
            let i = b.push(sqlite_node(detail, tables), parent);
            add(b, rows, placed, *id, Some(i), tables);
        }
    }
    add(&mut b, &parsed, &mut placed, 0, None, tables);
    // Rows whose parent is not in the plan: shown at the top rather than lost.
    for k in 0..parsed.len() {
        if !placed[k] {
            placed[k] = true;
            let i = b.push(sqlite_node(&parsed[k].2, tables), None);
            add(&mut b, &parsed, &mut placed, parsed[k].0, Some(i), tables);
        }
    }
    Ok(b.plan())
}

fn sqlite_node(detail: &str, tables: &Tables) -> Node {
    let mut words = detail.split_whitespace();
    let verb = words.next().unwrap_or("");
    let mut relation = None;
    if matches!(verb, "SCAN" | "SEARCH") {
        let mut name = words.next().unwrap_or("");
        if name == "TABLE" {
            name = words.next().unwrap_or("");
        }
        if !name.is_empty() && name != "CONSTANT" && !name.starts_with('(') {
            relation = Some(name.to_owned());
        }
    }
    let full_scan = verb == "SCAN" && relation.is_some();
    Node {
        label: detail.to_owned(),
        table_rows: relation.as_ref().and_then(|r| tables.get(r).copied()),
        relation,
        full_scan,
        ..Default::default()
    }
}

// -- MariaDB / MySQL JSON -------------------------------------------------------------------------

fn mysql(plan: &Value, tables: &Tables) -> Result<Plan, String> {
    let obj = plan.as_object().ok_or("the plan is not a JSON object")?;
    let block = obj
        .get("query_block")
        .ok_or("no \"query_block\" in the JSON")?;
    let mut b = Builder::default();
    my_block(&mut b, block, None, tables, "Query block");
    let mut out = b.plan();
    if let Some(ms) = obj
        .get("query_optimization")
        .and_then(|o| num(o.get("r_total_time_ms")))
    {
        out.planning_ms = Some(ms);
    }
    if let Some(Value::Number(_)) = block.get("r_total_time_ms") {
        out.execution_ms = num(block.get("r_total_time_ms"));
    }
    Ok(out)
}

fn my_block(b: &mut Builder, block: &Value, parent: Option<usize>, tables: &Tables, what: &str) {
    let id = text(block.get("select_id")).unwrap_or_default();
    let mut node = Node {
        label: if id.is_empty() {
            what.to_owned()
        } else {
            format!("{what} #{id}")
        },
        total_ms: num(block.get("r_total_time_ms")),
        loops: num(block.get("r_loops")),
        ..Default::default()
    };
    // MySQL: cost_info.query_cost is the block's total; MariaDB 11: cost.
    node.total_cost = block
        .get("cost_info")
        .and_then(|c| num(c.get("query_cost")))
        .or_else(|| num(block.get("cost")));
    for key in [
        "message",
        "const_condition",
        "having_condition",
        "outer_ref_condition",
    ] {
        if let Some(v) = text(block.get(key)) {
            node.details.push(format!("{}: {v}", human(key)));
        }
    }
    let i = b.push(node, parent);
    my_children(b, block, i, tables);
}

/// The keys holding structures to show as nodes, in the order they are shown (a JSON object's
/// keys come sorted, not in the server's order).
const MY_KEYS: &[&str] = &[
    "ordering_operation",
    "grouping_operation",
    "windowing",
    "window_functions_computation",
    "duplicates_removal",
    "buffer_result",
    "read_sorted_file",
    "filesort",
    "temporary_table",
    "union_result",
    "block-nl-join",
    "expression_cache",
    "materialized",
    "subquery",
    "nested_loop",
    "table",
    "query_block",
    "query_specifications",
    "subqueries",
    "attached_subqueries",
    "optimized_away_subqueries",
];

fn my_children(b: &mut Builder, obj: &Value, parent: usize, tables: &Tables) {
    let Some(map) = obj.as_object() else { return };
    for key in MY_KEYS {
        let Some(value) = map.get(*key) else { continue };
        match *key {
            "table" => my_table(b, value, Some(parent), tables, 1.0),
            "nested_loop" => {
                let steps = value.as_array().map(Vec::as_slice).unwrap_or(&[]);
                let at = if steps.len() > 1 {
                    b.push(
                        Node {
                            label: "Nested loop".into(),
                            ..Default::default()
                        },
                        Some(parent),
                    )
                } else {
                    parent
                };
                // Each table is read once per row the tables before it produce.
                let mut fanout = 1.0_f64;
                for step in steps {
                    if let Some(t) = step.get("table") {
                        my_table(b, t, Some(at), tables, fanout);
                        let rows = num(t.get("rows")).or(num(t.get("rows_produced_per_join")));
                        let filtered = num(t.get("filtered")).unwrap_or(100.0) / 100.0;
                        if let Some(r) = rows {
                            fanout = (fanout * (r * filtered).max(1.0)).min(1e15);
                        }
                    } else {
                        my_children(b, step, at, tables);
                    }
                }
            }
            "query_block" => my_block(b, value, Some(parent), tables, "Query block"),
            "query_specifications"
            | "subqueries"
            | "attached_subqueries"
            | "optimized_away_subqueries" => {
                for item in value.as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    if let Some(q) = item.get("query_block") {
                        my_block(b, q, Some(parent), tables, "Subquery");
                    } else {
                        my_children(b, item, parent, tables);
                    }
                }
            }
            _ if value.is_object() => {
                let at = my_struct(b, key, value, parent);
                if let Some(q) = value.get("query_block") {
                    my_block(b, q, Some(at), tables, "Query block");
                } else {
                    my_children(b, value, at, tables);
                }
            }
            _ => {}
        }
    }
}

fn human(key: &str) -> String {
    let s = key.replace(['_', '-'], " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => s,
    }
}

/// A structural node (filesort, temporary table, …) with its own figures.
fn my_struct(b: &mut Builder, key: &str, v: &Value, parent: usize) -> usize {
    let label = match key {
        "block-nl-join" => "Block nested loop join".to_owned(),
        "union_result" => format!(
            "Union result{}",
            text(v.get("table_name"))
                .map(|t| format!(" {t}"))
                .unwrap_or_default()
        ),
        k => human(k),
    };
    let mut node = Node {
        label,
        ..Default::default()
    };
    for k in [
        "sort_key",
        "join_type",
        "buffer_type",
        "attached_condition",
        "r_sort_mode",
        "r_used_priority_queue",
        "r_output_rows",
        "r_limit",
        "r_buffer_size",
        "using_filesort",
        "using_temporary_table",
    ] {
        if let Some(t) = text(v.get(k)) {
            node.details
                .push(format!("{}: {t}", human(k.trim_start_matches("r_"))));
        }
    }
    // A filesort's r_total_time_ms is its own (its input is timed by the tables below).
    node.self_ms = num(v.get("r_total_time_ms"));
    node.loops = num(v.get("r_loops"));
    b.push(node, Some(parent))
}

fn access_name(access: &str) -> &'static str {
    match access {
        "ALL" => "Full scan",
        "index" => "Full index scan",
        "range" => "Range scan",
        "ref" => "Lookup",
        "eq_ref" => "Unique lookup",
        "ref_or_null" => "Lookup (or null)",
        "const" | "system" => "Constant row",
        "index_merge" => "Index merge",
        "fulltext" => "Fulltext search",
        "unique_subquery" | "index_subquery" => "Subquery lookup",
        a if a.starts_with("hash_") => "Hash join",
        _ => "Access",
    }
}

fn my_table(b: &mut Builder, t: &Value, parent: Option<usize>, tables: &Tables, fanout: f64) {
    let name = text(t.get("table_name")).unwrap_or_else(|| "?".into());
    let access = text(t.get("access_type")).unwrap_or_default();
    let key = text(t.get("key"));
    let mut label = format!("{} on {name}", access_name(&access));
    if let Some(k) = &key {
        label.push_str(&format!(" using {k}"));
    }
    if !access.is_empty() {
        label.push_str(&format!(" ({access})"));
    }
    let mut details = Vec::new();
    if let Some(r) = text(t.get("ref")) {
        details.push(format!("Ref: {r}"));
    }
    if let Some(c) = text(t.get("index_condition")) {
        details.push(format!("Index condition: {c}"));
    }
    if let Some(c) = text(t.get("attached_condition")) {
        details.push(format!("Filter: {c}"));
    }
    let filtered = num(t.get("filtered"));
    let r_filtered = num(t.get("r_filtered"));
    match (filtered, r_filtered) {
        (Some(f), Some(r)) => details.push(format!("Filtered: {f}% estimated, {r}% actual")),
        (Some(f), None) if f < 100.0 => details.push(format!("Filtered: {f}% estimated")),
        _ => {}
    }
    if t.get("using_index") == Some(&Value::Bool(true)) {
        details.push("Using index (covering)".into());
    }
    if let Some(p) = text(t.get("possible_keys")) {
        details.push(format!("Possible keys: {p}"));
    }
    if let Some(pages) = t
        .get("r_engine_stats")
        .and_then(|s| num(s.get("pages_accessed")))
    {
        details.push(format!("Pages accessed: {pages}"));
    }
    let est_rows = num(t.get("rows")).or(num(t.get("rows_examined_per_scan")));
    let est_loops = num(t.get("loops")).unwrap_or(fanout);
    // MySQL: read + eval cost is the table's own; MariaDB 11: `cost`.
    let own_cost = t
        .get("cost_info")
        .map(|c| num(c.get("read_cost")).unwrap_or(0.0) + num(c.get("eval_cost")).unwrap_or(0.0))
        .or_else(|| num(t.get("cost")));
    let own_ms = num(t.get("r_total_time_ms")).or_else(|| {
        let table = num(t.get("r_table_time_ms"))?;
        Some(table + num(t.get("r_other_time_ms")).unwrap_or(0.0))
    });
    let full_scan = access == "ALL";
    let node = Node {
        label,
        details,
        relation: Some(name.clone()),
        full_scan,
        est_rows,
        actual_rows: num(t.get("r_rows")),
        loops: num(t.get("r_loops")),
        self_ms: own_ms,
        self_cost: own_cost,
        examined: est_rows.map(|r| r * est_loops),
        table_rows: if full_scan {
            tables.get(&name).copied().or(est_rows)
        } else {
            None
        },
        never_executed: num(t.get("r_loops")) == Some(0.0),
        ..Default::default()
    };
    let i = b.push(node, parent);
    // A derived table: `materialized` holds the query that fills it.
    for key in ["materialized", "subquery"] {
        if let Some(v) = t.get(key) {
            let at = my_struct(b, key, v, i);
            if let Some(q) = v.get("query_block") {
                my_block(b, q, Some(at), tables, "Query block");
            } else {
                my_children(b, v, at, tables);
            }
        }
    }
}

// -- MySQL EXPLAIN ANALYZE (text tree) ------------------------------------------------------------

fn mysql_tree(text: &str, tables: &Tables) -> Result<Plan, String> {
    let mut b = Builder::default();
    // (indent, node index) of the open ancestors.
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let Some(body) = trimmed.strip_prefix("-> ") else {
            // A continuation (a long condition wrapped): attach to the last node.
            if let Some(last) = b.nodes.last_mut() {
                if !trimmed.is_empty() {
                    last.details.push(trimmed.to_owned());
                }
            }
            continue;
        };
        let indent = line.len() - trimmed.len();
        while stack.last().is_some_and(|&(d, _)| d >= indent) {
            stack.pop();
        }
        let parent = stack.last().map(|&(_, i)| i);
        let (label, figures) = match body.find("  (") {
            Some(at) => (&body[..at], &body[at..]),
            None => (body, ""),
        };
        let mut node = Node {
            label: label.trim().to_owned(),
            ..Default::default()
        };
        if let Some(cost) = between(figures, "(cost=", ")") {
            for part in cost.split_whitespace() {
                if let Some(v) = part.strip_prefix("rows=") {
                    node.est_rows = v.parse().ok();
                } else if let Some((_, total)) = part.split_once("..") {
                    node.total_cost = total.parse().ok();
                } else if !part.contains('=') {
                    node.total_cost = part.parse().ok();
                }
            }
        }
        if let Some(actual) = between(figures, "(actual time=", ")") {
            let mut per_loop_ms = None;
            for part in actual.split_whitespace() {
                if let Some(v) = part.strip_prefix("rows=") {
                    node.actual_rows = v.parse().ok();
                } else if let Some(v) = part.strip_prefix("loops=") {
                    node.loops = v.parse().ok();
                } else if let Some((_, last)) = part.split_once("..") {
                    per_loop_ms = last.parse::<f64>().ok();
                }
            }
            node.total_ms = per_loop_ms.map(|t| t * node.loops.unwrap_or(1.0));
        }
        if figures.contains("(never executed)") {
            node.never_executed = true;
            node.total_ms = Some(0.0);
        }
        for scan in ["Table scan on ", "Index scan on "] {
            if let Some(rest) = node.label.strip_prefix(scan) {
                let name = rest.split_whitespace().next().unwrap_or("").to_owned();
                node.full_scan = true;
                node.table_rows = tables.get(&name).copied().or(node.est_rows);
                node.relation = Some(name);
            }
        }
        let i = b.push(node, parent);
        stack.push((indent, i));
    }
    Ok(b.plan())
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

#[cfg(test)]
mod tests;
