//! Plans captured from the local servers (PostgreSQL 15, MariaDB 10.11, SQLite 3) through the
//! real shim, as the `plan` events it sent: see tests/python/explainproj/scenario.py.

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        ($name, include_str!(concat!("testdata/", $name, ".json")))
    };
}

const FIXTURES: &[(&str, &str)] = &[
    fixture!("pg_join"),
    fixture!("pg_join_analyze"),
    fixture!("pg_count"),
    fixture!("pg_count_analyze"),
    fixture!("pg_update"),
    fixture!("pg_group"),
    fixture!("pg_group_analyze"),
    fixture!("pg_subquery"),
    fixture!("pg_subquery_analyze"),
    fixture!("pg_forupdate"),
    fixture!("pg_subplan_analyze"),
    fixture!("sqlite_join"),
    fixture!("sqlite_count"),
    fixture!("sqlite_update"),
    fixture!("sqlite_group"),
    fixture!("sqlite_subquery"),
    fixture!("mariadb_join"),
    fixture!("mariadb_join_analyze"),
    fixture!("mariadb_count"),
    fixture!("mariadb_count_analyze"),
    fixture!("mariadb_update"),
    fixture!("mariadb_group"),
    fixture!("mariadb_group_analyze"),
    fixture!("mariadb_subquery"),
    fixture!("mariadb_subquery_analyze"),
    fixture!("mariadb_forupdate"),
];

pub(crate) fn event(name: &str) -> protocol::Plan {
    let text = FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
        .1;
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub(crate) fn plan(name: &str) -> Plan {
    answer(&event(name))
        .result
        .unwrap_or_else(|f| panic!("{name}: {f:?}"))
}

fn labels(p: &Plan) -> Vec<String> {
    p.nodes
        .iter()
        .map(|n| format!("{}{}", "  ".repeat(n.depth), n.label))
        .collect()
}

fn find(p: &Plan, label: &str) -> usize {
    p.nodes
        .iter()
        .position(|n| n.label.starts_with(label))
        .unwrap_or_else(|| panic!("no node {label:?} in {:#?}", labels(p)))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn every_captured_plan_parses_into_a_tree() {
    for (name, _) in FIXTURES {
        let p = plan(name);
        assert!(!p.nodes.is_empty(), "{name}");
        for (i, n) in p.nodes.iter().enumerate() {
            for &c in &n.children {
                assert!(c > i, "{name}: pre-order");
                assert_eq!(p.nodes[c].parent, Some(i));
                assert_eq!(p.nodes[c].depth, n.depth + 1);
            }
        }
        assert_eq!(p.analyze, name.ends_with("_analyze"), "{name}");
        let raw = answer(&event(name)).raw.unwrap();
        assert!(!raw.is_empty());
    }
}

#[test]
fn postgres_join_plan_costs_and_the_costliest_node() {
    let p = plan("pg_join");
    assert_eq!(
        labels(&p),
        [
            "Nested Loop",
            "  Seq Scan on explainproj_author",
            "  Bitmap Heap Scan on explainproj_book",
            "    Bitmap Index Scan on explainproj_book_author_id_c1543284",
        ]
    );
    assert_eq!(p.basis(), Basis::Cost);
    let root = &p.nodes[0];
    assert!(close(root.total_cost.unwrap(), 42.85));
    assert!(close(root.self_cost.unwrap(), 42.85 - 1.5 - 40.55));
    let heap = find(&p, "Bitmap Heap Scan");
    assert!(close(p.nodes[heap].self_cost.unwrap(), 40.55 - 5.03));
    assert_eq!(p.costliest(), Some(heap));
    let seq = find(&p, "Seq Scan");
    assert!(p.nodes[seq].full_scan);
    assert_eq!(p.nodes[seq].table_rows, Some(40.0));
    assert!(!p.big_scan(seq), "40 rows is not a big table");
    assert!(p.nodes[seq]
        .details
        .contains(&"Filter: ((name)::text = 'Author 7'::text)".to_owned()));
    assert_eq!(p.nodes[heap].est_rows, Some(80.0));
    assert_eq!(p.nodes[heap].actual_rows, None);
    assert!(p.nodes[heap].misestimate().is_none(), "needs ANALYZE");
}

#[test]
fn postgres_analyze_times_rows_and_buffers() {
    let p = plan("pg_join_analyze");
    assert_eq!(p.basis(), Basis::Time);
    assert!(p.planning_ms.is_some() && p.execution_ms.is_some());
    let root = &p.nodes[0];
    let json = event("pg_join_analyze").plan.unwrap();
    let total = json[0]["Plan"]["Actual Total Time"].as_f64().unwrap();
    assert!(close(root.total_ms.unwrap(), total));
    let children: f64 = root
        .children
        .iter()
        .map(|&c| p.nodes[c].total_ms.unwrap())
        .sum();
    assert!(close(root.self_ms.unwrap(), total - children));
    let seq = find(&p, "Seq Scan");
    assert_eq!(p.nodes[seq].actual_rows, Some(1.0));
    assert!(p.nodes[seq]
        .details
        .iter()
        .any(|d| d == "Rows Removed by Filter: 39"));
    assert!(p.nodes[seq]
        .details
        .iter()
        .any(|d| d.starts_with("Buffers: shared hit=")));
    let shares: f64 = (0..p.nodes.len()).filter_map(|i| p.share(i)).sum();
    assert!(close(shares, 1.0), "own shares add up to the whole");
}

#[test]
fn postgres_names_like_its_text_format_and_flags_big_seq_scans() {
    let p = plan("pg_group_analyze");
    assert_eq!(
        labels(&p),
        [
            "Sort",
            "  HashAggregate",
            "    Hash Right Join",
            "      Seq Scan on explainproj_book",
            "      Hash",
            "        Seq Scan on explainproj_author",
        ]
    );
    let book = find(&p, "Seq Scan on explainproj_book");
    let author = find(&p, "Seq Scan on explainproj_author");
    assert!(p.big_scan(book), "4,000 rows");
    assert!(!p.big_scan(author));
    assert!(p.nodes[0]
        .details
        .iter()
        .any(|d| d.starts_with("Sort Method: quicksort")));
    // Estimated 13 groups, 40 came back.
    let (factor, under) = p.nodes[1].misestimate().unwrap();
    assert!(close(factor, 40.0 / 13.0) && under);
}

#[test]
fn postgres_subplans_loops_and_misestimates() {
    let p = plan("pg_subplan_analyze");
    let sub = find(&p, "SubPlan 1: Aggregate");
    assert_eq!(p.nodes[sub].loops, Some(11.0));
    let index = find(&p, "Index Scan using");
    let n = &p.nodes[index];
    assert_eq!(
        (n.est_rows, n.actual_rows, n.loops),
        (Some(26.0), Some(1.0), Some(11.0))
    );
    let (factor, under) = n.misestimate().unwrap();
    assert!(close(factor, 26.0) && !under, "over-estimated 26 times");
    // Per-loop time times loops.
    let raw = &event("pg_subplan_analyze").plan.unwrap()[0]["Plan"]["Plans"][0]["Plans"][1];
    let per_loop = raw["Actual Total Time"].as_f64().unwrap();
    assert!(close(n.total_ms.unwrap(), per_loop * 11.0));
}

#[test]
fn sqlite_rows_become_a_tree_with_full_scans() {
    let p = plan("sqlite_subquery");
    assert_eq!(
        labels(&p),
        [
            "SEARCH explainproj_book USING INDEX explainproj_book_author_id_c1543284 (author_id=?)",
            "LIST SUBQUERY 1",
            "  SCAN U0",
            "USE TEMP B-TREE FOR ORDER BY",
        ]
    );
    assert_eq!(p.basis(), Basis::None);
    assert_eq!(p.costliest(), None);
    assert!(
        p.nodes[2].full_scan && !p.big_scan(2),
        "an alias: size unknown"
    );
    assert!(!p.nodes[0].full_scan);

    let p = plan("sqlite_count");
    assert_eq!(labels(&p), ["SCAN explainproj_book"]);
    assert!(p.big_scan(0), "sqlite_stat1 says 4,000 rows");
}

#[test]
fn sqlite_orphans_and_cycles_are_kept_and_finite() {
    let rows = serde_json::json!([
        [3, 0, 0, "A"],
        [4, 3, 0, "B"],
        [5, 9, 0, "orphan"],
        [9, 5, 0, "loop"]
    ]);
    let p = parse("sqlite", "rows", false, &rows, None).unwrap();
    assert_eq!(labels(&p), ["A", "  B", "orphan", "  loop"]);
}

#[test]
fn mariadb_analyze_times_per_table_and_the_nested_loop() {
    let p = plan("mariadb_join_analyze");
    assert_eq!(
        labels(&p),
        [
            "Query block #1",
            "  Nested loop",
            "    Lookup on explainproj_author using explainproj_author_name_3c29b374 (ref)",
            "    Lookup on explainproj_book using explainproj_book_author_id_c1543284_fk_explainproj_author_id (ref)",
        ]
    );
    assert_eq!(p.basis(), Basis::Time);
    let book = &p.nodes[3];
    let json = event("mariadb_join_analyze").plan.unwrap();
    let block = &json["query_block"];
    let t = &block["nested_loop"][1]["table"];
    let own = t["r_table_time_ms"].as_f64().unwrap() + t["r_other_time_ms"].as_f64().unwrap();
    assert!(close(book.self_ms.unwrap(), own));
    let (factor, under) = book.misestimate().unwrap();
    assert!(close(factor, 2.0) && under, "50 estimated, 100 read");
    let total = block["r_total_time_ms"].as_f64().unwrap();
    let block = &p.nodes[0];
    assert!(close(block.total_ms.unwrap(), total));
    assert!(block.self_ms.unwrap() >= 0.0);
    assert_eq!(p.costliest(), Some(3));
    assert!(p.planning_ms.is_some() && p.execution_ms.is_some());
}

#[test]
fn mariadb_plain_plans_weigh_rows_read_and_flag_full_scans() {
    let p = plan("mariadb_count");
    assert_eq!(p.basis(), Basis::Rows);
    let scan = find(&p, "Full scan on explainproj_book");
    assert!(p.big_scan(scan));
    assert_eq!(p.costliest(), Some(scan));

    let p = plan("mariadb_group");
    assert_eq!(
        labels(&p),
        [
            "Query block #1",
            "  Filesort",
            "    Temporary table",
            "      Nested loop",
            "        Full index scan on explainproj_author using PRIMARY (index)",
            "        Lookup on explainproj_book using explainproj_book_author_id_c1543284_fk_explainproj_author_id (ref)",
        ]
    );
    // 50 rows per author, read once per each of the 40 authors.
    assert_eq!(p.nodes[5].examined, Some(2000.0));
    assert_eq!(p.costliest(), Some(5));
    assert!(p.nodes[0]
        .details
        .iter()
        .any(|d| d.starts_with("Having condition: count(")));
}

#[test]
fn mariadb_filesort_time_is_its_own() {
    let p = plan("mariadb_group_analyze");
    let sort = find(&p, "Filesort");
    let own = p.nodes[sort].self_ms.unwrap();
    let json = event("mariadb_group_analyze").plan.unwrap();
    let sort_ms = json["query_block"]["filesort"]["r_total_time_ms"].as_f64();
    assert!(close(own, sort_ms.unwrap()));
    assert!(
        p.nodes[sort].total_ms.unwrap() > own,
        "plus the tables below it"
    );
}

#[test]
fn collapsing_hides_a_subtree() {
    let p = plan("pg_group_analyze");
    let all = p.visible(&HashSet::new());
    assert_eq!(all, (0..6).collect::<Vec<_>>());
    assert_eq!(p.descendants(2), 3);
    assert_eq!(p.visible(&HashSet::from([2])), vec![0, 1, 2]);
    assert_eq!(p.visible(&HashSet::from([4])), vec![0, 1, 2, 3, 4]);
    assert_eq!(p.visible(&HashSet::from([0])), vec![0]);
}

#[test]
fn refusals_and_unreadable_plans_are_failures_with_a_reason() {
    let line = r#"{"type":"plan","sid":"s","id":2,"qid":9,"analyze":true,"vendor":"postgresql","format":null,"prefix":null,"plan":null,"ms":null,"error":"EXPLAIN ANALYZE runs the statement: refused for UPDATE","reason":"refused"}"#;
    let protocol::Event::Plan(ev) = protocol::parse_line(line.as_bytes()).unwrap() else {
        panic!()
    };
    let f = answer(&ev).result.unwrap_err();
    assert_eq!((f.reason.as_str(), f.title()), ("refused", "refused"));
    assert!(f.message.contains("UPDATE"));

    let mut ev = event("pg_join");
    ev.plan = Some(serde_json::json!({"nonsense": true}));
    let a = answer(&ev);
    assert_eq!(a.result.unwrap_err().reason, "unreadable");
    assert!(a.raw.unwrap().contains("nonsense"), "raw stays available");

    ev.vendor = Some("oracle".into());
    let f = answer(&ev).result.unwrap_err();
    assert!(f.message.contains("oracle"), "{f:?}");
}

#[test]
fn mysql_explain_analyze_text_tree() {
    // The shape of MySQL 8's EXPLAIN ANALYZE output (its reference manual's example).
    let text = "-> Nested loop inner join  (cost=4.95 rows=9) (actual time=0.153..0.200 rows=9 loops=1)\n    -> Filter: (t1.a is not null)  (cost=1.15 rows=9) (actual time=0.082..0.096 rows=9 loops=1)\n        -> Table scan on t1  (cost=1.15 rows=9) (actual time=0.081..0.093 rows=9 loops=1)\n    -> Index lookup on t2 using a (a=t1.a)  (cost=0.31 rows=1) (actual time=0.010..0.011 rows=1 loops=9)\n";
    let tables = Tables::from([("t1".to_owned(), 5000.0)]);
    let p = parse(
        "mysql",
        "text",
        true,
        &Value::String(text.into()),
        Some(&tables),
    )
    .unwrap();
    assert_eq!(
        labels(&p),
        [
            "Nested loop inner join",
            "  Filter: (t1.a is not null)",
            "    Table scan on t1",
            "  Index lookup on t2 using a (a=t1.a)",
        ]
    );
    assert!(p.big_scan(2));
    let lookup = &p.nodes[3];
    assert_eq!(lookup.loops, Some(9.0));
    assert!(close(lookup.total_ms.unwrap(), 0.011 * 9.0));
    assert_eq!(p.basis(), Basis::Time);
}

#[test]
fn mysql_json_costs() {
    // MySQL 8's EXPLAIN FORMAT=JSON shape: cost_info per block and table.
    let plan = serde_json::json!({"query_block": {"select_id": 1, "cost_info": {"query_cost": "1.20"},
        "table": {"table_name": "t", "access_type": "ALL", "rows_examined_per_scan": 3,
        "rows_produced_per_join": 3, "filtered": "100.00",
        "cost_info": {"read_cost": "0.25", "eval_cost": "0.30", "prefix_cost": "0.55"}}}});
    let p = parse("mysql", "json", false, &plan, None).unwrap();
    assert_eq!(labels(&p), ["Query block #1", "  Full scan on t (ALL)"]);
    assert_eq!(p.basis(), Basis::Cost);
    assert!(close(p.nodes[1].self_cost.unwrap(), 0.55));
    assert!(close(p.nodes[0].self_cost.unwrap(), 1.20 - 0.55));
}

#[test]
fn raw_text_of_sqlite_rows_is_a_table() {
    let raw = answer(&event("sqlite_subquery")).raw.unwrap();
    assert!(raw.starts_with("id  parent  notused  detail\n"));
    assert!(raw.contains("11  9       0        SCAN U0"), "{raw}");
}

#[test]
fn raw_json_keeps_the_databases_key_order() {
    let line = r#"{"type":"plan","sid":"s","id":1,"qid":2,"format":"json","vendor":"postgresql","plan":[{"Plan": {"Node Type": "Result", "Startup Cost": 0.0, "Plans": [], "Note": "a \"quoted\" [x], {y}"}}],"ms":1.0,"error":null}"#;
    assert_eq!(
        json_member(line, "plan"),
        Some(
            r#"[{"Plan": {"Node Type": "Result", "Startup Cost": 0.0, "Plans": [], "Note": "a \"quoted\" [x], {y}"}}]"#
        )
    );
    assert_eq!(json_member(line, "ms"), Some("1.0"));
    assert_eq!(json_member(line, "error"), Some("null"));
    assert_eq!(json_member(line, "Node Type"), None, "top level only");
    let protocol::Event::Plan(mut ev) = protocol::parse_line(line.as_bytes()).unwrap() else {
        panic!()
    };
    ev.line = Some(line.to_owned());
    let raw = answer(&ev).raw.unwrap();
    assert_eq!(
        raw,
        "[\n  {\n    \"Plan\": {\n      \"Node Type\": \"Result\",\n      \"Startup Cost\": 0.0,\n      \"Plans\": [],\n      \"Note\": \"a \\\"quoted\\\" [x], {y}\"\n    }\n  }\n]"
    );
}
