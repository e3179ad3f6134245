//! `djtop report`: the analysis of a recording as JSON (the stable format of design.md) or text.

use serde::Serialize;

use crate::analysis::owned::{merged_fixes, MergedFix};
use crate::analysis::{self, Config, Finding, Summary};
use crate::store::Store;

pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Report {
    pub version: u32,
    pub dropped_events: u64,
    pub malformed_lines: u64,
    pub requests: Vec<RequestReport>,
}

#[derive(Debug, Serialize)]
pub struct RequestReport {
    pub id: String,
    pub pid: Option<u32>,
    /// `null` for work that is not an HTTP request; `path` then names it (`command:migrate`).
    pub method: Option<String>,
    pub path: String,
    pub route: Option<String>,
    pub view: Option<String>,
    pub status: Option<u16>,
    pub duration_ms: Option<f64>,
    pub query_count: usize,
    pub sql_time_ms: f64,
    pub duplicate_queries: usize,
    pub similar_queries: usize,
    pub findings: Vec<Finding>,
    /// One statement per queryset that several findings share (docs/n-plus-one.md).
    pub merged_fixes: Vec<MergedFix>,
}

/// Round to microseconds so reports are readable and stable.
fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

pub fn build(store: &Store, config: Config) -> Report {
    let requests = store
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let Summary {
                query_count,
                sql_ms,
                duplicate_queries,
                similar_queries,
            } = analysis::summarize(store, i);
            RequestReport {
                id: r.rid.clone(),
                pid: store.processes[r.process].pid,
                method: if r.is_http() { r.method.clone() } else { None },
                path: r.path.clone(),
                route: r.route.clone(),
                view: r.view.clone(),
                status: r.status,
                duration_ms: r.ms.map(round_ms),
                query_count,
                sql_time_ms: round_ms(sql_ms),
                duplicate_queries,
                similar_queries,
                merged_fixes: Vec::new(),
                findings: analysis::findings(store, i, config),
            }
        })
        .map(|mut r: RequestReport| {
            r.merged_fixes = merged_fixes(&r.findings);
            r
        })
        .collect();
    Report {
        version: REPORT_VERSION,
        dropped_events: store.dropped(),
        malformed_lines: store.malformed,
        requests,
    }
}

pub fn to_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("report serialises")
}

/// The text report, with any control or bidi character of the app's data escaped.
pub fn to_text(report: &Report) -> String {
    crate::interpolate::escape_unsafe(&text(report)).into_owned()
}

fn text(report: &Report) -> String {
    use std::fmt::Write;
    let queries: usize = report.requests.iter().map(|r| r.query_count).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} requests, {} queries, {} dropped events, {} malformed lines",
        report.requests.len(),
        queries,
        report.dropped_events,
        report.malformed_lines
    );
    for r in &report.requests {
        let what = match &r.method {
            Some(m) => format!("{m} {}", r.path),
            None => r.path.clone(),
        };
        let status = r
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into());
        let dur = r
            .duration_ms
            .map(|d| format!("{d:.1} ms"))
            .unwrap_or_else(|| "-".into());
        let _ = write!(
            out,
            "\n{what}  {status}  {dur}  {} queries ({:.1} ms SQL)",
            r.query_count, r.sql_time_ms
        );
        if r.similar_queries > 0 || r.duplicate_queries > 0 {
            let _ = write!(
                out,
                ", {} similar, {} duplicate",
                r.similar_queries, r.duplicate_queries
            );
        }
        for m in &r.merged_fixes {
            let _ = write!(
                out,
                "\n  = one fix for {} findings{}\n      {}",
                m.findings.len(),
                m.queryset
                    .as_ref()
                    .map(|q| format!(" at {q}"))
                    .unwrap_or_default(),
                m.fix
            );
        }
        for f in &r.findings {
            let what = match (&f.model, &f.field) {
                (Some(m), Some(field)) => format!("{m}.{field}"),
                (Some(m), None) => m.clone(),
                _ => String::new(),
            };
            let _ = write!(out, "\n  ! {} {what}: {}", f.kind, f.title);
            if let Some(package) = &f.library {
                let _ = write!(
                    out,
                    "\n      library  {package}: its own loop (not failing check without --include-libraries)"
                );
            }
            if let Some(o) = &f.owner {
                let site = o.site.as_deref().unwrap_or("a library");
                let _ = write!(out, "\n      owner    {} {} ({site})", o.kind, o.class);
            }
            if let Some(c) = &f.callsite {
                let _ = write!(out, "\n      at       {c}");
            }
            if let Some(q) = &f.queryset {
                let _ = write!(out, "\n      queryset {q}");
            }
            let _ = write!(out, "\n      fix      {}", f.fix);
            for alt in &f.alternatives {
                let _ = write!(out, "\n      or       {alt}");
            }
        }
    }
    let findings: usize = report.requests.iter().map(|r| r.findings.len()).sum();
    let _ = write!(out, "\n\n{findings} findings");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(store: &Store) -> Report {
        super::build(store, Config::default())
    }

    fn examples() -> Store {
        let mut store = Store::new();
        for l in include_str!("../tests/protocol/examples.ndjson").lines() {
            store.apply(crate::protocol::parse_line(l.as_bytes()).unwrap());
        }
        store
    }

    #[test]
    fn json_has_the_stable_keys() {
        let json: serde_json::Value = serde_json::from_str(&to_json(&build(&examples()))).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["dropped_events"], 12);
        let startup = &json["requests"][0];
        assert_eq!(startup["method"], serde_json::Value::Null);
        assert_eq!(startup["path"], "startup");
        let r = &json["requests"][1];
        for key in [
            "id",
            "method",
            "path",
            "route",
            "status",
            "duration_ms",
            "query_count",
            "sql_time_ms",
            "duplicate_queries",
            "similar_queries",
            "findings",
        ] {
            assert!(r.get(key).is_some(), "missing {key}");
        }
        assert_eq!(r["query_count"], 4);
        assert_eq!(r["sql_time_ms"], 0.644);
    }

    #[test]
    fn text_names_each_request() {
        let text = to_text(&build(&examples()));
        assert!(
            text.starts_with("2 requests, 4 queries, 12 dropped events"),
            "{text}"
        );
        assert!(
            text.contains("GET /articles/?page=2  200  12.5 ms  4 queries (0.6 ms SQL)"),
            "{text}"
        );
    }
}
