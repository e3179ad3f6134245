//! Each rule on events shaped like the shim's (docs/protocol.md), one request per test.

use serde_json::{json, Value};

use super::*;
use crate::protocol::parse_line;

const SITE: &str = "blog/views.py";

fn store(queries: &[Value]) -> Store {
    let hello = json!({"type":"hello","v":1,"sid":"s","pid":1,"ts":0.0,
        "models":{"blog_visit":"blog.Visit","blog_book":"blog.Book"}});
    store_after(hello, queries)
}

/// One process (its `hello`) running one request of these queries.
fn store_after(hello: Value, queries: &[Value]) -> Store {
    let mut store = Store::new();
    store.apply(parse_line(hello.to_string().as_bytes()).unwrap());
    for (i, q) in queries.iter().enumerate() {
        let mut ev = json!({"type":"query","sid":"s","rid":"r","qid":i,"alias":"default",
            "vendor":"sqlite","ts":1.0,"ms":0.5,"stack":[[SITE, 40, "view"]]});
        for (k, v) in q.as_object().unwrap() {
            ev[k] = v.clone();
        }
        store.apply(parse_line(ev.to_string().as_bytes()).unwrap());
    }
    store
}

fn queryset(model: &str, line: u32) -> Value {
    json!({"how":"queryset","model":model,"site":[SITE, line, "view"],"rows":30})
}

fn lazy_fk(model: &str, field: &str, target: &str, origin: Value, param: usize) -> Value {
    json!({"sql":format!("SELECT * FROM t_{field} WHERE id = %s LIMIT 21"),"params":[param],
        "rel":{"model":model,"field":field,"kind":"fk","target":target,"op":"load","origin":origin}})
}

fn run(queries: &[Value]) -> Vec<Finding> {
    let s = store(queries);
    findings(&s, 0, Config::default())
}

fn one(queries: &[Value]) -> Finding {
    let mut f = run(queries);
    assert_eq!(f.len(), 1, "{f:#?}");
    f.remove(0)
}

#[test]
fn forward_fk_per_row_is_select_related() {
    let mut qs = vec![json!({"sql":"SELECT * FROM article","params":[]})];
    qs.extend((0..30).map(|i| {
        lazy_fk(
            "blog.Article",
            "author",
            "blog.Author",
            queryset("blog.Article", 25),
            i,
        )
    }));
    let f = one(&qs);
    assert_eq!(f.kind, "n_plus_one");
    assert_eq!(f.model.as_deref(), Some("blog.Article"));
    assert_eq!(f.field.as_deref(), Some("author"));
    assert_eq!(f.queries, 30);
    assert_eq!(f.fix, r#"select_related("author")"#);
    assert_eq!(f.callsite.as_deref(), Some("blog/views.py:40"));
    assert_eq!(f.queryset.as_deref(), Some("blog/views.py:25"));
}

#[test]
fn chain_is_one_finding_with_the_longest_path() {
    let root = queryset("blog.Book", 12);
    let mut qs = Vec::new();
    for i in 0..10 {
        qs.push(lazy_fk(
            "blog.Book",
            "author",
            "blog.Author",
            root.clone(),
            i,
        ));
        let via = json!({"how":"lazy","model":"blog.Book","field":"author","origin":root});
        let mut profile = lazy_fk("blog.Author", "profile", "blog.Profile", via, i);
        profile["rel"]["kind"] = json!("o2o");
        qs.push(profile);
    }
    let f = one(&qs);
    assert_eq!(f.fix, r#"select_related("author__profile")"#);
    assert_eq!(
        (f.model.as_deref(), f.field.as_deref()),
        (Some("blog.Book"), Some("author"))
    );
    assert_eq!(f.queries, 20);
}

#[test]
fn reverse_fk_and_m2m_are_prefetch_related() {
    let qs: Vec<Value> = (0..5)
        .map(|i| json!({"sql":"SELECT * FROM book WHERE author_id = %s","params":[i],
            "rel":{"model":"blog.Author","field":"books","kind":"reverse_fk","target":"blog.Book","op":"all",
                   "origin":queryset("blog.Author", 9)}}))
        .collect();
    let f = one(&qs);
    assert_eq!(f.fix, r#"prefetch_related("books")"#);
    assert_eq!(f.kind, "n_plus_one");
}

#[test]
fn fk_on_prefetched_instances_goes_inside_the_prefetch() {
    let via = json!({"how":"prefetch","model":"blog.Article","field":"tags","origin":queryset("blog.Article", 25)});
    let qs: Vec<Value> = (0..90)
        .map(|i| lazy_fk("blog.Tag", "created_by", "auth.User", via.clone(), i % 15))
        .collect();
    let f = one(&qs);
    assert_eq!(
        f.fix,
        r#"Prefetch("tags", queryset=Tag.objects.select_related("created_by"))"#
    );
    assert_eq!(
        (f.model.as_deref(), f.field.as_deref()),
        (Some("blog.Tag"), Some("created_by"))
    );
    assert_eq!(
        f.queries, 90,
        "the duplicates among them are part of the N+1, not another finding"
    );
    assert_eq!(f.queryset.as_deref(), Some("blog/views.py:25"));
}

#[test]
fn m2m_then_fk_unprefetched_is_a_prefetch_with_select_related() {
    let root = queryset("blog.Article", 25);
    let mut qs = Vec::new();
    for i in 0..10 {
        qs.push(json!({"sql":"SELECT * FROM tag JOIN article_tags WHERE article_id = %s","params":[i],
            "rel":{"model":"blog.Article","field":"tags","kind":"m2m","target":"blog.Tag","op":"all","origin":root}}));
        let via = json!({"how":"lazy","model":"blog.Article","field":"tags","origin":root});
        qs.push(lazy_fk("blog.Tag", "created_by", "auth.User", via, i));
    }
    let f = one(&qs);
    assert_eq!(
        f.fix,
        r#"prefetch_related(Prefetch("tags", queryset=Tag.objects.select_related("created_by")))"#
    );
    assert_eq!(f.queries, 20);
}

#[test]
fn filter_on_a_prefetched_relation_is_a_prefetch_with_to_attr() {
    let qs: Vec<Value> = (0..10)
        .map(|i| json!({"sql":"SELECT * FROM book WHERE author_id = %s AND year = %s","params":[i, 2024],
            "rel":{"model":"blog.Author","field":"books","kind":"reverse_fk","target":"blog.Book","op":"filter",
                   "lookups":{"published__year":2024},"prefetched":true,"origin":queryset("blog.Author", 9)}}))
        .collect();
    let f = one(&qs);
    assert_eq!(
        f.fix,
        r#"prefetch_related(Prefetch("books", queryset=Book.objects.filter(published__year=2024), to_attr="filtered_books"))"#
    );
    assert!(f.title.contains("bypasses the prefetch"), "{}", f.title);
}

#[test]
fn count_per_row_is_annotate_count() {
    let qs: Vec<Value> = (0..20)
        .map(|i| json!({"sql":"SELECT COUNT(*) FROM book WHERE author_id = %s","params":[i],
            "rel":{"model":"blog.Author","field":"books","kind":"reverse_fk","target":"blog.Book","op":"count",
                   "origin":queryset("blog.Author", 9)}}))
        .collect();
    let f = one(&qs);
    assert_eq!(f.kind, "count_per_row");
    assert_eq!(f.fix, r#"annotate(Count("books"))"#);
}

#[test]
fn get_by_pk_in_a_loop_is_in_bulk() {
    let qs: Vec<Value> = (0..20)
        .map(|i| {
            json!({"sql":"SELECT * FROM blog_book WHERE id = %s LIMIT 21","params":[i],
            "orm":{"model":"blog.Book","op":"get","lookups":{"pk":i}}})
        })
        .collect();
    let f = one(&qs);
    assert_eq!(f.kind, "get_per_row");
    assert_eq!(f.fix, "Book.objects.in_bulk(ids)");
    assert_eq!(f.model.as_deref(), Some("blog.Book"));

    // In an async view the fix is the async API.
    let mut s = store(&qs);
    let end = r#"{"type":"end","sid":"s","rid":"r","status":200,"ms":1.0,"async":true}"#;
    s.apply(parse_line(end.as_bytes()).unwrap());
    let f = findings(&s, 0, Config::default());
    assert_eq!(f[0].fix, "await Book.objects.ain_bulk(ids)");
}

#[test]
fn repeated_insert_is_bulk_create_named_from_the_table() {
    let qs: Vec<Value> = (0..10)
        .map(|i| json!({"sql":"INSERT INTO \"blog_visit\" (\"article_id\") VALUES (%s) RETURNING \"id\"","params":[i]}))
        .collect();
    let f = one(&qs);
    assert_eq!(f.kind, "repeated_write");
    assert_eq!(f.model.as_deref(), Some("blog.Visit"));
    assert_eq!(
        f.fix,
        "Visit.objects.bulk_create([Visit(**row) for row in rows])"
    );
}

#[test]
fn duplicate_names_the_call_to_hoist() {
    let q = json!({"sql":"SELECT * FROM publisher WHERE name = %s LIMIT 21","params":["P1"],
        "orm":{"model":"blog.Publisher","op":"get","lookups":{"name":"P1"}}});
    let f = one(&vec![q; 20]);
    assert_eq!(f.kind, "duplicate");
    assert_eq!(
        f.fix,
        r#"Publisher.objects.get(name="P1")  # run once before the loop and reuse the result"#
    );
}

#[test]
fn no_finding_below_threshold_for_a_single_object_or_transactions() {
    // Two rows: below the default threshold of 3.
    let two: Vec<Value> = (0..2)
        .map(|i| {
            lazy_fk(
                "blog.Article",
                "author",
                "blog.Author",
                queryset("blog.Article", 25),
                i,
            )
        })
        .collect();
    assert!(run(&two).is_empty());
    // A single object's lazy loads, however many.
    let single = json!({"how":"get","model":"blog.Book","site":[SITE, 5, "detail"]});
    let loads: Vec<Value> = (0..5)
        .map(|i| lazy_fk("blog.Book", "author", "blog.Author", single.clone(), i))
        .collect();
    assert!(run(&loads).is_empty());
    // Transaction statements repeat by nature.
    let begins = vec![json!({"sql":"BEGIN","params":null}); 5];
    assert!(run(&begins).is_empty());
    // Fixed view: one JOINed query.
    assert!(run(&[json!({"sql":"SELECT * FROM a JOIN b","params":[]})]).is_empty());
}

#[test]
fn python_literals_in_fixes() {
    assert_eq!(py_literal("true"), "True");
    assert_eq!(py_literal("null"), "None");
    assert_eq!(py_literal(r#""it's \"x\"""#), r#""it's \"x\"""#);
    assert_eq!(py_literal("[1,false]"), "[1, False]");
}

#[test]
fn insert_tables_are_read_in_every_quoting() {
    assert_eq!(
        insert_table(r#"INSERT INTO "blog_visit" ("a") VALUES (%s)"#),
        Some("blog_visit")
    );
    assert_eq!(
        insert_table("insert into `blog_visit` (a) values (%s)"),
        Some("blog_visit")
    );
    assert_eq!(
        insert_table("INSERT INTO blog_visit(a) VALUES (1)"),
        Some("blog_visit")
    );
    assert_eq!(insert_table("SELECT 1"), None);
}

#[test]
fn generic_relation_managers_prefetch_and_generic_foreign_keys_select() {
    let many: Vec<Value> = (0..4)
        .map(|i| json!({"sql":"SELECT * FROM comment WHERE object_id = %s","params":[i],
            "rel":{"model":"blog.Article","field":"comments","kind":"generic","target":"blog.Comment","op":"all",
                   "origin":queryset("blog.Article", 9)}}))
        .collect();
    assert_eq!(one(&many).fix, r#"prefetch_related("comments")"#);
    let single: Vec<Value> = (0..4)
        .map(|i| json!({"sql":"SELECT * FROM article WHERE id = %s","params":[i],
            "rel":{"model":"blog.Comment","field":"target","kind":"generic","target":"blog.Article","op":"load",
                   "origin":queryset("blog.Comment", 9)}}))
        .collect();
    // A GenericForeignKey cannot be JOINed: prefetch_related is Django's tool for it too.
    assert_eq!(one(&single).fix, r#"prefetch_related("target")"#);
}

fn store_on(django: &str, queries: &[Value]) -> Store {
    let hello = json!({"type":"hello","v":1,"sid":"s","pid":1,"ts":0.0,"django":django});
    store_after(hello, queries)
}

fn fk_loop() -> Vec<Value> {
    (0..5)
        .map(|i| {
            lazy_fk(
                "blog.Book",
                "author",
                "blog.Author",
                queryset("blog.Book", 25),
                i,
            )
        })
        .collect()
}

#[test]
fn django_6_1_offers_fetch_peers_after_select_related() {
    let s = store_on("6.1.3", &fk_loop());
    let f = findings(&s, 0, Config::default());
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].fix, r#"select_related("author")"#);
    assert_eq!(f[0].alternatives, vec!["fetch_mode(models.FETCH_PEERS)"]);
    // Before 6.1 there are no fetch modes; many-valued relations never get one.
    for old in ["5.2.19", "6.0.10"] {
        let f = findings(&store_on(old, &fk_loop()), 0, Config::default());
        assert!(f[0].alternatives.is_empty(), "{old}: {f:#?}");
    }
    let m2m: Vec<Value> = (0..5)
        .map(|i| {
            json!({"sql":"SELECT * FROM tag","params":[i],
                "rel":{"model":"blog.Book","field":"tags","kind":"m2m","target":"blog.Tag",
                       "op":"all","origin":queryset("blog.Book", 25)}})
        })
        .collect();
    let f = findings(&store_on("6.1.3", &m2m), 0, Config::default());
    assert_eq!(f[0].fix, r#"prefetch_related("tags")"#);
    assert!(f[0].alternatives.is_empty());
}

#[test]
fn fetch_peers_loads_are_never_an_n_plus_one() {
    // Three querysets in a loop, each of whose rows' authors came in one FETCH_PEERS load.
    let qs: Vec<Value> = (0..4)
        .map(|i| {
            json!({"sql":"SELECT * FROM t_author WHERE id IN (%s, %s)","params":[i, i + 1],
                "rel":{"model":"blog.Book","field":"author","kind":"fk","target":"blog.Author",
                       "op":"peers","origin":queryset("blog.Book", 25)}})
        })
        .collect();
    let f = findings(&store_on("6.1.3", &qs), 0, Config::default());
    assert!(f.iter().all(|f| f.kind != "n_plus_one"), "{f:#?}");
}

#[test]
fn django_versions_compare() {
    assert!(django_at_least("6.1.3", (6, 1)));
    assert!(django_at_least("6.1a1", (6, 1)));
    assert!(django_at_least("6.2.dev20261201", (6, 1)));
    assert!(django_at_least("7.0", (6, 1)));
    assert!(!django_at_least("6.0.10", (6, 1)));
    assert!(!django_at_least("5.2.19", (6, 1)));
    assert!(!django_at_least("", (6, 1)));
}

#[test]
fn fix_literals_escape_controls_and_bidi_overrides() {
    // A duplicate's fix repeats the call with its lookups: a crafted value must reach no
    // terminal raw, yet stay the same Python string.
    assert_eq!(
        python_str("a\u{9b}b\u{202e}c\u{1b}"),
        r#""a\u009bb\u202ec\u001b""#
    );
    assert_eq!(python_str("plain"), r#""plain""#);
}
