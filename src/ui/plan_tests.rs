//! The plan view: asking, caching, failures, folds, raw, and whole-screen snapshots of plans
//! captured from PostgreSQL, SQLite and MariaDB (src/explain/testdata).

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;
use crate::analysis::Config;
use crate::collector::SendError;
use crate::protocol::{parse_line, Event, Explain, Request};

const SID: &str = "0123456789abcdef";

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn press(app: &mut App, c: char) {
    app.handle_key(key(KeyCode::Char(c)), 10);
}

fn fixture(name: &str) -> crate::protocol::Plan {
    let text = match name {
        "pg_join_analyze" => include_str!("../explain/testdata/pg_join_analyze.json"),
        "pg_group" => include_str!("../explain/testdata/pg_group.json"),
        "pg_group_analyze" => include_str!("../explain/testdata/pg_group_analyze.json"),
        "pg_subplan_analyze" => include_str!("../explain/testdata/pg_subplan_analyze.json"),
        "sqlite_subquery" => include_str!("../explain/testdata/sqlite_subquery.json"),
        "mariadb_group_analyze" => include_str!("../explain/testdata/mariadb_group_analyze.json"),
        "mariadb_join" => include_str!("../explain/testdata/mariadb_join.json"),
        other => panic!("no fixture {other}"),
    };
    let mut ev: crate::protocol::Plan = serde_json::from_str(text).unwrap();
    ev.line = Some(text.to_owned()); // as the collector keeps it
    ev
}

/// One process (`vendor`) that ran one query, opened in the query detail.
fn detail_app(vendor: &str, sql: &str) -> App {
    let lines = [
        format!(
            r#"{{"type":"hello","v":1,"sid":"{SID}","pid":4242,"argv":["manage.py","runserver"],"databases":[{{"alias":"default","vendor":"{vendor}"}}],"ts":1.0}}"#
        ),
        format!(
            r#"{{"type":"request","sid":"{SID}","rid":"{SID}-1","kind":"http","method":"GET","path":"/books/","ts":1.5}}"#
        ),
        serde_json::json!({"type":"query","sid":SID,"rid":format!("{SID}-1"),"qid":26,
            "alias":"default","vendor":vendor,"sql":sql,"params":["Author 7","10.50"],
            "ts":1.6,"ms":0.8,"stack":[["shop/views.py",12,"books"]]})
        .to_string(),
    ];
    let mut store = Store::new();
    for l in &lines {
        store.apply(parse_line(l.as_bytes()).unwrap());
    }
    let mut app = App::new(store, "127.0.0.1:7878".into(), false, Config::default());
    app.handle_key(key(KeyCode::Enter), 10);
    app.handle_key(key(KeyCode::Enter), 10);
    assert!(matches!(app.view(), View::Detail(..)));
    app
}

/// Press `x` (or `X`), check the request sent, answer it with a captured plan.
fn explained(vendor: &str, sql: &str, name: &str, analyze: bool) -> App {
    let mut app = detail_app(vendor, sql);
    press(&mut app, if analyze { 'X' } else { 'x' });
    let Some(Effect::Explain { sid, request }) = app.effect.take() else {
        panic!("no request: {:?}", app.effect)
    };
    assert_eq!(sid, SID);
    let Request::Explain(ask) = request;
    assert_eq!((ask.qid, ask.analyze), (26, analyze));
    let mut ev = fixture(name);
    ev.sid = SID.into();
    ev.id = ask.id;
    assert!(app.plan_arrived(&ev));
    app
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

const JOIN_PG: &str = r#"SELECT "explainproj_book"."id", "explainproj_book"."title", "explainproj_author"."name" FROM "explainproj_book" INNER JOIN "explainproj_author" ON ("explainproj_book"."author_id" = "explainproj_author"."id") WHERE ("explainproj_author"."name" = %s AND "explainproj_book"."price" >= %s)"#;
const GROUP_PG: &str = r#"SELECT "explainproj_author"."id", "explainproj_author"."name", COUNT("explainproj_book"."id") AS "n" FROM "explainproj_author" LEFT OUTER JOIN "explainproj_book" ON ("explainproj_author"."id" = "explainproj_book"."author_id") GROUP BY 1 HAVING COUNT("explainproj_book"."id") > %s ORDER BY 3 DESC, 2 ASC"#;

#[test]
fn plan_pg_json_analyze() {
    let mut app = explained("postgresql", JOIN_PG, "pg_join_analyze", true);
    assert_eq!(app.view(), View::Plan(0, 0, true));
    insta::assert_snapshot!(screen(&mut app, 140, 16));
}

#[test]
fn plan_pg_json_costs_and_big_seq_scan() {
    let mut app = explained("postgresql", GROUP_PG, "pg_group", false);
    insta::assert_snapshot!(screen(&mut app, 140, 20));
}

#[test]
fn plan_pg_subplan_misestimate() {
    let sql = r#"SELECT a.name, (SELECT count(*) FROM explainproj_book b WHERE b.author_id = a.id AND b.stock = 0 AND b.price > 40) AS n FROM explainproj_author a WHERE a.name LIKE 'Author 1%' AND a.id IN (SELECT author_id FROM explainproj_book WHERE title LIKE 'Book 1%' AND published > '2020-03-01') ORDER BY n DESC"#;
    let mut app = explained("postgresql", sql, "pg_subplan_analyze", true);
    insta::assert_snapshot!(screen(&mut app, 150, 26));
}

#[test]
fn plan_sqlite_rows() {
    let sql = r#"SELECT "explainproj_book"."id" FROM "explainproj_book" WHERE "explainproj_book"."author_id" IN (SELECT U0."id" FROM "explainproj_author" U0 WHERE U0."name" LIKE %s ESCAPE '\') ORDER BY "explainproj_book"."price" DESC LIMIT 20"#;
    let mut app = explained("sqlite", sql, "sqlite_subquery", false);
    insta::assert_snapshot!(screen(&mut app, 120, 12));
}

#[test]
fn plan_mariadb_json_analyze() {
    let sql = GROUP_PG.replace('"', "`");
    let mut app = explained("mysql", &sql, "mariadb_group_analyze", true);
    insta::assert_snapshot!(screen(&mut app, 150, 22));
}

#[test]
fn plan_mariadb_json_rows_read() {
    let sql = JOIN_PG.replace('"', "`");
    let mut app = explained("mysql", &sql, "mariadb_join", false);
    insta::assert_snapshot!(screen(&mut app, 150, 18));
}

#[test]
fn nodes_fold_on_enter_and_space_and_raw_is_a_key_away() {
    let mut app = explained("postgresql", GROUP_PG, "pg_group_analyze", true);
    assert_eq!(app.plan_rows(0, true), 6);
    press(&mut app, 'j');
    press(&mut app, 'j');
    app.handle_key(key(KeyCode::Enter), 10);
    assert_eq!(app.plan_rows(0, true), 3, "Hash Right Join folded");
    let s = screen(&mut app, 140, 12);
    assert!(
        s.contains("▸ Hash Right Join") && s.contains("+3 nodes"),
        "{s}"
    );
    press(&mut app, ' ');
    assert_eq!(app.plan_rows(0, true), 6, "space unfolds");
    press(&mut app, 'G');
    press(&mut app, ' ');
    assert_eq!(app.plan_rows(0, true), 6, "a leaf does not fold");

    press(&mut app, 'R');
    let s = screen(&mut app, 100, 12);
    assert!(
        s.contains("raw plan") && s.contains("\"Node Type\": \"Sort\""),
        "{s}"
    );
    press(&mut app, 'R');
    press(&mut app, 'g');
    assert!(screen(&mut app, 100, 12).contains("▶ ") && screen(&mut app, 100, 12).contains("Sort"));
}

#[test]
fn plans_are_cached_per_query_and_mode() {
    let mut app = explained("postgresql", GROUP_PG, "pg_group", false);
    app.handle_key(key(KeyCode::Esc), 10);
    press(&mut app, 'x');
    assert!(
        app.effect.is_none(),
        "the cached plan is shown, nothing asked"
    );
    assert_eq!(app.view(), View::Plan(0, 0, false));
    press(&mut app, 'X');
    assert_eq!(
        app.view(),
        View::Plan(0, 0, true),
        "X in the plan swaps, not stacks"
    );
    assert!(matches!(
        app.effect.take(),
        Some(Effect::Explain {
            request: Request::Explain(Explain { analyze: true, .. }),
            ..
        })
    ));
    press(&mut app, 'X');
    assert!(app.effect.is_none(), "already on its way");
    app.handle_key(key(KeyCode::Esc), 10);
    assert!(matches!(app.view(), View::Detail(..)));
}

#[test]
fn failures_say_which() {
    // The shim refused (ANALYZE of an UPDATE).
    let mut app = detail_app("postgresql", "UPDATE \"t\" SET \"n\" = (\"t\".\"n\" + %s)");
    press(&mut app, 'X');
    let Some(Effect::Explain {
        request: Request::Explain(ask),
        ..
    }) = app.effect.take()
    else {
        panic!()
    };
    let refusal = format!(
        r#"{{"type":"plan","sid":"{SID}","id":{},"qid":26,"analyze":true,"vendor":"postgresql","format":null,"prefix":null,"plan":null,"ms":null,"error":"EXPLAIN ANALYZE runs the statement, so it is only done for a SELECT, not UPDATE: x shows the plan without running it","reason":"refused"}}"#,
        ask.id
    );
    let Event::Plan(ev) = parse_line(refusal.as_bytes()).unwrap() else {
        panic!()
    };
    assert!(app.plan_arrived(&ev));
    insta::assert_snapshot!("plan_refused", screen(&mut app, 110, 8));

    // The process went away while we waited.
    let mut app = detail_app("postgresql", "SELECT 1");
    press(&mut app, 'x');
    assert!(screen(&mut app, 140, 8).contains("waiting for runserver (4242) to answer"));
    assert!(app.process_gone(SID));
    let s = screen(&mut app, 140, 8);
    assert!(s.contains("process gone: the process exited"), "{s}");

    // The process had exited before we asked.
    let mut app = detail_app("postgresql", "SELECT 1");
    app.store
        .apply(Event::Disconnect(crate::protocol::Disconnect {
            sid: SID.into(),
            ts: 2.0,
        }));
    press(&mut app, 'x');
    assert!(app.effect.is_none(), "nothing to send to");
    let s = screen(&mut app, 150, 8);
    assert!(
        s.contains("process gone: runserver (4242) has exited"),
        "{s}"
    );

    // The collector could not send it; no answer in time; a replay.
    let mut app = detail_app("mysql", "SELECT 1");
    press(&mut app, 'x');
    let Some(Effect::Explain {
        request: Request::Explain(ask),
        ..
    }) = app.effect.take()
    else {
        panic!()
    };
    app.plan_not_sent(ask.id, &SendError::Gone);
    assert!(screen(&mut app, 120, 8).contains("process gone: the process is gone"));
    press(&mut app, 'x');
    assert!(app.effect.take().is_some(), "a failure is asked again");
    assert!(!app.expire_plans(Instant::now()));
    assert!(app.expire_plans(Instant::now() + PLAN_WAIT + Duration::from_secs(1)));
    assert!(screen(&mut app, 120, 8).contains("no answer: no answer from the process in 30 s"));

    let mut app = detail_app("sqlite", "SELECT 1");
    app.live = false;
    press(&mut app, 'x');
    assert!(app.effect.is_none());
    assert!(screen(&mut app, 120, 8).contains("not live: this is a recording"));
}

#[test]
fn answers_to_other_requests_are_ignored() {
    let mut app = detail_app("postgresql", "SELECT 1");
    press(&mut app, 'x');
    let mut ev = fixture("pg_group");
    ev.sid = SID.into();
    ev.id = 999;
    assert!(!app.plan_arrived(&ev));
    ev.id = 1;
    ev.sid = "another".into();
    assert!(!app.plan_arrived(&ev), "same id from another process");
}
