//! Pure key handling and whole-screen snapshots on ratatui's TestBackend.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;
use crate::protocol::parse_line;

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn examples_app() -> App {
    let mut store = Store::new();
    for l in include_str!("../../tests/protocol/examples.ndjson").lines() {
        store.apply(parse_line(l.as_bytes()).unwrap());
    }
    App::new(store, "127.0.0.1:7878".into(), false)
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
    let mut app = App::new(Store::new(), "127.0.0.1:7878".into(), false);
    let s = screen(&mut app, 110, 18);
    assert!(s.contains("listening on 127.0.0.1:7878"));
    assert!(s.contains("djtop.middleware.DjtopMiddleware"));
    insta::assert_snapshot!(s);
}
