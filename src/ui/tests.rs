//! Pure key handling and whole-screen snapshots on ratatui's TestBackend.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;
use crate::analysis::Config;
use crate::protocol::parse_line;

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn examples_app() -> App {
    let mut store = Store::new();
    for l in include_str!("../../tests/protocol/examples.ndjson").lines() {
        store.apply(parse_line(l.as_bytes()).unwrap());
    }
    App::new(store, "127.0.0.1:7878".into(), false, Config::default())
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    crate::highlight::ensure_loaded();
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

#[test]
fn enter_drills_down_and_esc_goes_back() {
    let mut app = examples_app();
    assert_eq!(app.view(), View::Requests);
    assert_eq!(app.current_request(), Some(1), "newest request selected");
    app.handle_key(key(KeyCode::Enter), 10);
    assert_eq!(app.view(), View::Queries(1));
    app.handle_key(key(KeyCode::Char('j')), 10);
    app.handle_key(key(KeyCode::Enter), 10);
    let second = app.store.requests[1].queries[1];
    assert_eq!(app.view(), View::Detail(1, second));
    app.handle_key(key(KeyCode::Esc), 10);
    app.handle_key(key(KeyCode::Esc), 10);
    assert_eq!(app.view(), View::Requests);
    app.handle_key(key(KeyCode::Esc), 10);
    assert_eq!(app.view(), View::Requests, "esc at the top stays");
    app.handle_key(key(KeyCode::Char('q')), 10);
    assert!(app.quit);
}

#[test]
fn selection_follows_newest_until_moved_and_clamps() {
    let mut app = examples_app();
    app.handle_key(key(KeyCode::Char('G')), 10);
    assert_eq!(app.current_request(), Some(0));
    app.handle_key(key(KeyCode::Down), 10);
    assert_eq!(app.current_request(), Some(0), "clamped at the end");
    app.handle_key(key(KeyCode::Char('g')), 10);
    assert_eq!(app.selected_request, None, "top follows the newest again");
    app.handle_key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL), 10);
    assert_eq!(app.current_request(), Some(0), "ctrl-d pages");
}

#[test]
fn requests_screen() {
    let mut app = examples_app();
    insta::assert_snapshot!(screen(&mut app, 100, 8));
}

#[test]
fn queries_screen() {
    let mut app = examples_app();
    app.handle_key(key(KeyCode::Enter), 10);
    insta::assert_snapshot!(screen(&mut app, 100, 10));
}

#[test]
fn detail_screen() {
    let mut app = examples_app();
    app.handle_key(key(KeyCode::Enter), 10);
    app.handle_key(key(KeyCode::Down), 10);
    app.handle_key(key(KeyCode::Enter), 10);
    insta::assert_snapshot!(screen(&mut app, 100, 24));
}

#[test]
fn welcome_screen_tells_what_to_add() {
    let mut app = App::new(
        Store::new(),
        "127.0.0.1:7878".into(),
        false,
        Config::default(),
    );
    let s = screen(&mut app, 110, 18);
    assert!(s.contains("listening on 127.0.0.1:7878"));
    assert!(s.contains("djtop.middleware.DjtopMiddleware"));
    insta::assert_snapshot!(s);
}

/// A request with the seeds' canonical N+1: tags prefetched, then `tag.created_by` per tag.
fn n_plus_one_app() -> App {
    let mut store = Store::new();
    let lines = [
        r#"{"type":"hello","v":1,"sid":"s","pid":7,"argv":["manage.py","runserver"],"ts":0.0}"#.to_owned(),
        r#"{"type":"request","sid":"s","rid":"r","kind":"http","method":"GET","path":"/articles/","ts":1.0}"#.to_owned(),
    ];
    for l in &lines {
        store.apply(parse_line(l.as_bytes()).unwrap());
    }
    for i in 0..12 {
        let q = serde_json::json!({"type":"query","sid":"s","rid":"r","qid":i,"alias":"default","vendor":"sqlite",
            "sql":"SELECT \"auth_user\".\"id\", \"auth_user\".\"username\" FROM \"auth_user\" WHERE \"auth_user\".\"id\" = %s LIMIT 21",
            "params":[i % 4],"ts":1.0 + i as f64 * 0.001,"ms":0.25,"stack":[["blog/views.py",27,"article_list"]],
            "rel":{"model":"blog.Tag","field":"created_by","kind":"fk","target":"auth.User","op":"load",
                "origin":{"how":"prefetch","model":"blog.Article","field":"tags",
                    "origin":{"how":"queryset","model":"blog.Article","site":["blog/views.py",25,"article_list"],"rows":4}}}});
        store.apply(parse_line(q.to_string().as_bytes()).unwrap());
    }
    let end = r#"{"type":"end","sid":"s","rid":"r","status":200,"route":"articles/","view":"blog.views.article_list","ms":9.0}"#;
    store.apply(parse_line(end.as_bytes()).unwrap());
    App::new(store, "127.0.0.1:7878".into(), false, Config::default())
}

#[test]
fn findings_drill_down_to_member_queries_and_detail() {
    let mut app = n_plus_one_app();
    app.handle_key(key(KeyCode::Char('f')), 10);
    assert_eq!(app.view(), View::Findings(0));
    app.handle_key(key(KeyCode::Enter), 10);
    assert_eq!(app.view(), View::Members(0, Group::Finding(0)));
    app.handle_key(key(KeyCode::Char('G')), 10);
    assert_eq!(app.selected_query, 11);
    app.handle_key(key(KeyCode::Enter), 10);
    assert_eq!(app.view(), View::Detail(0, 11));
    app.handle_key(key(KeyCode::Esc), 10);
    app.handle_key(key(KeyCode::Esc), 10);
    assert_eq!(app.view(), View::Findings(0));
    app.handle_key(key(KeyCode::Char('f')), 10);
    assert_eq!(
        app.view(),
        View::Findings(0),
        "f does nothing inside the findings panel"
    );
}

#[test]
fn findings_screens() {
    let mut app = n_plus_one_app();
    let list = screen(&mut app, 120, 6);
    assert!(
        list.contains("!1"),
        "the request list marks findings:\n{list}"
    );
    app.handle_key(key(KeyCode::Char('f')), 10);
    let panel = screen(&mut app, 120, 14);
    assert!(
        panel.contains(r#"Prefetch("tags", queryset=Tag.objects.select_related("created_by"))"#)
    );
    insta::assert_snapshot!("findings_panel", panel);
    // `y` on a finding copies its fix, exactly as shown.
    app.handle_key(key(KeyCode::Char('y')), 10);
    assert_eq!(
        app.effect.take(),
        Some(Effect::Copy(
            r#"Prefetch("tags", queryset=Tag.objects.select_related("created_by"))"#.to_owned()
        ))
    );
    app.handle_key(key(KeyCode::Enter), 10);
    insta::assert_snapshot!("finding_members", screen(&mut app, 120, 12));
}

#[test]
fn callsites_group_by_line_and_drill_down() {
    let mut app = n_plus_one_app();
    app.handle_key(key(KeyCode::Char('w')), 10);
    assert_eq!(app.view(), View::Callsites(0));
    let s = screen(&mut app, 100, 6);
    assert!(s.contains("blog/views.py:27  in article_list"), "{s}");
    app.handle_key(key(KeyCode::Enter), 10);
    assert_eq!(app.view(), View::Members(0, Group::Callsite(0)));
    assert_eq!(app.listed_queries(app.view()).len(), 12);
    insta::assert_snapshot!("callsites", screen(&mut app, 100, 8));
}

#[test]
fn yank_copies_runnable_sql_for_the_vendor() {
    let mut app = n_plus_one_app();
    app.handle_key(key(KeyCode::Enter), 10);
    app.handle_key(key(KeyCode::Char('j')), 10);
    app.handle_key(key(KeyCode::Char('y')), 10);
    assert_eq!(
        app.effect,
        Some(Effect::Copy(
            r#"SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."id" = 1 LIMIT 21;"#
                .to_owned()
        ))
    );
    assert!(app.message.as_deref().unwrap().contains("sqlite"));
}

#[test]
fn edit_opens_the_selected_frame_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("blog")).unwrap();
    let views: String = (1..=40).map(|i| format!("x{i} = {i}\n")).collect();
    std::fs::write(dir.path().join("blog/views.py"), views).unwrap();
    let mut app = n_plus_one_app();
    app.handle_key(key(KeyCode::Enter), 10);
    app.handle_key(key(KeyCode::Enter), 10);
    // The process did not say where it runs: the file is not found from here.
    app.handle_key(key(KeyCode::Char('e')), 10);
    assert_eq!(app.effect, None);
    assert!(app
        .message
        .as_deref()
        .unwrap()
        .contains("not on this machine"));

    app.store.processes[0].root = Some(dir.path().display().to_string());
    app.handle_key(key(KeyCode::Char('e')), 10);
    let Some(Effect::Edit { argv, .. }) = app.effect.take() else {
        panic!("no edit effect")
    };
    assert_eq!(
        argv.last().unwrap(),
        &dir.path().join("blog/views.py").display().to_string()
    );
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("▶    27 │ x27 = 27"), "{s}");
    assert!(
        s.contains("30 │ x30 = 30") && s.contains("24 │ x24 = 24"),
        "{s}"
    );
}

#[test]
fn osc52_sequences() {
    assert_eq!(osc52("hi", false), "\x1b]52;c;aGk=\x07");
    assert_eq!(osc52("hi", true), "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\");
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.handle_key(key(KeyCode::Char(c)), 10);
    }
}

#[test]
fn slash_filters_requests_live_and_esc_clears() {
    let mut app = examples_app();
    app.handle_key(key(KeyCode::Char('/')), 10);
    type_text(&mut app, "ARTICLES");
    assert_eq!(
        *app.request_list(),
        vec![1],
        "case-insensitive text match on the path"
    );
    app.handle_key(key(KeyCode::Enter), 10);
    assert!(!app.filter.as_ref().unwrap().editing);
    assert_eq!(app.current_request(), Some(1));
    let s = screen(&mut app, 100, 8);
    assert!(
        s.contains("/ ART") && !s.contains("startup  startup"),
        "{s}"
    );
    app.handle_key(key(KeyCode::Esc), 10);
    assert_eq!(app.filter, None);
    assert_eq!(app.request_list().len(), 2);
    // A regex, and a filter over a request's queries by SQL.
    app.handle_key(key(KeyCode::Char('/')), 10);
    type_text(&mut app, "^start");
    assert_eq!(*app.request_list(), vec![0]);
    app.handle_key(key(KeyCode::Esc), 10);
    app.handle_key(key(KeyCode::Enter), 10);
    app.handle_key(key(KeyCode::Char('/')), 10);
    type_text(&mut app, "insert");
    assert_eq!(app.listed_queries(app.view()).len(), 1);
}

#[test]
fn help_lists_every_key_of_the_view() {
    let mut app = examples_app();
    app.handle_key(key(KeyCode::Char('?')), 10);
    assert!(app.help);
    let small = screen(&mut app, 80, 24);
    let big = screen(&mut app, 160, 45);
    // On a small terminal the help scrolls: between the two ends every key shows.
    for _ in 0..30 {
        app.handle_key(key(KeyCode::Char('j')), 10);
    }
    let scrolled = screen(&mut app, 80, 24);
    assert!(app.help, "j scrolls, it does not close");
    for b in keys::bindings(View::Requests) {
        let text = b.help.get(..20).unwrap_or(b.help);
        assert!(big.contains(text), "{} missing at 160x45:\n{big}", b.help);
        assert!(
            small.contains(text) || scrolled.contains(text),
            "{} unreachable at 80x24",
            b.help
        );
    }
    insta::assert_snapshot!("help_80x24", small);
    insta::assert_snapshot!("help_160x45", big);
    app.handle_key(key(KeyCode::Char('x')), 10);
    assert!(!app.help, "any key closes it");
    assert!(!app.quit);
}

#[test]
fn routes_and_processes_views() {
    let mut app = n_plus_one_app();
    app.handle_key(key(KeyCode::Char('r')), 10);
    assert_eq!(app.view(), View::Routes);
    insta::assert_snapshot!("routes", screen(&mut app, 100, 6));
    app.handle_key(key(KeyCode::Enter), 10);
    assert_eq!(app.view(), View::Requests);
    assert_eq!(app.filter_for(View::Requests), Some("articles/"));
    app.handle_key(key(KeyCode::Char('P')), 10);
    assert_eq!(app.view(), View::Processes);
    insta::assert_snapshot!("processes", screen(&mut app, 100, 6));
}

#[test]
fn pause_clear_and_test_snippet() {
    let mut app = n_plus_one_app();
    app.handle_key(key(KeyCode::Char('t')), 10);
    let Some(Effect::Copy(text)) = app.effect.take() else {
        panic!("no snippet")
    };
    assert!(
        text.contains("with self.assertNumQueries(12):\n    self.client.get(\"/articles/\")"),
        "{text}"
    );
    assert!(
        text.contains("def test_articles_query_count(client, django_assert_num_queries):"),
        "{text}"
    );
    app.handle_key(key(KeyCode::Char('p')), 10);
    assert!(app.paused);
    app.waiting = 42;
    assert!(screen(&mut app, 120, 6).contains("PAUSED, 42 events waiting"));
    app.handle_key(key(KeyCode::Char('p')), 10);
    assert!(!app.paused);
    app.handle_key(key(KeyCode::Char('c')), 10);
    assert!(app.store.requests.is_empty());
    assert_eq!(app.store.processes.len(), 1);
}

#[test]
fn timeline_shows_queries_on_the_request_clock() {
    let mut app = n_plus_one_app();
    app.handle_key(key(KeyCode::Char('T')), 10);
    assert_eq!(app.view(), View::Timeline(0));
    let s = screen(&mut app, 100, 10);
    assert!(s.contains("3.0 ms of SQL in 11.2 ms"), "{s}");
    insta::assert_snapshot!("timeline", s);
    app.handle_key(key(KeyCode::Enter), 10);
    assert!(matches!(app.view(), View::Detail(0, _)));
}

#[test]
fn mark_and_diff_two_requests() {
    let mut app = examples_app();
    app.handle_key(key(KeyCode::Char('d')), 10);
    assert!(app
        .message
        .as_deref()
        .unwrap()
        .contains("mark a request with m first"));
    app.handle_key(key(KeyCode::Char('m')), 10);
    app.handle_key(key(KeyCode::Char('j')), 10);
    app.handle_key(key(KeyCode::Char('d')), 10);
    assert_eq!(app.view(), View::Diff(1, 0));
    insta::assert_snapshot!("diff", screen(&mut app, 100, 10));
}

#[test]
fn clicks_select_rows_and_a_second_click_opens() {
    let mut app = examples_app();
    screen(&mut app, 100, 8); // the list records where its rows are
                              // Row 0 is the title, row 1 the header: row 3 is the second request.
    app.click(20, 3, 10);
    assert_eq!(app.current_request(), Some(0));
    app.click(20, 3, 10);
    assert_eq!(app.view(), View::Queries(0));
    app.click(20, 40, 10);
    assert_eq!(app.view(), View::Queries(0), "outside the rows: nothing");
}

#[test]
fn s_sorts_requests_and_queries_and_n_wraps_through_matches() {
    let mut app = examples_app();
    assert_eq!(*app.request_list(), vec![1, 0]);
    app.handle_key(key(KeyCode::Char('s')), 10);
    assert_eq!(app.request_sort, Sort::Count);
    assert_eq!(*app.request_list(), vec![1, 0], "4 queries before 0");
    assert!(screen(&mut app, 100, 6).contains("requests, most queries first"));
    app.handle_key(key(KeyCode::Char('s')), 10);
    app.handle_key(key(KeyCode::Char('s')), 10);
    assert_eq!(app.request_sort, Sort::Order);
    app.handle_key(key(KeyCode::Enter), 10);
    app.handle_key(key(KeyCode::Char('s')), 10);
    let by_time: Vec<f64> = app
        .listed_queries(app.view())
        .iter()
        .map(|&q| app.store.queries[q].ms)
        .collect();
    assert_eq!(by_time, vec![0.3, 0.21, 0.084, 0.05]);
    // n/N wrap through a filtered list.
    app.handle_key(key(KeyCode::Char('/')), 10);
    type_text(&mut app, "select");
    app.handle_key(key(KeyCode::Enter), 10);
    assert_eq!(app.listed_queries(app.view()).len(), 3);
    app.handle_key(key(KeyCode::Char('N')), 10);
    assert_eq!(app.selected_query, 2, "N from the first wraps to the last");
    app.handle_key(key(KeyCode::Char('n')), 10);
    assert_eq!(app.selected_query, 0);
}

/// Every view, at the two sizes the issue names.
#[test]
fn every_view_at_80x24_and_160x45() {
    type Steps = &'static [KeyCode];
    let views: &[(&str, Steps)] = &[
        ("requests", &[]),
        ("queries", &[KeyCode::Enter]),
        ("detail", &[KeyCode::Enter, KeyCode::Enter]),
        ("findings", &[KeyCode::Char('f')]),
        ("members", &[KeyCode::Char('f'), KeyCode::Enter]),
        ("callsites", &[KeyCode::Char('w')]),
        ("timeline", &[KeyCode::Char('T')]),
        ("routes", &[KeyCode::Char('r')]),
        ("processes", &[KeyCode::Char('P')]),
        ("help", &[KeyCode::Enter, KeyCode::Char('?')]),
    ];
    for (name, steps) in views {
        for (w, h) in [(80, 24), (160, 45)] {
            let mut app = n_plus_one_app();
            for step in *steps {
                app.handle_key(key(*step), 10);
            }
            insta::assert_snapshot!(format!("view_{name}_{w}x{h}"), screen(&mut app, w, h));
        }
    }
    for (w, h) in [(80, 24), (160, 45)] {
        let mut app = examples_app();
        app.handle_key(key(KeyCode::Char('m')), 10);
        app.handle_key(key(KeyCode::Char('j')), 10);
        app.handle_key(key(KeyCode::Char('d')), 10);
        insta::assert_snapshot!(format!("view_diff_{w}x{h}"), screen(&mut app, w, h));
        let mut empty = App::new(
            Store::new(),
            "127.0.0.1:7878".into(),
            false,
            Config::default(),
        );
        insta::assert_snapshot!(format!("view_welcome_{w}x{h}"), screen(&mut empty, w, h));
    }
}

#[test]
fn library_frames_hide_behind_l() {
    let mut app = examples_app();
    app.handle_key(key(KeyCode::Enter), 10);
    app.handle_key(key(KeyCode::Char('j')), 10);
    app.handle_key(key(KeyCode::Enter), 10);
    let collapsed = screen(&mut app, 120, 30);
    assert!(
        collapsed.contains("+ 2 Django/library frames, from django/db/models/fields/related_descriptors.py:224 in get_object (L shows them)"),
        "{collapsed}"
    );
    assert!(!collapsed.contains("django/db/models/query.py:631"));
    app.handle_key(key(KeyCode::Char('L')), 10);
    let open = screen(&mut app, 120, 30);
    assert!(
        open.contains("django/db/models/query.py:631  in get"),
        "{open}"
    );
    assert!(open.contains("(L hides them)"));
}

#[test]
fn a_request_bigger_than_the_budget_is_analysed_over_frames() {
    let mut app = n_plus_one_app();
    app.analysis_budget = 5;
    let first = screen(&mut app, 100, 8);
    assert!(
        first.contains("analysing… 41%"),
        "5 of 12 queries:\n{first}"
    );
    assert!(app.analysing().is_some());
    screen(&mut app, 100, 8);
    let done = screen(&mut app, 100, 8);
    assert!(app.analysing().is_none(), "{done}");
    assert!(!done.contains("analysing"), "{done}");
    // The same screen as analysed in one go.
    let mut whole = n_plus_one_app();
    assert_eq!(done, screen(&mut whole, 100, 8));
    assert_eq!(app.findings(0), whole.findings(0));
}

#[test]
fn a_growing_request_is_analysed_incrementally_and_clear_forgets_it() {
    let mut app = n_plus_one_app();
    app.handle_key(key(KeyCode::Enter), 10);
    screen(&mut app, 100, 8);
    assert_eq!(app.findings(0)[0].queries, 12);
    // More of the same N+1 arrives for the open request.
    for i in 12..20 {
        let mut q = app.store.queries.len();
        if i % 2 == 0 {
            // A repeated statement: a duplicate of the one before.
            q -= 1;
        }
        let q = serde_json::json!({"type":"query","sid":"s","rid":"r","qid":i,"alias":"default",
            "vendor":"sqlite","sql":"SELECT 1","params":[q],"ts":1.5,"ms":0.5});
        app.store
            .apply(parse_line(q.to_string().as_bytes()).unwrap());
    }
    screen(&mut app, 100, 8);
    assert_eq!(app.summary(0).query_count, 20);
    assert_eq!(
        *app.findings(0),
        crate::analysis::findings(&app.store, 0, Config::default())
    );
    app.handle_key(key(KeyCode::Esc), 10);
    app.handle_key(key(KeyCode::Char('c')), 10);
    assert!(app.analyses.is_empty());
}
