//! Every key is data: one table maps keys to actions per view, and the footer is built from the
//! same table, so what the footer promises is what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::text::{Line, Span};

use super::style::Styles;
use super::View;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Back,
    Enter,
    /// Move down n rows; 0 means a page.
    Down(usize),
    Up(usize),
    Top,
    Bottom,
    /// Open the findings of the selected request.
    Findings,
    /// Open the call sites of the selected request.
    Callsites,
    /// Select the next / previous stack frame in the query detail.
    NextFrame,
    PrevFrame,
    /// Open the selected frame in $VISUAL / $EDITOR.
    Edit,
    /// Copy the query's SQL with params written in.
    Yank,
}

/// Which views a binding applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Lists,
    Nested,
    /// The request list and a request's query list.
    Request,
    /// Wherever one query is in focus: query lists and the detail.
    Query,
    Detail,
}

impl Scope {
    fn covers(self, view: View) -> bool {
        match self {
            Scope::All => true,
            Scope::Lists => !matches!(view, View::Detail(..)),
            Scope::Nested => !matches!(view, View::Requests),
            Scope::Request => matches!(view, View::Requests | View::Queries(_)),
            Scope::Query => matches!(
                view,
                View::Queries(_) | View::Members(..) | View::Detail(..)
            ),
            Scope::Detail => matches!(view, View::Detail(..)),
        }
    }
}

pub struct Binding {
    pub code: KeyCode,
    pub ctrl: bool,
    pub action: Action,
    pub scope: Scope,
    /// Footer text for the first binding of an action; `None` keeps it out of the footer.
    pub footer: Option<(&'static str, &'static str)>,
}

const fn key(code: KeyCode, action: Action, scope: Scope) -> Binding {
    Binding {
        code,
        ctrl: false,
        action,
        scope,
        footer: None,
    }
}

const fn shown(
    code: KeyCode,
    action: Action,
    scope: Scope,
    label: &'static str,
    what: &'static str,
) -> Binding {
    Binding {
        code,
        ctrl: false,
        action,
        scope,
        footer: Some((label, what)),
    }
}

const fn ctrl(c: char, action: Action, scope: Scope) -> Binding {
    Binding {
        code: KeyCode::Char(c),
        ctrl: true,
        action,
        scope,
        footer: None,
    }
}

pub const KEYS: &[Binding] = &[
    shown(
        KeyCode::Char('j'),
        Action::Down(1),
        Scope::All,
        "j/k",
        "move",
    ),
    key(KeyCode::Down, Action::Down(1), Scope::All),
    key(KeyCode::Char('k'), Action::Up(1), Scope::All),
    key(KeyCode::Up, Action::Up(1), Scope::All),
    shown(KeyCode::Enter, Action::Enter, Scope::Lists, "enter", "open"),
    key(KeyCode::Char('l'), Action::Enter, Scope::Lists),
    key(KeyCode::Right, Action::Enter, Scope::Lists),
    shown(
        KeyCode::Char('f'),
        Action::Findings,
        Scope::Request,
        "f",
        "findings",
    ),
    shown(
        KeyCode::Char('w'),
        Action::Callsites,
        Scope::Request,
        "w",
        "call sites",
    ),
    shown(
        KeyCode::Char('y'),
        Action::Yank,
        Scope::Query,
        "y",
        "copy SQL",
    ),
    shown(KeyCode::Char('e'), Action::Edit, Scope::Detail, "e", "edit"),
    shown(
        KeyCode::Tab,
        Action::NextFrame,
        Scope::Detail,
        "tab",
        "frame",
    ),
    key(KeyCode::BackTab, Action::PrevFrame, Scope::Detail),
    shown(KeyCode::Esc, Action::Back, Scope::Nested, "esc", "back"),
    key(KeyCode::Char('h'), Action::Back, Scope::Nested),
    key(KeyCode::Left, Action::Back, Scope::Nested),
    key(KeyCode::Backspace, Action::Back, Scope::Nested),
    shown(
        KeyCode::Char('g'),
        Action::Top,
        Scope::All,
        "g/G",
        "top/bottom",
    ),
    key(KeyCode::Home, Action::Top, Scope::All),
    key(KeyCode::Char('G'), Action::Bottom, Scope::All),
    key(KeyCode::End, Action::Bottom, Scope::All),
    shown(
        KeyCode::PageDown,
        Action::Down(0),
        Scope::All,
        "pgdn/pgup",
        "page",
    ),
    key(KeyCode::PageUp, Action::Up(0), Scope::All),
    ctrl('d', Action::Down(0), Scope::All),
    ctrl('u', Action::Up(0), Scope::All),
    shown(KeyCode::Char('q'), Action::Quit, Scope::All, "q", "quit"),
    ctrl('c', Action::Quit, Scope::All),
];

pub fn action_for(view: View, ev: KeyEvent) -> Option<Action> {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    KEYS.iter()
        .find(|b| b.code == ev.code && b.ctrl == ctrl && b.scope.covers(view))
        .map(|b| b.action)
}

pub fn footer(view: View, color: bool) -> Line<'static> {
    let st = Styles::new(color);
    let mut spans = vec![Span::raw(" ")];
    for b in KEYS.iter().filter(|b| b.scope.covers(view)) {
        if let Some((label, what)) = b.footer {
            spans.push(Span::styled(label, st.key));
            spans.push(Span::styled(format!(" {what}  "), st.dim));
        }
    }
    Line::from(spans)
}
