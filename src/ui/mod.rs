//! The terminal UI. [`App`] is plain state: keys change it through [`App::handle_key`] (pure,
//! testable without a terminal) and [`draw`] renders it. The live loop in [`run`] owns the
//! store, feeds it collector batches and redraws at most every frame tick.

mod callsites;
mod detail;
mod diff;
mod findings;
mod help;
mod keys;
mod plan;
mod processes;
mod queries;
mod requests;
mod routes;
mod source;
mod style;
mod terminal;
mod timeline;
mod welcome;

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use rustc_hash::FxHashMap;

use crate::analysis::{self, Callsite, Config, Finding, RequestAnalysis, Summary};
use crate::store::{QueryId, RequestId, Store};

pub use keys::{set_overrides as set_key_overrides, Action, KEYS};
pub use plan::{PlanState, PlanUi, PLAN_WAIT};
pub use terminal::{osc52, run, send_request, take_plans};

/// Where the user is; the stack of these is the breadcrumb trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Requests,
    Queries(RequestId),
    /// The findings of a request.
    Findings(RequestId),
    /// A request's queries grouped by the application line that fired them.
    Callsites(RequestId),
    /// Some of a request's queries: one finding's, or one call site's.
    Members(RequestId, Group),
    Detail(RequestId, QueryId),
    /// A request's queries on its wall-clock axis.
    Timeline(RequestId),
    /// Two requests' query shapes compared: (before, after).
    Diff(RequestId, RequestId),
    /// Every route seen, with its query-count distribution.
    Routes,
    /// The connected (and gone) Django processes.
    Processes,
    /// A query's plan; `true`: EXPLAIN ANALYZE.
    Plan(RequestId, QueryId, bool),
}

/// The order of a list, cycled with `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Requests newest first; queries in execution order.
    #[default]
    Order,
    /// Most queries first (requests only).
    Count,
    /// Slowest first: request duration, or query duration.
    Time,
}

impl Sort {
    fn label(self, requests: bool) -> &'static str {
        match (self, requests) {
            (Sort::Order, true) => "newest first",
            (Sort::Order, false) => "in execution order",
            (Sort::Count, _) => "most queries first",
            (Sort::Time, _) => "slowest first",
        }
    }
}

/// A filtered list, valid for one (store generation, filter text, view).
type ListCache = ((u64, String, View), std::rc::Rc<Vec<usize>>);

/// Queries analysed per frame at most (~5 ms): a bigger request is analysed over several frames
/// rather than blocking one (a 100,000-query request still takes one).
pub const ANALYSIS_BUDGET: usize = 120_000;

/// A request's analysis and what the panels show of it.
struct Analysed {
    /// (query count, last query) the views are complete for; `None` while the analysis is
    /// spread over frames.
    key: Option<(usize, Option<QueryId>)>,
    /// Queries the views are built from.
    analysed: usize,
    /// Kept while the request may still grow; an ended request keeps only its views (if it
    /// grows after all, it is analysed again from scratch).
    analysis: Option<RequestAnalysis>,
    summary: Summary,
    findings: std::rc::Rc<Vec<Finding>>,
    /// Built on first use while the analysis is kept (the request and query lists never
    /// need them), at once when it is dropped.
    callsites: Option<std::rc::Rc<Vec<Callsite>>>,
    shapes: std::rc::Rc<FxHashMap<u32, usize>>,
}

impl Analysed {
    fn new(store: &Store, analysis: RequestAnalysis, config: Config, keep: bool) -> Self {
        Self {
            key: None,
            analysed: analysis.analysed(),
            summary: analysis.summary(store),
            findings: std::rc::Rc::new(analysis.findings(store, config)),
            callsites: (!keep).then(|| std::rc::Rc::new(analysis.callsites())),
            shapes: std::rc::Rc::new(analysis.shape_counts()),
            analysis: keep.then_some(analysis),
        }
    }
}

/// A filter typed with `/`, attached to the list it filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub view: View,
    pub text: String,
    /// Still typing: keys go into the text.
    pub editing: bool,
}

/// Case-insensitive: a regex when the text is one, else plain text.
enum Matcher {
    Regex(regex::Regex),
    Text(String),
}

impl Matcher {
    fn new(text: &str) -> Self {
        match regex::RegexBuilder::new(text)
            .case_insensitive(true)
            .build()
        {
            Ok(r) => Matcher::Regex(r),
            Err(_) => Matcher::Text(text.to_lowercase()),
        }
    }

    fn matches(&self, hay: &str) -> bool {
        match self {
            Matcher::Regex(r) => r.is_match(hay),
            Matcher::Text(t) => hay.to_lowercase().contains(t),
        }
    }
}

/// Which subset of a request's queries a [`View::Members`] list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Index into the request's findings.
    Finding(usize),
    /// Index into the request's call sites.
    Callsite(usize),
}

/// Work the terminal loop does for the app: it needs the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Run this command; `suspend` when it uses the terminal.
    Edit { argv: Vec<String>, suspend: bool },
    /// Put this text on the clipboard (OSC 52).
    Copy(String),
    /// Send this request to process `sid` (the collector's connection to it).
    Explain {
        sid: String,
        request: crate::protocol::Request,
    },
}

pub struct App {
    pub store: Store,
    pub views: Vec<View>,
    /// Selected request; `None` follows the newest.
    pub selected_request: Option<RequestId>,
    /// Selected row in the query list (index into the request's queries).
    pub selected_query: usize,
    pub selected_finding: usize,
    pub selected_site: usize,
    /// The frame `e` opens, in the query detail.
    pub selected_frame: usize,
    pub detail_scroll: u16,
    /// A one-line note for the status line (what was copied, an editor that failed).
    pub message: Option<String>,
    /// Set by a key, carried out by the terminal loop.
    pub effect: Option<Effect>,
    pub filter: Option<Filter>,
    pub help: bool,
    /// Lines the help overlay is scrolled by (small terminals).
    pub help_scroll: u16,
    /// The live tail is held: the terminal loop keeps events aside until resumed.
    pub paused: bool,
    /// Events held while paused (the terminal loop counts them).
    pub waiting: usize,
    pub selected_route: usize,
    /// The request `m` marked, to compare with `d`.
    pub marked: Option<RequestId>,
    /// The query detail lists the library frames too.
    pub show_library: bool,
    pub request_sort: Sort,
    pub query_sort: Sort,
    /// Where the current list drew its rows (area, first row's index), for mouse clicks.
    pub hit: Option<(Rect, usize)>,
    list_cache: Option<ListCache>,
    query_cache: Option<ListCache>,
    sources: source::Sources,
    pub config: Config,
    /// What the status line says we listen on (or replay).
    pub source: String,
    pub color: bool,
    pub quit: bool,
    /// Per request: its analysis, extended as queries arrive, and the views built from it.
    analyses: HashMap<RequestId, Analysed>,
    /// Queries the analysis may read per frame (or key): [`ANALYSIS_BUDGET`].
    pub analysis_budget: usize,
    /// What is left of it in this frame.
    budget: usize,
    /// Plans asked for, per (query, ANALYZE): answered, failed or still awaited.
    pub plans: HashMap<(QueryId, bool), PlanState>,
    next_plan_id: u64,
    /// Selection, folds and raw mode of the plan on screen.
    pub plan_ui: PlanUi,
    /// Live processes can be asked for plans; a replay cannot.
    pub live: bool,
    /// Bumped whenever a plan's state changes (the terminal loop redraws).
    pub plans_changed: u64,
}

impl App {
    pub fn new(store: Store, source: String, color: bool, config: Config) -> Self {
        Self {
            store,
            views: vec![View::Requests],
            selected_request: None,
            selected_query: 0,
            selected_finding: 0,
            selected_site: 0,
            selected_frame: 0,
            detail_scroll: 0,
            message: None,
            effect: None,
            filter: None,
            help: false,
            help_scroll: 0,
            paused: false,
            waiting: 0,
            selected_route: 0,
            marked: None,
            show_library: false,
            request_sort: Sort::Order,
            query_sort: Sort::Order,
            hit: None,
            list_cache: None,
            query_cache: None,
            sources: source::Sources::default(),
            config,
            source,
            color,
            quit: false,
            analyses: HashMap::new(),
            analysis_budget: ANALYSIS_BUDGET,
            budget: ANALYSIS_BUDGET,
            plans: HashMap::new(),
            next_plan_id: 0,
            plan_ui: PlanUi::default(),
            live: true,
            plans_changed: 0,
        }
    }

    /// The analysis of a request and its views, brought up to date: only the queries that
    /// arrived since the last call are analysed, and the views are rebuilt only when there
    /// were some. At most [`ANALYSIS_BUDGET`] queries are analysed per frame (or key): a
    /// request bigger than that is analysed over several frames, its views showing the part
    /// analysed so far and the status line the progress.
    fn analysed(&mut self, id: RequestId) -> &Analysed {
        let req = &self.store.requests[id];
        let key = (req.queries.len(), req.queries.last().copied());
        let ended = req.ended;
        if self.analyses.get(&id).is_some_and(|a| a.key == Some(key)) {
            return &self.analyses[&id];
        }
        let mut old = self.analyses.remove(&id);
        let mut analysis = old
            .as_mut()
            .and_then(|a| a.analysis.take())
            .unwrap_or_else(|| RequestAnalysis::new(id));
        let n = analysis.update_at_most(&self.store, self.budget);
        self.budget -= n;
        let done = analysis.analysed() == key.0;
        let a = match old {
            // Out of budget this frame: the views of the part analysed so far stand.
            Some(mut a) if n == 0 && !done && a.analysed == analysis.analysed() => {
                a.analysis = Some(analysis);
                a
            }
            _ => {
                // Kept while the request may still grow, or is not analysed to the end yet.
                let keep = !ended || !done;
                let mut a = Analysed::new(&self.store, analysis, self.config, keep);
                a.key = done.then_some(key);
                a
            }
        };
        self.analyses.insert(id, a);
        &self.analyses[&id]
    }

    /// A request whose analysis is spread over frames: (analysed, total) queries of the one
    /// furthest from done. The terminal loop redraws while there is one.
    pub fn analysing(&self) -> Option<(usize, usize)> {
        self.analyses
            .iter()
            .filter(|(_, a)| a.key.is_none())
            .filter_map(|(&id, a)| {
                let total = self.store.requests.get(id)?.queries.len();
                (a.analysed < total).then_some((a.analysed, total))
            })
            .min_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)))
    }

    /// Call sites of a request.
    pub fn callsites(&mut self, id: RequestId) -> std::rc::Rc<Vec<Callsite>> {
        self.analysed(id);
        let a = self.analyses.get_mut(&id).expect("just analysed");
        a.callsites
            .get_or_insert_with(|| {
                let analysis = a
                    .analysis
                    .as_ref()
                    .expect("kept until its call sites are built");
                std::rc::Rc::new(analysis.callsites())
            })
            .clone()
    }

    /// Findings of a request.
    pub fn findings(&mut self, id: RequestId) -> std::rc::Rc<Vec<Finding>> {
        self.analysed(id).findings.clone()
    }

    /// The queries a query list shows (all of a request's, one finding's, one call site's),
    /// filtered by SQL text and sorted as asked; built once per store change, so a frame or a
    /// key press costs no copy of a 100,000-query list.
    pub fn listed_queries(&mut self, view: View) -> std::rc::Rc<Vec<QueryId>> {
        let filter = self.filter_for(view).map(str::to_owned);
        let key = (
            self.store.generation,
            format!(
                "{:?}\u{0}{}",
                self.query_sort,
                filter.as_deref().unwrap_or_default()
            ),
            view,
        );
        if let Some((k, list)) = &self.query_cache {
            if *k == key {
                return list.clone();
            }
        }
        let mut list = self.unfiltered_queries(view);
        if let Some(text) = &filter {
            let m = Matcher::new(text);
            let store = &self.store;
            // Once per distinct SQL text: an N+1 repeats one text thousands of times.
            let mut seen: rustc_hash::FxHashMap<u32, bool> = Default::default();
            let mut last = (u32::MAX, false);
            list.retain(|&q| {
                let sql = store.queries[q].sql;
                if last.0 != sql {
                    let hit = *seen
                        .entry(sql)
                        .or_insert_with(|| m.matches(store.sql(&store.queries[q])));
                    last = (sql, hit);
                }
                last.1
            });
        }
        if self.query_sort == Sort::Time {
            let queries = &self.store.queries;
            list.sort_by(|&a, &b| queries[b].ms.total_cmp(&queries[a].ms));
        }
        let list = std::rc::Rc::new(list);
        self.query_cache = Some((key, list.clone()));
        list
    }

    /// How many of a request's queries share each fingerprint ("×60" in the query list).
    pub fn shapes(&mut self, id: RequestId) -> std::rc::Rc<FxHashMap<u32, usize>> {
        self.analysed(id).shapes.clone()
    }

    fn unfiltered_queries(&mut self, view: View) -> Vec<QueryId> {
        match view {
            View::Queries(req) => self.store.requests[req].queries.clone(),
            View::Members(req, Group::Finding(i)) => self
                .findings(req)
                .get(i)
                .map(|f| f.members.clone())
                .unwrap_or_default(),
            View::Members(req, Group::Callsite(i)) => self
                .callsites(req)
                .get(i)
                .map(|c| c.queries.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    pub fn view(&self) -> View {
        *self.views.last().expect("never empty")
    }

    /// The filter text that applies to `view`, if any.
    pub fn filter_for(&self, view: View) -> Option<&str> {
        self.filter
            .as_ref()
            .filter(|f| f.view == view && !f.text.is_empty())
            .map(|f| f.text.as_str())
    }

    /// Requests in display order (newest first), filtered; built once per store change.
    pub fn request_list(&mut self) -> std::rc::Rc<Vec<RequestId>> {
        let filter = self.filter_for(View::Requests).map(str::to_owned);
        let sort = self.request_sort;
        let list = self.cached_list(View::Requests, filter, sort, |store, m| {
            let mut list: Vec<RequestId> = (0..store.requests.len())
                .rev()
                .filter(|&id| {
                    let Some(m) = m else { return true };
                    let r = &store.requests[id];
                    let hay = format!(
                        "{} {} {} {} {}",
                        r.method.as_deref().unwrap_or(&r.kind),
                        r.path,
                        r.status.map(|s| s.to_string()).unwrap_or_default(),
                        r.route.as_deref().unwrap_or(""),
                        r.view.as_deref().unwrap_or("")
                    );
                    m.matches(&hay)
                })
                .collect();
            let reqs = &store.requests;
            match sort {
                Sort::Order => {}
                Sort::Count => list.sort_by_key(|&r| std::cmp::Reverse(reqs[r].queries.len())),
                Sort::Time => list.sort_by(|&a, &b| {
                    reqs[b]
                        .ms
                        .unwrap_or(0.0)
                        .total_cmp(&reqs[a].ms.unwrap_or(0.0))
                }),
            }
            list
        });
        list
    }

    fn cached_list(
        &mut self,
        view: View,
        filter: Option<String>,
        sort: Sort,
        build: impl FnOnce(&Store, Option<&Matcher>) -> Vec<usize>,
    ) -> std::rc::Rc<Vec<usize>> {
        let key = (
            self.store.generation,
            format!("{sort:?}\u{0}{}", filter.as_deref().unwrap_or_default()),
            view,
        );
        if let Some((k, list)) = &self.list_cache {
            if *k == key {
                return list.clone();
            }
        }
        let matcher = filter.as_deref().map(Matcher::new);
        let list = std::rc::Rc::new(build(&self.store, matcher.as_ref()));
        self.list_cache = Some((key, list.clone()));
        list
    }

    /// The selected request, following the newest (of the filtered list) when none was picked.
    pub fn current_request(&mut self) -> Option<RequestId> {
        match self.selected_request {
            Some(id) => Some(id),
            None => self.request_list().first().copied(),
        }
    }

    /// Position of the selected request in display order.
    pub fn request_position(&mut self) -> usize {
        let list = self.request_list();
        match self.selected_request {
            // Newest first unless sorted otherwise: then a plain search.
            Some(id) if self.request_sort == Sort::Order => {
                list.binary_search_by(|x| id.cmp(x)).unwrap_or(0)
            }
            Some(id) => list.iter().position(|&x| x == id).unwrap_or(0),
            None => 0,
        }
    }

    /// Summary of a request.
    pub fn summary(&mut self, id: RequestId) -> Summary {
        self.analysed(id).summary.clone()
    }

    pub fn handle_key(&mut self, key: KeyEvent, page: usize) {
        self.budget = self.analysis_budget;
        if self.help {
            // j/k scroll the help on a small terminal; any other key closes it; q still quits.
            match key.code {
                KeyCode::Char('j') | KeyCode::Down => self.help_scroll += 1,
                KeyCode::Char('k') | KeyCode::Up => {
                    self.help_scroll = self.help_scroll.saturating_sub(1)
                }
                KeyCode::Char('q') => {
                    self.help = false;
                    self.quit = true;
                }
                _ => self.help = false,
            }
            return;
        }
        if self.filter.as_ref().is_some_and(|f| f.editing) {
            self.edit_filter(key);
            return;
        }
        if key.code == KeyCode::Esc && self.filter_for(self.view()).is_some() {
            self.filter = None;
            self.reset_selection();
            return;
        }
        let Some(action) = keys::action_for(self.view(), key) else {
            return;
        };
        self.message = None;
        self.apply(action, page.max(1));
    }

    pub fn apply(&mut self, action: Action, page: usize) {
        match action {
            Action::Quit => self.quit = true,
            Action::Back => {
                if self.views.len() > 1 {
                    self.views.pop();
                    self.detail_scroll = 0;
                }
            }
            Action::Enter => self.enter(),
            Action::Down(n) => self.move_by(distance(n, page)),
            Action::Up(n) => self.move_by(-distance(n, page)),
            Action::Top => self.move_to(0),
            Action::Bottom => self.move_to(usize::MAX),
            Action::Findings | Action::Callsites => {
                let req = match self.view() {
                    View::Requests => self.current_request(),
                    View::Queries(r) => Some(r),
                    _ => None,
                };
                if let Some(r) = req {
                    self.selected_request = self.selected_request.or(Some(r));
                    if action == Action::Findings {
                        self.selected_finding = 0;
                        self.views.push(View::Findings(r));
                    } else {
                        self.selected_site = 0;
                        self.views.push(View::Callsites(r));
                    }
                }
            }
            Action::NextFrame | Action::PrevFrame => {
                if let View::Detail(_, q) = self.view() {
                    let n = self.store.stack(&self.store.queries[q]).len();
                    if n > 0 {
                        self.selected_frame = if action == Action::NextFrame {
                            (self.selected_frame + 1) % n
                        } else {
                            (self.selected_frame + n - 1) % n
                        };
                    }
                }
            }
            Action::Edit => self.edit(),
            Action::Yank => self.yank(),
            Action::TestSnippet => self.test_snippet(),
            Action::Filter => {
                let view = self.view();
                let text = self.filter_for(view).unwrap_or("").to_owned();
                self.filter = Some(Filter {
                    view,
                    text,
                    editing: true,
                });
            }
            Action::Pause => {
                self.paused = !self.paused;
                self.message = Some(if self.paused {
                    "paused: events are still collected, p resumes".to_owned()
                } else {
                    "resumed".to_owned()
                });
            }
            Action::Clear => {
                self.store.clear();
                self.analyses.clear();
                self.plans.clear();
                self.plan_ui = PlanUi::default();
                self.list_cache = None;
                self.query_cache = None;
                self.views.truncate(1);
                self.filter = None;
                self.reset_selection();
                self.message = Some("cleared".to_owned());
            }
            Action::Routes => {
                self.selected_route = 0;
                self.views.push(View::Routes);
            }
            Action::Processes => self.views.push(View::Processes),
            Action::Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            Action::Library => self.show_library = !self.show_library,
            Action::Sort => {
                let requests = self.view() == View::Requests;
                let sort = if requests {
                    &mut self.request_sort
                } else {
                    &mut self.query_sort
                };
                *sort = match (*sort, requests) {
                    (Sort::Order, true) => Sort::Count,
                    (Sort::Order, false) | (Sort::Count, _) => Sort::Time,
                    (Sort::Time, _) => Sort::Order,
                };
                self.message = Some(format!("sorted {}", sort.label(requests)));
                self.reset_selection();
            }
            Action::NextMatch | Action::PrevMatch => {
                // Through the filtered list, wrapping around.
                let len = self.list_len();
                if len > 0 && self.filter_for(self.view()).is_some() {
                    let pos = self.position();
                    let next = if action == Action::NextMatch {
                        (pos + 1) % len
                    } else {
                        (pos + len - 1) % len
                    };
                    self.move_to(next);
                }
            }
            Action::Explain(analyze) => self.explain(analyze),
            Action::Toggle => self.toggle_plan_node(),
            Action::Raw => {
                self.plan_ui.raw = !self.plan_ui.raw;
                self.detail_scroll = 0;
            }
            Action::Timeline => {
                if let Some(r) = self.request_in_focus() {
                    self.selected_query = 0;
                    self.views.push(View::Timeline(r));
                }
            }
            Action::Mark => {
                if let Some(r) = self.request_in_focus() {
                    self.marked = Some(r);
                    self.message =
                        Some("marked: pick another request and press d to compare".into());
                }
            }
            Action::Diff => match (self.marked, self.request_in_focus()) {
                (Some(a), Some(b)) if a != b => {
                    self.selected_query = 0;
                    self.views.push(View::Diff(a, b));
                }
                (Some(_), Some(_)) => {
                    self.message = Some("pick a different request to compare".into())
                }
                _ => self.message = Some("mark a request with m first".into()),
            },
        }
    }

    fn reset_selection(&mut self) {
        match self.view() {
            View::Requests => self.selected_request = None,
            _ => self.selected_query = 0,
        }
    }

    fn edit_filter(&mut self, key: KeyEvent) {
        let Some(f) = self.filter.as_mut() else {
            return;
        };
        match key.code {
            KeyCode::Enter => f.editing = false,
            KeyCode::Esc => {
                self.filter = None;
            }
            KeyCode::Backspace => {
                f.text.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => f.text.push(c),
            _ => return,
        }
        self.reset_selection();
    }

    /// A test that pins the selected request's query count, for Django's TestCase and for
    /// pytest-django.
    fn test_snippet(&mut self) {
        let req = match self.view() {
            View::Requests => self.current_request(),
            View::Queries(r) => Some(r),
            _ => None,
        };
        let Some(r) = req else { return };
        let request = &self.store.requests[r];
        let (Some(method), true) = (&request.method, request.is_http()) else {
            self.message = Some("not an HTTP request: nothing to pin".to_owned());
            return;
        };
        let n = request.queries.len();
        let call = format!("{}({:?})", method.to_lowercase(), request.path);
        let name: String = request
            .route
            .as_deref()
            .unwrap_or(&request.path)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = name.trim_matches('_');
        let text = format!(
            "# Django TestCase\nwith self.assertNumQueries({n}):\n    self.client.{call}\n\n\
             # pytest-django\ndef test_{name}_query_count(client, django_assert_num_queries):\n    \
             with django_assert_num_queries({n}):\n        client.{call}\n"
        );
        self.message = Some(format!(
            "copied a test pinning {n} queries for {}",
            request.path
        ));
        self.effect = Some(Effect::Copy(text));
    }

    /// A click at (column, row): selects the row under it; a click on the selected row opens it.
    pub fn click(&mut self, column: u16, row: u16, page: usize) {
        let Some((area, start)) = self.hit else {
            return;
        };
        let inside = column >= area.x
            && column < area.x + area.width
            && row >= area.y
            && row < area.y + area.height;
        if !inside {
            return;
        }
        let pos = start + (row - area.y) as usize;
        if pos >= self.list_len() {
            return;
        }
        if pos == self.position() {
            self.apply(Action::Enter, page);
        } else {
            self.move_to(pos);
        }
    }

    /// The request the request-level keys act on: the selected row, or the open request.
    fn request_in_focus(&mut self) -> Option<RequestId> {
        match self.view() {
            View::Requests => self.current_request(),
            View::Queries(r) => Some(r),
            _ => None,
        }
    }

    /// The query a yank or an edit is about: the detail's, or the selected row's.
    fn focused_query(&mut self) -> Option<QueryId> {
        match self.view() {
            View::Detail(_, q) | View::Plan(_, q, _) => Some(q),
            view @ (View::Queries(_) | View::Members(..)) => {
                self.listed_queries(view).get(self.selected_query).copied()
            }
            _ => None,
        }
    }

    fn yank(&mut self) {
        if let Some(View::Findings(req)) = self.views.last().copied() {
            let findings = self.findings(req);
            let Some(f) = findings.get(self.selected_finding.min(findings.len().saturating_sub(1)))
            else {
                return;
            };
            let fix = f.fix.clone();
            self.message = Some(format!(
                "copied the fix ({} chars, via OSC 52)",
                fix.chars().count()
            ));
            self.effect = Some(Effect::Copy(fix));
            return;
        }
        let Some(q) = self.focused_query() else {
            return;
        };
        let query = &self.store.queries[q];
        let vendor = self.store.vendor(query).to_owned();
        let params: serde_json::Value =
            serde_json::from_str(&query.params).unwrap_or(serde_json::Value::Null);
        let sql = crate::interpolate::interpolate(self.store.sql(query), &params, &vendor);
        self.message = Some(format!(
            "copied the SQL with its params written in for {vendor} ({} chars, via OSC 52)",
            sql.chars().count()
        ));
        self.effect = Some(Effect::Copy(format!("{sql};")));
    }

    fn edit(&mut self) {
        let Some(q) = self.focused_query() else {
            return;
        };
        let query = &self.store.queries[q];
        let stack = self.store.stack(query);
        let Some(frame) = stack.get(self.selected_frame.min(stack.len().saturating_sub(1))) else {
            self.message = Some("this query has no application frame to open".to_owned());
            return;
        };
        let root = self.store.processes[self.store.requests[query.request].process]
            .root
            .clone();
        let path = source::resolve(root.as_deref(), frame.file());
        if !path.exists() {
            self.message = Some(format!(
                "cannot open {}: not on this machine",
                path.display()
            ));
            return;
        }
        let editor = crate::editor::configured();
        self.effect = Some(Effect::Edit {
            argv: crate::editor::command(&editor, &path, frame.line()),
            suspend: crate::editor::is_terminal_editor(&editor),
        });
    }

    fn enter(&mut self) {
        match self.view() {
            View::Requests => {
                if let Some(id) = self.current_request() {
                    self.selected_request = Some(id);
                    self.selected_query = 0;
                    self.views.push(View::Queries(id));
                }
            }
            view @ (View::Queries(req) | View::Members(req, _)) => {
                if let Some(&q) = self.listed_queries(view).get(self.selected_query) {
                    self.detail_scroll = 0;
                    self.selected_frame = 0;
                    self.views.push(View::Detail(req, q));
                }
            }
            View::Findings(req) => {
                if self.selected_finding < self.findings(req).len() {
                    self.selected_query = 0;
                    let group = Group::Finding(self.selected_finding);
                    self.views.push(View::Members(req, group));
                }
            }
            View::Callsites(req) => {
                if self.selected_site < self.callsites(req).len() {
                    self.selected_query = 0;
                    let group = Group::Callsite(self.selected_site);
                    self.views.push(View::Members(req, group));
                }
            }
            View::Routes => {
                // A route opens as the request list filtered to it.
                if let Some(r) = analysis::routes(&self.store).get(self.selected_route) {
                    let text = regex::escape(&r.route);
                    self.views.truncate(1);
                    self.filter = Some(Filter {
                        view: View::Requests,
                        text,
                        editing: false,
                    });
                    self.selected_request = None;
                }
            }
            View::Timeline(req) => {
                if let Some(&q) = self.store.requests[req].queries.get(self.selected_query) {
                    self.detail_scroll = 0;
                    self.selected_frame = 0;
                    self.views.push(View::Detail(req, q));
                }
            }
            View::Detail(..) | View::Processes | View::Diff(..) | View::Plan(..) => {}
        }
    }

    fn list_len(&mut self) -> usize {
        match self.view() {
            View::Requests => self.request_list().len(),
            view @ (View::Queries(_) | View::Members(..)) => self.listed_queries(view).len(),
            View::Routes => analysis::routes(&self.store).len(),
            View::Timeline(r) => self.store.requests[r].queries.len(),
            View::Diff(a, b) => analysis::diff(&self.store, a, b).len(),
            View::Processes => self.store.processes.len(),
            View::Findings(req) => self.findings(req).len(),
            View::Callsites(req) => self.callsites(req).len(),
            View::Detail(..) => usize::MAX,
            View::Plan(_, q, analyze) => self.plan_rows(q, analyze),
        }
    }

    fn position(&mut self) -> usize {
        match self.view() {
            View::Requests => self.request_position(),
            View::Routes => self.selected_route,
            View::Processes => 0,
            View::Queries(_) | View::Members(..) | View::Timeline(_) | View::Diff(..) => {
                self.selected_query
            }
            View::Findings(_) => self.selected_finding,
            View::Callsites(_) => self.selected_site,
            View::Detail(..) => self.detail_scroll as usize,
            View::Plan(..) if self.plan_ui.raw => self.detail_scroll as usize,
            View::Plan(..) => self.plan_ui.cursor,
        }
    }

    fn move_by(&mut self, delta: isize) {
        let pos = self.position() as isize + delta;
        self.move_to(pos.max(0) as usize);
    }

    fn move_to(&mut self, pos: usize) {
        let len = self.list_len();
        if len == 0 {
            return;
        }
        let pos = pos.min(len - 1);
        match self.view() {
            View::Requests => {
                // Back at the top means "follow the newest" again.
                self.selected_request = if pos == 0 {
                    None
                } else {
                    self.request_list().get(pos).copied()
                };
            }
            View::Routes => self.selected_route = pos,
            View::Processes => {}
            View::Queries(_) | View::Members(..) | View::Timeline(_) | View::Diff(..) => {
                self.selected_query = pos
            }
            View::Findings(_) => self.selected_finding = pos,
            View::Callsites(_) => self.selected_site = pos,
            View::Detail(..) => self.detail_scroll = pos.min(u16::MAX as usize) as u16,
            View::Plan(..) if self.plan_ui.raw => {
                self.detail_scroll = pos.min(u16::MAX as usize) as u16
            }
            View::Plan(..) => self.plan_ui.cursor = pos,
        }
    }
}

/// Rows to move: `Down(0)`/`Up(0)` mean "a page".
fn distance(n: usize, page: usize) -> isize {
    if n == 0 {
        page as isize
    } else {
        n as isize
    }
}

/// Draw the whole screen.
pub fn draw(frame: &mut Frame, app: &mut App) {
    // Each list panel says where its rows are; anything else takes no clicks.
    app.hit = None;
    app.budget = app.analysis_budget;
    let [title, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(breadcrumbs(app)), title);
    if app.store.processes.is_empty() && app.store.requests.is_empty() {
        welcome::draw(frame, body, app);
    } else {
        match app.view() {
            View::Requests => requests::draw(frame, body, app),
            view @ (View::Queries(req) | View::Members(req, _)) => {
                queries::draw(frame, body, app, req, view)
            }
            View::Findings(req) => findings::draw(frame, body, app, req),
            View::Callsites(req) => callsites::draw(frame, body, app, req),
            View::Routes => routes::draw(frame, body, app),
            View::Timeline(req) => timeline::draw(frame, body, app, req),
            View::Diff(a, b) => diff::draw(frame, body, app, a, b),
            View::Processes => processes::draw(frame, body, app),
            View::Detail(req, q) => detail::draw(frame, body, app, req, q),
            View::Plan(_, q, analyze) => plan::draw(frame, body, app, q, analyze),
        }
    }
    frame.render_widget(Paragraph::new(status_line(app)), status);
    match &app.filter {
        Some(f) if f.editing || f.view == app.view() => {
            let st = style::Styles::new(app.color);
            let cursor = if f.editing {
                "▏ (enter keeps, esc clears)"
            } else {
                "  (esc clears)"
            };
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled(" / ", st.key),
                    Span::raw(f.text.clone()),
                    Span::styled(cursor, st.dim),
                ])),
                footer,
            );
        }
        _ => frame.render_widget(Paragraph::new(keys::footer(app.view(), app.color)), footer),
    }
    if app.help {
        help::draw(frame, app);
    }
    defuse(frame.buffer_mut());
}

/// No cell reaches the terminal with a character that could act on it or reorder the text
/// around it (params and paths are the app's data): controls and bidi overrides become `�`.
fn defuse(buffer: &mut ratatui::buffer::Buffer) {
    for cell in buffer.content.iter_mut() {
        if cell.symbol().chars().any(crate::interpolate::is_unsafe) {
            cell.set_symbol("\u{FFFD}");
        }
    }
}

fn breadcrumbs(app: &App) -> Line<'static> {
    let st = style::Styles::new(app.color);
    let mut spans = vec![Span::styled(" djtop ", st.brand)];
    for v in &app.views {
        let label = match *v {
            View::Requests if app.request_sort != Sort::Order => {
                format!("requests, {}", app.request_sort.label(true))
            }
            View::Requests => "requests".to_owned(),
            View::Queries(r) => {
                let req = &app.store.requests[r];
                let what = match &req.method {
                    Some(m) => format!("{m} {}", req.path),
                    None => req.path.clone(),
                };
                truncate(&what, 60)
            }
            View::Findings(_) => "findings".to_owned(),
            View::Callsites(_) => "call sites".to_owned(),
            View::Routes => "routes".to_owned(),
            View::Timeline(_) => "timeline".to_owned(),
            View::Diff(..) => "diff".to_owned(),
            View::Processes => "processes".to_owned(),
            View::Members(r, Group::Finding(i)) => {
                let n = app
                    .analyses
                    .get(&r)
                    .and_then(|a| a.findings.get(i).map(|f| f.kind));
                n.unwrap_or("finding").replace('_', " ")
            }
            View::Members(r, Group::Callsite(i)) => app
                .analyses
                .get(&r)
                .and_then(|a| a.callsites.as_ref()?.get(i))
                .and_then(|c| c.frame.as_ref())
                .map(|f| format!("{}:{}", f.file(), f.line()))
                .unwrap_or_else(|| "no app frame".to_owned()),
            View::Detail(r, q) => {
                let pos = app.store.requests[r].queries.iter().position(|&x| x == q);
                format!("query #{}", pos.map_or(0, |p| p + 1))
            }
            View::Plan(_, _, false) => "plan".to_owned(),
            View::Plan(_, _, true) => "explain analyze".to_owned(),
        };
        spans.push(Span::styled(" › ", st.dim));
        spans.push(Span::styled(label, st.title));
    }
    Line::from(spans)
}

fn status_line(app: &App) -> Line<'static> {
    let st = style::Styles::new(app.color);
    let s = &app.store;
    let dropped = s.dropped();
    let mut spans = vec![
        Span::styled(format!(" {} ", app.source), st.status),
        Span::raw(format!(
            " {} connected · {} processes seen · {} requests · {} queries ",
            s.connected(),
            s.processes.len(),
            s.requests.len(),
            s.queries.len()
        )),
    ];
    if app.paused {
        spans.push(Span::styled(
            format!(" PAUSED, {} events waiting ", app.waiting),
            st.bad,
        ));
    }
    if let Some((done, total)) = app.analysing() {
        spans.push(Span::styled(
            format!(" analysing… {}% ", done * 100 / total.max(1)),
            st.warn,
        ));
    }
    let drop_style = if dropped > 0 { st.bad } else { st.dim };
    spans.push(Span::styled(format!("· {dropped} dropped "), drop_style));
    if s.malformed > 0 {
        spans.push(Span::styled(
            format!("· {} malformed ", s.malformed),
            st.bad,
        ));
    }
    Line::from(spans)
}

pub(crate) fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Rows of `area` available to a list with a one-line header.
pub(crate) fn list_rows(area: Rect) -> usize {
    area.height.saturating_sub(1) as usize
}

/// First visible row so that `selected` stays on screen (lists are virtualised: only the rows
/// in this window are built).
pub(crate) fn window_start(selected: usize, rows: usize, len: usize) -> usize {
    if rows == 0 || len <= rows {
        return 0;
    }
    selected
        .saturating_sub(rows - 1)
        .min(len - rows)
        .min(selected)
}

/// Key events from crossterm that the UI understands.
pub fn is_ctrl_c(key: &KeyEvent) -> bool {
    key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL)
}

#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod tests;
