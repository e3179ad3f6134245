//! Pure analysis over the store: groups of duplicate and similar queries and per-request
//! summaries. Nothing here knows about terminals or sockets; the UI and the report only show
//! what these functions return.

mod findings;
mod fingerprint;
mod incremental;
pub mod owned;

use std::collections::HashMap;

use rustc_hash::FxHashMap;

pub use findings::{findings, Config, Finding};
pub use fingerprint::fingerprint;
pub use incremental::RequestAnalysis;

use crate::store::{QueryId, RequestId, Store};

/// Queries of one request that share a key (same SQL+params, or same fingerprint).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Members in execution order.
    pub queries: Vec<QueryId>,
    /// Total SQL time of the members.
    pub ms: f64,
}

impl Group {
    pub fn count(&self) -> usize {
        self.queries.len()
    }
}

/// Groups of identical statements (same SQL, same params) with more than one member.
pub fn duplicate_groups(store: &Store, request: RequestId) -> Vec<Group> {
    let mut by_key: FxHashMap<(u32, &str), usize> = FxHashMap::default();
    groups_by(store, request, |store, q| {
        let query = &store.queries[q];
        let next = by_key.len();
        *by_key.entry((query.sql, &query.params)).or_insert(next)
    })
}

/// Groups of statements with the same fingerprint and more than one member.
pub fn similar_groups(store: &Store, request: RequestId) -> Vec<Group> {
    let mut by_key: FxHashMap<u32, usize> = FxHashMap::default();
    groups_by(store, request, |store, q| {
        let next = by_key.len();
        *by_key
            .entry(store.fingerprint_id(&store.queries[q]))
            .or_insert(next)
    })
}

fn groups_by<'s>(
    store: &'s Store,
    request: RequestId,
    mut key: impl FnMut(&'s Store, QueryId) -> usize,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for &q in &store.requests[request].queries {
        let k = key(store, q);
        if k == groups.len() {
            groups.push(Group {
                queries: Vec::new(),
                ms: 0.0,
            });
        }
        groups[k].queries.push(q);
        groups[k].ms += store.queries[q].ms;
    }
    groups.retain(|g| g.count() > 1);
    // Most members first; ties by time.
    groups.sort_by(|a, b| b.count().cmp(&a.count()).then(b.ms.total_cmp(&a.ms)));
    groups
}

/// Queries of a request grouped by the application line that fired them.
#[derive(Debug, Clone, PartialEq)]
pub struct Callsite {
    /// The innermost application frame; `None` for queries with no app frame.
    pub frame: Option<crate::protocol::Frame>,
    pub queries: Vec<QueryId>,
    pub ms: f64,
}

/// "Which line causes most queries": most queries first, then most time.
pub fn callsites(store: &Store, request: RequestId) -> Vec<Callsite> {
    let mut analysis = RequestAnalysis::new(request);
    analysis.update(store);
    analysis.callsites()
}

/// Query counts of one route across its requests (the per-route histogram the seeds ask
/// production to keep, here while developing).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteStats {
    /// The resolver route, or the path for requests without one.
    pub route: String,
    pub requests: Vec<RequestId>,
    pub p50_queries: usize,
    pub p95_queries: usize,
    pub max_queries: usize,
    pub p95_sql_ms: f64,
}

/// Nearest-rank percentile of sorted values.
fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Every HTTP route seen, the most queries (p95) first.
pub fn routes(store: &Store) -> Vec<RouteStats> {
    let mut by_route: HashMap<&str, Vec<RequestId>> = HashMap::new();
    for (id, r) in store.requests.iter().enumerate() {
        if r.is_http() && r.ended {
            let key = r.route.as_deref().unwrap_or(r.path.as_str());
            by_route.entry(key).or_default().push(id);
        }
    }
    let mut out: Vec<RouteStats> = by_route
        .into_iter()
        .map(|(route, requests)| {
            let mut counts: Vec<usize> = requests
                .iter()
                .map(|&r| store.requests[r].queries.len())
                .collect();
            counts.sort_unstable();
            let mut sql: Vec<f64> = requests.iter().map(|&r| store.requests[r].sql_ms).collect();
            sql.sort_by(f64::total_cmp);
            RouteStats {
                route: route.to_owned(),
                p50_queries: percentile(&counts, 50.0),
                p95_queries: percentile(&counts, 95.0),
                max_queries: *counts.last().expect("non-empty"),
                p95_sql_ms: percentile(&sql, 95.0),
                requests,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.p95_queries
            .cmp(&a.p95_queries)
            .then(a.route.cmp(&b.route))
    });
    out
}

/// One query shape compared between two requests (before → after a fix, typically).
#[derive(Debug, Clone, PartialEq)]
pub struct DiffRow {
    /// An example SQL text of the shape.
    pub sql: String,
    pub before: usize,
    pub after: usize,
    pub before_ms: f64,
    pub after_ms: f64,
}

impl DiffRow {
    pub fn change(&self) -> &'static str {
        match (self.before, self.after) {
            (0, _) => "added",
            (_, 0) => "removed",
            (b, a) if b == a => "same",
            _ => "changed",
        }
    }
}

/// Query shapes of `before` and `after` side by side: removed and changed first, by how many
/// queries they moved.
pub fn diff(store: &Store, before: RequestId, after: RequestId) -> Vec<DiffRow> {
    let mut rows: Vec<DiffRow> = Vec::new();
    let mut index: HashMap<u32, usize> = HashMap::new();
    for (side, req) in [(0, before), (1, after)] {
        for q in store.request_queries(req) {
            let i = *index.entry(store.fingerprint_id(q)).or_insert_with(|| {
                rows.push(DiffRow {
                    sql: store.sql(q).to_owned(),
                    before: 0,
                    after: 0,
                    before_ms: 0.0,
                    after_ms: 0.0,
                });
                rows.len() - 1
            });
            if side == 0 {
                rows[i].before += 1;
                rows[i].before_ms += q.ms;
            } else {
                rows[i].after += 1;
                rows[i].after_ms += q.ms;
            }
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.before.abs_diff(r.after)));
    rows
}

/// The numbers the request list and the report show for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub query_count: usize,
    pub sql_ms: f64,
    /// Queries that belong to a group of identical statements.
    pub duplicate_queries: usize,
    /// Queries that belong to a group of similar statements.
    pub similar_queries: usize,
}

pub fn summarize(store: &Store, request: RequestId) -> Summary {
    let mut analysis = RequestAnalysis::new(request);
    analysis.update(store);
    analysis.summary(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_pairs_shapes_across_requests() {
        let mut store = Store::new();
        let q = |rid: &str, qid: u64, sql: &str| {
            format!(
                r#"{{"type":"query","sid":"s","rid":"{rid}","qid":{qid},"alias":"default","vendor":"sqlite","sql":"{sql}","params":[{qid}],"ts":1.0,"ms":1.0}}"#
            )
        };
        let mut lines = vec![q("a", 1, "SELECT * FROM article")];
        lines.extend((2..12).map(|i| q("a", i, "SELECT * FROM author WHERE id = %s")));
        lines.push(q("b", 20, "SELECT * FROM article JOIN author"));
        lines.push(q("b", 21, "SELECT * FROM article"));
        for l in &lines {
            store.apply(crate::protocol::parse_line(l.as_bytes()).unwrap());
        }
        let rows = diff(&store, 0, 1);
        assert_eq!(rows[0].change(), "removed");
        assert_eq!((rows[0].before, rows[0].after), (10, 0));
        let joined = rows.iter().find(|r| r.sql.contains("JOIN")).unwrap();
        assert_eq!(joined.change(), "added");
        let same = rows
            .iter()
            .find(|r| r.sql == "SELECT * FROM article")
            .unwrap();
        assert_eq!(same.change(), "same");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<usize> = (1..=20).collect();
        assert_eq!(percentile(&v, 50.0), 10);
        assert_eq!(percentile(&v, 95.0), 19);
        assert_eq!(percentile(&[7], 95.0), 7);
    }
    use crate::protocol::parse_line;

    fn query(rid: &str, qid: u64, sql: &str, params: &str, ms: f64) -> String {
        format!(
            r#"{{"type":"query","sid":"s","rid":"{rid}","qid":{qid},"alias":"default","vendor":"sqlite","sql":{},"params":{params},"ts":1.0,"ms":{ms}}}"#,
            serde_json::to_string(sql).unwrap()
        )
    }

    #[test]
    fn duplicates_need_same_params_similar_need_same_shape() {
        let mut store = Store::new();
        let lines = [
            query("r", 1, "SELECT * FROM a", "[]", 1.0),
            query("r", 2, "SELECT * FROM b WHERE id = %s", "[1]", 0.5),
            query("r", 3, "SELECT * FROM b WHERE id = %s", "[2]", 0.5),
            query("r", 4, "SELECT * FROM b WHERE id = %s", "[1]", 0.5),
            query(
                "r",
                5,
                "SELECT * FROM c WHERE id IN (%s, %s)",
                "[1,2]",
                0.25,
            ),
            query("r", 6, "SELECT * FROM c WHERE id IN (%s)", "[3]", 0.25),
        ];
        for l in &lines {
            store.apply(parse_line(l.as_bytes()).unwrap());
        }
        let dups = duplicate_groups(&store, 0);
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0].queries, vec![1, 3]);

        let similar = similar_groups(&store, 0);
        assert_eq!(similar.len(), 2);
        assert_eq!(similar[0].queries, vec![1, 2, 3]);
        assert!((similar[0].ms - 1.5).abs() < 1e-9);
        assert_eq!(similar[1].queries, vec![4, 5]);

        assert!(
            routes(&store).is_empty(),
            "a request that never ended has no route stats"
        );
        let sites = callsites(&store, 0);
        assert_eq!(sites.len(), 1, "no stacks: one group without a frame");
        assert_eq!(sites[0].queries.len(), 6);
        assert_eq!(sites[0].frame, None);

        let s = summarize(&store, 0);
        assert_eq!(s.query_count, 6);
        assert_eq!(s.duplicate_queries, 2);
        assert_eq!(s.similar_queries, 5);
    }
}
