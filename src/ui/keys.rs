//! Every key is data: one table maps keys to actions per view, with the words that describe
//! them. The footer and the `?` help overlay are both built from this table, so neither can
//! promise a key that does something else (docs/keys.md lists the same table).

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
    /// Copy a test that pins the request's query count.
    TestSnippet,
    /// Start typing a filter for the current list.
    Filter,
    /// Hold the live tail (events keep being collected).
    Pause,
    /// Forget all requests and queries.
    Clear,
    Routes,
    Processes,
    Help,
    Timeline,
    /// Mark the request to compare; `Diff` compares the selected one with it.
    Mark,
    Diff,
    /// Ask for the focused query's plan; `true`: EXPLAIN ANALYZE.
    Explain(bool),
    /// Expand or collapse the selected plan node.
    Toggle,
    /// Show the plan as the database wrote it, or the tree again.
    Raw,
    /// Show or hide the library frames of the query detail.
    Library,
    /// Cycle the order of the current list.
    Sort,
    /// Next / previous row of a filtered list, wrapping around.
    NextMatch,
    PrevMatch,
}

/// Which views a binding applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Views with rows to open.
    Lists,
    /// Anywhere but the top.
    Nested,
    /// The request list and a request's query list.
    Request,
    /// Wherever one query is in focus: query lists and the detail.
    Query,
    /// Where `y` copies something: a query's SQL, or a finding's fix.
    Copy,
    Detail,
    /// Lists that `/` can filter.
    Filterable,
    /// Only at the top: the request list.
    Top,
    /// A query's plan.
    Plan,
}

impl Scope {
    pub fn covers(self, view: View) -> bool {
        match self {
            Scope::All => true,
            Scope::Lists => !matches!(
                view,
                View::Detail(..) | View::Processes | View::Diff(..) | View::Plan(..)
            ),
            Scope::Nested => !matches!(view, View::Requests),
            Scope::Request => matches!(view, View::Requests | View::Queries(_)),
            Scope::Query => matches!(
                view,
                View::Queries(_) | View::Members(..) | View::Detail(..) | View::Plan(..)
            ),
            Scope::Copy => matches!(
                view,
                View::Queries(_)
                    | View::Members(..)
                    | View::Detail(..)
                    | View::Plan(..)
                    | View::Findings(_)
            ),
            Scope::Detail => matches!(view, View::Detail(..)),
            Scope::Filterable => {
                matches!(view, View::Requests | View::Queries(_) | View::Members(..))
            }
            Scope::Top => matches!(view, View::Requests),
            Scope::Plan => matches!(view, View::Plan(..)),
        }
    }
}

/// A key: a code and whether Ctrl is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub KeyCode, pub bool);

impl std::fmt::Display for Key {
    /// As the config file and the help write it: `x`, `ctrl-d`, `enter`, `page down`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.1 {
            f.write_str("ctrl-")?;
        }
        match self.0 {
            C::Char(' ') => f.write_str("space"),
            C::Char(c) => write!(f, "{c}"),
            other => write!(f, "{}", format!("{other}").to_lowercase()),
        }
    }
}

const fn k(c: char) -> Key {
    Key(KeyCode::Char(c), false)
}
const fn code(c: KeyCode) -> Key {
    Key(c, false)
}
const fn ctrl(c: char) -> Key {
    Key(KeyCode::Char(c), true)
}

#[derive(Clone)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub scope: Scope,
    /// How the keys are written in the footer and help: `j/↓`.
    pub label: &'static str,
    pub help: &'static str,
    /// The footer's words for it; empty keeps it out of the footer (every key is in `?`).
    pub short: &'static str,
}

const fn bind(
    keys: &'static [Key],
    action: Action,
    scope: Scope,
    label: &'static str,
    help: &'static str,
    short: &'static str,
) -> Binding {
    Binding {
        keys,
        action,
        scope,
        label,
        help,
        short,
    }
}

use Action as A;
use KeyCode as C;
use Scope as S;

#[rustfmt::skip]
pub const KEYS: &[Binding] = &[
    bind(&[code(C::Enter), k(' ')], A::Toggle, S::Plan, "enter/space", "expand / collapse the selected node", "fold"),
    bind(&[code(C::Enter), k('l'), code(C::Right)], A::Enter, S::Lists, "enter", "open the selected row", "open"),
    bind(&[code(C::Esc), k('h'), code(C::Left), code(C::Backspace)], A::Back, S::Nested, "esc", "back one level", "back"),
    bind(&[k('f')], A::Findings, S::Request, "f", "findings: each N+1 with the fix to paste", "findings"),
    bind(&[k('w')], A::Callsites, S::Request, "w", "call sites: queries grouped by the line that fired them", "lines"),
    bind(&[k('/')], A::Filter, S::Filterable, "/", "filter the list (text or regex; enter keeps it, esc clears)", "filter"),
    bind(&[k('n')], A::NextMatch, S::Filterable, "n/N", "next / previous match of the filter (wraps)", ""),
    bind(&[k('N')], A::PrevMatch, S::Filterable, "N", "previous match of the filter", ""),
    bind(&[k('s')], A::Sort, S::Filterable, "s", "sort: newest, most queries, slowest (queries: order, slowest)", "sort"),
    bind(&[k('y')], A::Yank, S::Copy, "y", "copy the SQL with its params, runnable in psql/sqlite3 (on a finding: its fix)", "copy"),
    bind(&[k('x')], A::Explain(false), S::Query, "x", "the query's plan (EXPLAIN, asked of the process that ran it)", "plan"),
    bind(&[k('X')], A::Explain(true), S::Query, "X", "EXPLAIN ANALYZE: runs a SELECT read-only, time-limited, rolled back", ""),
    bind(&[k('R')], A::Raw, S::Plan, "R", "the plan as the database wrote it (again: the tree)", "raw"),
    bind(&[k('e')], A::Edit, S::Detail, "e", "open the selected frame in $VISUAL/$EDITOR", "edit"),
    bind(&[code(C::Tab)], A::NextFrame, S::Detail, "tab", "next stack frame", "frame"),
    bind(&[k('L')], A::Library, S::Detail, "L", "show / hide the Django and library frames behind the query", "library"),
    bind(&[code(C::BackTab)], A::PrevFrame, S::Detail, "shift-tab", "previous stack frame", ""),
    bind(&[k('t')], A::TestSnippet, S::Request, "t", "copy a test pinning this request's query count", ""),
    bind(&[k('T')], A::Timeline, S::Request, "T", "timeline: the request's queries on its clock", "timeline"),
    bind(&[k('m')], A::Mark, S::Request, "m", "mark this request to compare", ""),
    bind(&[k('d')], A::Diff, S::Request, "d", "diff: compare with the marked request", ""),
    bind(&[k('r')], A::Routes, S::Top, "r", "routes: query counts per route (p50/p95)", ""),
    bind(&[k('P')], A::Processes, S::Top, "P", "connected processes", ""),
    bind(&[k('p')], A::Pause, S::All, "p", "pause/resume the live tail (events still collected)", ""),
    bind(&[k('c')], A::Clear, S::Top, "c", "clear all requests and queries", ""),
    bind(&[k('j'), code(C::Down)], A::Down(1), S::All, "j/k", "move down", "move"),
    bind(&[k('k'), code(C::Up)], A::Up(1), S::All, "k/↑", "move up", ""),
    bind(&[k('g'), code(C::Home)], A::Top, S::All, "g/G", "first / last row", ""),
    bind(&[k('G'), code(C::End)], A::Bottom, S::All, "G/end", "last row", ""),
    bind(&[code(C::PageDown), ctrl('d')], A::Down(0), S::All, "pgdn/ctrl-d", "a page down", ""),
    bind(&[code(C::PageUp), ctrl('u')], A::Up(0), S::All, "pgup/ctrl-u", "a page up", ""),
    bind(&[k('?')], A::Help, S::All, "?", "all keys of this view", "help"),
    bind(&[k('q'), ctrl('c')], A::Quit, S::All, "q", "quit", "quit"),
];

/// The table in force: [`KEYS`] with the config file's `[keys]` applied (see [`set_overrides`]).
static TABLE: std::sync::OnceLock<Vec<Binding>> = std::sync::OnceLock::new();

fn table() -> &'static [Binding] {
    TABLE.get().map(Vec::as_slice).unwrap_or(KEYS)
}

/// The name of an action in the config file's `[keys]` table.
pub fn action_name(action: Action) -> &'static str {
    match action {
        A::Quit => "quit",
        A::Back => "back",
        A::Enter => "open",
        A::Down(0) => "page_down",
        A::Down(_) => "down",
        A::Up(0) => "page_up",
        A::Up(_) => "up",
        A::Top => "top",
        A::Bottom => "bottom",
        A::Findings => "findings",
        A::Callsites => "call_sites",
        A::NextFrame => "next_frame",
        A::PrevFrame => "prev_frame",
        A::Edit => "edit",
        A::Yank => "copy_sql",
        A::TestSnippet => "copy_test",
        A::Filter => "filter",
        A::Pause => "pause",
        A::Clear => "clear",
        A::Routes => "routes",
        A::Processes => "processes",
        A::Help => "help",
        A::Timeline => "timeline",
        A::Mark => "mark",
        A::Diff => "diff",
        A::Explain(false) => "explain",
        A::Explain(true) => "explain_analyze",
        A::Toggle => "fold",
        A::Raw => "raw_plan",
        A::Library => "library_frames",
        A::Sort => "sort",
        A::NextMatch => "next_match",
        A::PrevMatch => "prev_match",
    }
}

/// `x`, `G`, `ctrl-d`, `enter`, `esc`, `tab`, `shift-tab`, `space`, `up`, `pgdn`, `f5`…
pub fn parse_key(text: &str) -> Option<Key> {
    let (ctrl, name) = match text.strip_prefix("ctrl-") {
        Some(rest) if !rest.is_empty() => (true, rest),
        _ => (false, text),
    };
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(Key(C::Char(c), ctrl));
    }
    let code = match name.to_ascii_lowercase().as_str() {
        "enter" | "return" => C::Enter,
        "esc" | "escape" => C::Esc,
        "tab" => C::Tab,
        "shift-tab" | "backtab" => C::BackTab,
        "space" => C::Char(' '),
        "backspace" => C::Backspace,
        "up" => C::Up,
        "down" => C::Down,
        "left" => C::Left,
        "right" => C::Right,
        "home" => C::Home,
        "end" => C::End,
        "pgup" | "pageup" => C::PageUp,
        "pgdn" | "pagedown" => C::PageDown,
        "delete" | "del" => C::Delete,
        f if f.starts_with('f') => C::F(f[1..].parse().ok().filter(|n| (1..=24).contains(n))?),
        _ => return None,
    };
    Some(Key(code, ctrl))
}

/// Views that the conflict check walks: one of each kind.
fn sample_views() -> [View; 11] {
    [
        View::Requests,
        View::Queries(0),
        View::Findings(0),
        View::Callsites(0),
        View::Members(0, super::Group::Finding(0)),
        View::Detail(0, 0),
        View::Routes,
        View::Processes,
        View::Timeline(0),
        View::Diff(0, 1),
        View::Plan(0, 0, false),
    ]
}

/// The first key bound twice within one view, if any.
fn conflict<'t>(bindings_of: impl Fn(View) -> Vec<&'t Binding>) -> Option<String> {
    for view in sample_views() {
        let mut seen: std::collections::HashMap<Key, Action> = std::collections::HashMap::new();
        for b in bindings_of(view) {
            for key in b.keys {
                if let Some(other) = seen.insert(*key, b.action) {
                    return Some(format!(
                        "`{key}` would mean both `{}` and `{}`",
                        action_name(other),
                        action_name(b.action)
                    ));
                }
            }
        }
    }
    None
}

/// Apply the config file's `[keys]` (`action = ["key", …]`), once, before the UI starts.
/// Unknown actions or keys, and a key that would mean two things in one view, are errors and
/// change nothing.
pub fn set_overrides(
    overrides: &std::collections::BTreeMap<String, Vec<String>>,
    origin: &str,
) -> Result<(), String> {
    let mut table: Vec<Binding> = KEYS.to_vec();
    for (name, keys) in overrides {
        let Some(binding) = table.iter_mut().find(|b| action_name(b.action) == name) else {
            let names: Vec<&str> = KEYS.iter().map(|b| action_name(b.action)).collect();
            return Err(format!(
                "{origin}: [keys] `{name}` is not an action (the actions are: {})",
                names.join(", ")
            ));
        };
        let mut parsed = Vec::new();
        for k in keys {
            parsed.push(parse_key(k).ok_or_else(|| {
                format!(
                    "{origin}: [keys] {name}: `{k}` is not a key (e.g. \"x\", \"ctrl-d\", \"enter\", \"pgdn\")"
                )
            })?);
        }
        // Leaked once at start-up: the table lives as long as the process.
        binding.keys = Box::leak(parsed.into_boxed_slice());
        binding.label = Box::leak(keys.join("/").into_boxed_str());
    }
    if let Some(problem) = conflict(|view| table.iter().filter(|b| b.scope.covers(view)).collect())
    {
        return Err(format!("{origin}: [keys]: {problem}"));
    }
    let _ = TABLE.set(table);
    Ok(())
}

pub fn action_for(view: View, ev: KeyEvent) -> Option<Action> {
    let key = Key(ev.code, ev.modifiers.contains(KeyModifiers::CONTROL));
    table()
        .iter()
        .find(|b| b.keys.contains(&key) && b.scope.covers(view))
        .map(|b| b.action)
}

/// The bindings of a view, in table order.
pub fn bindings(view: View) -> impl Iterator<Item = &'static Binding> {
    table().iter().filter(move |b| b.scope.covers(view))
}

pub fn footer(view: View, color: bool) -> Line<'static> {
    let st = Styles::new(color);
    let mut spans = vec![Span::raw(" ")];
    for b in bindings(view).filter(|b| !b.short.is_empty()) {
        spans.push(Span::styled(b.label, st.key));
        spans.push(Span::styled(format!(" {}  ", b.short), st.dim));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_means_two_things_in_one_view() {
        assert_eq!(conflict(|v| bindings(v).collect()), None);
    }

    #[test]
    fn every_action_has_its_own_config_name() {
        let mut names = std::collections::HashSet::new();
        for b in KEYS {
            assert!(
                names.insert(action_name(b.action)),
                "{}",
                action_name(b.action)
            );
        }
    }

    #[test]
    fn key_names_parse() {
        assert_eq!(parse_key("x"), Some(Key(C::Char('x'), false)));
        assert_eq!(parse_key("ctrl-d"), Some(Key(C::Char('d'), true)));
        assert_eq!(parse_key("shift-tab"), Some(Key(C::BackTab, false)));
        assert_eq!(parse_key("pgdn"), Some(Key(C::PageDown, false)));
        assert_eq!(parse_key("F5"), Some(Key(C::F(5), false)));
        assert_eq!(parse_key("hyper-x"), None);
    }

    #[test]
    fn overrides_are_checked_before_they_apply() {
        let map = |pairs: &[(&str, &[&str])]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        let err = set_overrides(&map(&[("filtr", &["/"])]), "c.toml").unwrap_err();
        assert!(err.contains("`filtr` is not an action"), "{err}");
        let err = set_overrides(&map(&[("filter", &["hyper-x"])]), "c.toml").unwrap_err();
        assert!(err.contains("`hyper-x` is not a key"), "{err}");
        let err = set_overrides(&map(&[("filter", &["q"])]), "c.toml").unwrap_err();
        assert!(err.contains("would mean both"), "{err}");
        assert!(TABLE.get().is_none(), "nothing applied after an error");
    }
}
