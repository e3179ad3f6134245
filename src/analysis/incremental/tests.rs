//! Incremental == from scratch: random requests (interleaved, so their query ids have gaps),
//! analysed in random batches while the store grows, against the plain per-rule passes of
//! `findings::reference` and the from-scratch group functions.

use serde_json::{json, Value};

use super::*;
use crate::analysis::{duplicate_groups, findings::reference, similar_groups};
use crate::protocol::parse_line;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SQLS: &[&str] = &[
    "SELECT * FROM blog_author WHERE id = %s LIMIT 21",
    "SELECT * FROM blog_author WHERE id IN (%s, %s)",
    "SELECT * FROM blog_author WHERE id IN (%s)",
    "SELECT * FROM blog_book WHERE author_id = %s",
    "SELECT COUNT(*) FROM blog_book WHERE author_id = %s",
    "INSERT INTO \"blog_visit\" (\"article_id\") VALUES (%s)",
    "INSERT INTO blog_tag (name) VALUES (%s)",
    "BEGIN",
    "SAVEPOINT \"s1\"",
    "SELECT 1",
];

fn site(line: u32) -> Value {
    json!(["blog/views.py", line, "view"])
}

fn rels() -> Vec<Value> {
    let qs = json!({"how":"queryset","model":"blog.Book","site":site(25),"rows":30});
    let via = json!({"how":"lazy","model":"blog.Book","field":"author","origin":qs});
    let pre = json!({"how":"prefetch","model":"blog.Article","field":"tags","origin":
        {"how":"queryset","model":"blog.Article","site":site(9)}});
    vec![
        json!({"model":"blog.Book","field":"author","kind":"fk","target":"blog.Author","op":"load","origin":qs}),
        json!({"model":"blog.Author","field":"profile","kind":"o2o","target":"blog.Profile","op":"load","origin":via}),
        json!({"model":"blog.Author","field":"books","kind":"reverse_fk","target":"blog.Book","op":"count","origin":qs}),
        json!({"model":"blog.Author","field":"books","kind":"reverse_fk","target":"blog.Book","op":"all","origin":qs}),
        json!({"model":"blog.Tag","field":"created_by","kind":"fk","target":"auth.User","op":"load","origin":pre}),
        json!({"model":"blog.Book","field":"author","kind":"fk","target":"blog.Author","op":"load",
            "origin":{"how":"get","model":"blog.Book","site":site(5)}}),
        json!({"model":"blog.Author","field":"books","kind":"reverse_fk","target":"blog.Book","op":"filter",
            "lookups":{"year":2024},"prefetched":true,"origin":qs}),
    ]
}

/// One random query event of request `rid`.
fn query(rng: &mut Rng, rid: usize, qid: usize, rels: &[Value]) -> String {
    let sql = SQLS[rng.below(SQLS.len())];
    let mut ev = json!({"type":"query","sid":"s","rid":format!("r{rid}"),"qid":qid,
        "alias":"default","vendor":"sqlite","sql":sql,"ts":1.0 + qid as f64 * 0.001,
        "ms":(rng.below(1000) as f64) * 0.0137 + 0.01});
    ev["params"] = match rng.below(4) {
        0 => json!(null),
        1 => json!([]),
        _ => json!([rng.below(4)]),
    };
    ev["many"] = json!(rng.below(10) == 0);
    // Stacks: a few, two of them with the same innermost frame.
    ev["stack"] = match rng.below(5) {
        0 => json!([]),
        1 => json!([site(40), site(80)]),
        2 => json!([site(40), site(81)]),
        3 => json!([site(41)]),
        _ => json!([site(42), site(80)]),
    };
    if rng.below(3) == 0 {
        ev["rel"] = rels[rng.below(rels.len())].clone();
    } else if rng.below(3) == 0 {
        let pk = rng.below(3);
        ev["orm"] = match rng.below(4) {
            0 => json!({"model":"blog.Author","op":"get","lookups":{"pk":pk}}),
            1 => json!({"model":"blog.Book","op":"get","lookups":{"id__exact":pk}}),
            2 => json!({"model":"blog.Author","op":"get","lookups":{"name":"x"}}),
            _ => json!({"model":"blog.Visit","op":"iterate","lookups":{}}),
        };
    }
    ev.to_string()
}

fn apply(store: &mut Store, line: &str) {
    store.apply(parse_line(line.as_bytes()).unwrap());
}

fn assert_same(store: &Store, a: &RequestAnalysis, config: Config, what: &str) {
    let r = a.request();
    assert_eq!(a.analysed(), store.requests[r].queries.len(), "{what}");
    assert_eq!(
        a.findings(store, config),
        reference::findings(store, r, config),
        "{what}: findings"
    );
    let dups = duplicate_groups(store, r);
    assert_eq!(a.duplicate_groups(store), dups, "{what}: duplicate groups");
    let similar = similar_groups(store, r);
    let s = a.summary(store);
    assert_eq!(s.query_count, store.requests[r].queries.len());
    assert_eq!(
        s.duplicate_queries,
        dups.iter().map(Group::count).sum::<usize>(),
        "{what}: duplicates"
    );
    assert_eq!(
        s.similar_queries,
        similar.iter().map(Group::count).sum::<usize>(),
        "{what}: similar"
    );
    assert_eq!(
        a.callsites(),
        reference_callsites(store, r),
        "{what}: call sites"
    );
    for q in store.request_queries(r) {
        let fp = store.fingerprint_id(q);
        let n = store
            .request_queries(r)
            .filter(|o| store.fingerprint_id(o) == fp)
            .count();
        assert_eq!(a.similar_count(fp), n, "{what}: shape count");
    }
}

/// Call sites as first written: one pass, a map from the innermost frame.
fn reference_callsites(store: &Store, request: RequestId) -> Vec<Callsite> {
    let mut index: HashMap<Option<&Frame>, usize> = HashMap::new();
    let mut out: Vec<Callsite> = Vec::new();
    for &q in &store.requests[request].queries {
        let query = &store.queries[q];
        let frame = store.stack(query).first();
        let i = *index.entry(frame).or_insert_with(|| {
            out.push(Callsite {
                frame: frame.cloned(),
                queries: Vec::new(),
                ms: 0.0,
            });
            out.len() - 1
        });
        out[i].queries.push(q);
        out[i].ms += query.ms;
    }
    out.sort_by(|a, b| {
        b.queries
            .len()
            .cmp(&a.queries.len())
            .then(b.ms.total_cmp(&a.ms))
    });
    out
}

/// Three interleaved requests grow; each has an analysis updated at random moments, by
/// random amounts; after every batch the analysis equals the from-scratch passes.
#[test]
fn incremental_equals_from_scratch_for_random_splits() {
    let rels = rels();
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let config = Config {
            min_repeats: 2 + rng.below(3),
            ..Config::default()
        };
        let mut store = Store::new();
        apply(
            &mut store,
            r#"{"type":"hello","v":1,"sid":"s","pid":1,"ts":0.0,"models":{"blog_visit":"blog.Visit"}}"#,
        );
        for rid in 0..3 {
            apply(
                &mut store,
                &format!(
                    r#"{{"type":"request","sid":"s","rid":"r{rid}","kind":"http","method":"GET","path":"/{rid}","ts":1.0}}"#
                ),
            );
        }
        let mut analyses: Vec<RequestAnalysis> = (0..3).map(RequestAnalysis::new).collect();
        let n = 50 + rng.below(250);
        for qid in 0..n {
            let rid = rng.below(3);
            let line = query(&mut rng, rid, qid, &rels);
            apply(&mut store, &line);
            if rng.below(8) == 0 {
                let a = &mut analyses[rng.below(3)];
                match rng.below(3) {
                    0 => {
                        a.update(&store);
                    }
                    _ => {
                        a.update_at_most(&store, 1 + rng.below(20));
                    }
                }
            }
        }
        for a in &mut analyses {
            a.update(&store);
            assert_same(&store, a, config, &format!("seed {seed}"));
            kinds.extend(a.findings(&store, config).iter().map(|f| f.kind));
        }
        // `end` after the analysis: is_async is read when the findings are built.
        apply(
            &mut store,
            r#"{"type":"end","sid":"s","rid":"r0","status":200,"ms":1.0,"async":true}"#,
        );
        assert_same(&store, &analyses[0], config, &format!("seed {seed}, ended"));
    }
    // Every rule had something to find (and duplicates something left to report).
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "count_per_row",
            "duplicate",
            "get_per_row",
            "n_plus_one",
            "repeated_write"
        ]
    );
}

#[test]
fn starts_over_when_the_store_was_cleared_or_replaced() {
    let rels = rels();
    let mut rng = Rng(7);
    let mut store = Store::new();
    for qid in 0..100 {
        apply(&mut store, &query(&mut rng, 0, qid, &rels));
    }
    let mut a = RequestAnalysis::new(0);
    a.update(&store);
    assert_eq!(a.analysed(), 100);

    // Cleared, then a different request 0 with more queries than were analysed.
    store.clear();
    assert_eq!(a.pending(&store), 0, "no request 0 any more");
    for qid in 0..150 {
        apply(&mut store, &query(&mut rng, 5, 1000 + qid, &rels));
    }
    assert_eq!(a.pending(&store), 150);
    a.update(&store);
    assert_same(&store, &a, Config::default(), "after clear");

    // A replaced store (a replay loaded into the app).
    let mut other = Store::new();
    for qid in 0..20 {
        apply(&mut other, &query(&mut rng, 0, qid, &rels));
    }
    a.update(&other);
    assert_same(&other, &a, Config::default(), "replaced store");
}

#[test]
fn a_huge_n_plus_one_has_one_group_and_no_list_per_statement() {
    let mut store = Store::new();
    let rel = &rels()[0];
    for qid in 0..5000 {
        let ev = json!({"type":"query","sid":"s","rid":"r","qid":qid,"alias":"default",
            "vendor":"sqlite","sql":SQLS[0],"params":[qid],"ts":1.0,"ms":0.1,
            "stack":[site(40)],"rel":rel});
        apply(&mut store, &ev.to_string());
    }
    let mut a = RequestAnalysis::new(0);
    for _ in 0..50 {
        a.update_at_most(&store, 100);
    }
    assert_eq!(a.rels.len(), 1);
    assert_eq!(a.sites.len(), 1);
    assert_eq!(a.dup_multi.len(), 0, "every params text differs");
    let f = a.findings(&store, Config::default());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].queries, 5000);
    assert_eq!(f, reference::findings(&store, 0, Config::default()));
}
