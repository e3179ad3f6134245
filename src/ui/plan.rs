//! A query's plan (`x`, or `X` for EXPLAIN ANALYZE): asked of the process that ran the query,
//! drawn as a tree with one node per line and its own figures — own time (or cost) and share,
//! rows estimated against rows returned and the error factor, loops — the costliest node and
//! full scans of big tables standing out, folds on enter/space, the raw plan on `R`.
//!
//! The figures come from [`crate::explain`]; this file only keeps the asking state and draws.

use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::style::Styles;
use super::{truncate, App, Effect, View};
use crate::collector::SendError;
use crate::explain::{self, Answer, Basis, Failure, Plan};
use crate::protocol::{self, Explain, Request};
use crate::store::QueryId;

/// How long to wait for an answer before saying there was none. The shim's own statement
/// timeout (`DJTOP["explain_timeout"]`, 5 s by default) ends a slow EXPLAIN well before.
pub const PLAN_WAIT: Duration = Duration::from_secs(30);

/// A plan asked for.
#[derive(Debug, Clone)]
pub enum PlanState {
    /// Sent as request `id` to process `sid`.
    Pending {
        id: u64,
        sid: String,
        since: Instant,
    },
    /// The answer: a plan, or why there is none.
    Done(Rc<Answer>),
}

/// What the plan view shows of the plan on screen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanUi {
    /// The plan these apply to.
    pub key: Option<(QueryId, bool)>,
    /// Position of the selected node among the visible ones.
    pub cursor: usize,
    /// Nodes whose subtrees are folded.
    pub collapsed: HashSet<usize>,
    /// Show the plan as the database wrote it.
    pub raw: bool,
}

impl App {
    /// `x` / `X`: show the focused query's plan, asking its process when not asked yet.
    pub(super) fn explain(&mut self, analyze: bool) {
        if let Some(q) = self.focused_query() {
            self.show_plan(q, analyze);
        }
    }

    /// Open the plan view of query `q` (replacing a plan view on top), asking for the plan
    /// when it is not cached; the request to send is left in [`App::effect`].
    pub fn show_plan(&mut self, q: QueryId, analyze: bool) {
        let request = self.store.queries[q].request;
        let view = View::Plan(request, q, analyze);
        if matches!(self.view(), View::Plan(..)) {
            *self.views.last_mut().expect("never empty") = view;
        } else {
            self.views.push(view);
        }
        if self.plan_ui.key != Some((q, analyze)) {
            self.plan_ui = PlanUi {
                key: Some((q, analyze)),
                ..Default::default()
            };
        }
        self.detail_scroll = 0;
        self.ask_plan(q, analyze);
    }

    /// Ask for a plan unless it is cached (answered or on its way); a failure is asked again.
    pub fn ask_plan(&mut self, q: QueryId, analyze: bool) {
        match self.plans.get(&(q, analyze)) {
            Some(PlanState::Pending { .. }) => return,
            Some(PlanState::Done(a)) if a.result.is_ok() => return,
            _ => {}
        }
        let query = &self.store.queries[q];
        let process = &self.store.processes[self.store.requests[query.request].process];
        let what = if analyze { "EXPLAIN ANALYZE" } else { "plan" };
        if !self.live {
            let f = Failure::new(
                "replay",
                "this is a recording: a plan is asked of the live process that ran the query",
            );
            self.set_plan(q, analyze, PlanState::Done(Rc::new(Answer::failed(f))));
            return;
        }
        if !process.connected {
            let f = Failure::new(
                "gone",
                format!(
                    "{} has exited (or its connection to djtop closed): its queries can no \
                     longer be explained",
                    process.label()
                ),
            );
            self.set_plan(q, analyze, PlanState::Done(Rc::new(Answer::failed(f))));
            return;
        }
        self.next_plan_id += 1;
        let id = self.next_plan_id;
        let sid = process.sid.clone();
        self.message = Some(format!("asked {} for the {what}", process.label()));
        self.effect = Some(Effect::Explain {
            sid: sid.clone(),
            request: Request::Explain(Explain {
                id,
                qid: query.qid,
                analyze,
            }),
        });
        let since = Instant::now();
        self.set_plan(q, analyze, PlanState::Pending { id, sid, since });
    }

    fn set_plan(&mut self, q: QueryId, analyze: bool, state: PlanState) {
        self.plans.insert((q, analyze), state);
        self.plans_changed += 1;
    }

    /// The request `id` is waiting for, if any.
    fn pending(&self, pred: impl Fn(u64, &str, Instant) -> bool) -> Vec<(QueryId, bool)> {
        self.plans
            .iter()
            .filter_map(|(k, s)| match s {
                PlanState::Pending { id, sid, since } if pred(*id, sid, *since) => Some(*k),
                _ => None,
            })
            .collect()
    }

    fn fail_pending(&mut self, keys: Vec<(QueryId, bool)>, f: &Failure) -> bool {
        for &(q, analyze) in &keys {
            let answer = Rc::new(Answer::failed(f.clone()));
            self.set_plan(q, analyze, PlanState::Done(answer));
        }
        !keys.is_empty()
    }

    /// A `plan` event arrived: the answer to one of our requests (others are ignored).
    pub fn plan_arrived(&mut self, ev: &protocol::Plan) -> bool {
        let keys = self.pending(|id, sid, _| id == ev.id && sid == ev.sid);
        for &(q, analyze) in &keys {
            let answer = Rc::new(explain::answer(ev));
            self.set_plan(q, analyze, PlanState::Done(answer));
        }
        !keys.is_empty()
    }

    /// The request `id` could not be sent.
    pub fn plan_not_sent(&mut self, id: u64, why: &SendError) {
        let reason = match why {
            SendError::Gone => "gone",
            SendError::Busy => "busy",
        };
        let keys = self.pending(|i, _, _| i == id);
        self.fail_pending(keys, &Failure::new(reason, why.to_string()));
    }

    /// Process `sid` disconnected: what it was asked will not be answered.
    pub fn process_gone(&mut self, sid: &str) -> bool {
        let keys = self.pending(|_, s, _| s == sid);
        let f = Failure::new(
            "gone",
            "the process exited (or its connection to djtop closed) before answering",
        );
        self.fail_pending(keys, &f)
    }

    /// Give up on requests older than [`PLAN_WAIT`]; true when one was.
    pub fn expire_plans(&mut self, now: Instant) -> bool {
        let keys = self.pending(|_, _, since| now.saturating_duration_since(since) >= PLAN_WAIT);
        let f = Failure::new(
            "no answer",
            format!(
                "no answer from the process in {} s: it may be stuck, or run a djtop shim \
                 without EXPLAIN",
                PLAN_WAIT.as_secs()
            ),
        );
        self.fail_pending(keys, &f)
    }

    pub fn has_pending_plans(&self) -> bool {
        self.plans
            .values()
            .any(|s| matches!(s, PlanState::Pending { .. }))
    }

    fn shown_plan(&self, q: QueryId, analyze: bool) -> Option<Rc<Answer>> {
        match self.plans.get(&(q, analyze))? {
            PlanState::Done(a) => Some(a.clone()),
            PlanState::Pending { .. } => None,
        }
    }

    /// Rows the plan view moves over: visible nodes (or raw lines: unbounded, clamped when
    /// drawn).
    pub(super) fn plan_rows(&self, q: QueryId, analyze: bool) -> usize {
        if self.plan_ui.raw {
            return usize::MAX;
        }
        match self.shown_plan(q, analyze).as_deref() {
            Some(Answer { result: Ok(p), .. }) => p.visible(&self.plan_ui.collapsed).len(),
            _ => 0,
        }
    }

    pub(super) fn toggle_plan_node(&mut self) {
        let View::Plan(_, q, analyze) = self.view() else {
            return;
        };
        if self.plan_ui.raw {
            return;
        }
        let Some(answer) = self.shown_plan(q, analyze) else {
            return;
        };
        let Ok(plan) = &answer.result else { return };
        let visible = plan.visible(&self.plan_ui.collapsed);
        let Some(&node) = visible.get(self.plan_ui.cursor) else {
            return;
        };
        if plan.nodes[node].children.is_empty() {
            return;
        }
        if !self.plan_ui.collapsed.remove(&node) {
            self.plan_ui.collapsed.insert(node);
        }
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, q: QueryId, analyze: bool) {
    let st = Styles::new(app.color);
    let width = area.width as usize;
    let mut out = header(app, q, analyze, &st, width);
    // Messages wrap; the tree is one node per line (too long: cut, R has it all).
    let mut wrap = true;
    match app.plans.get(&(q, analyze)).cloned() {
        None => {}
        Some(PlanState::Pending { since, .. }) => {
            let process = {
                let query = &app.store.queries[q];
                app.store.processes[app.store.requests[query.request].process].label()
            };
            out.push(Line::raw(""));
            out.push(Line::from(vec![
                Span::styled("waiting ", st.warn),
                Span::raw(format!(
                    "for {process} to answer ({} s; it runs the EXPLAIN on its own thread and \
                     connection)",
                    since.elapsed().as_secs()
                )),
            ]));
        }
        Some(PlanState::Done(answer)) => match (&answer.result, app.plan_ui.raw) {
            (Err(f), false) => failure(&mut out, f, analyze, &st),
            (_, true) => {
                raw(frame, area, app, out, &answer, &st);
                return;
            }
            (Ok(plan), false) => {
                summary(&mut out, plan, &st);
                out.push(Line::raw(""));
                let head = out.len();
                let (lines, first_line) = tree(plan, &app.plan_ui, &st, width);
                let rows = (area.height as usize).saturating_sub(head);
                let cursor_line = first_line.get(app.plan_ui.cursor).copied().unwrap_or(0);
                // The table's header row stays; the rest scrolls to keep the selected node
                // (and a few of its detail lines) in view.
                let body = rows.saturating_sub(1);
                let len = lines.len().saturating_sub(1);
                let start = if cursor_line + 3 <= body {
                    0
                } else {
                    (cursor_line + 3 - body).min(len.saturating_sub(body))
                };
                let mut it = lines.into_iter();
                if let Some(h) = it.next() {
                    out.push(h);
                }
                out.extend(it.skip(start).take(body));
                wrap = false;
            }
        },
    }
    let text = Paragraph::new(out);
    if wrap {
        frame.render_widget(text.wrap(Wrap { trim: false }), area);
    } else {
        frame.render_widget(text, area);
    }
}

fn header(app: &App, q: QueryId, analyze: bool, st: &Styles, width: usize) -> Vec<Line<'static>> {
    let query = &app.store.queries[q];
    // The answer knows MariaDB from MySQL; Django calls both "mysql".
    let vendor = match app.plans.get(&(q, analyze)) {
        Some(PlanState::Done(a)) => match &a.result {
            Ok(p) if !p.vendor.is_empty() => p.vendor.clone(),
            _ => app.store.vendor(query).to_owned(),
        },
        _ => app.store.vendor(query).to_owned(),
    };
    let mut first = vec![Span::styled(
        if analyze {
            "EXPLAIN ANALYZE"
        } else {
            "EXPLAIN"
        },
        st.title,
    )];
    first.push(Span::styled(format!(" · {vendor}"), st.dim));
    if let Some(PlanState::Done(a)) = app.plans.get(&(q, analyze)) {
        if let Ok(p) = &a.result {
            if let Some(ms) = p.planning_ms {
                first.push(Span::raw(format!(" · planning {}", fmt_ms(ms))));
            }
            if let Some(ms) = p.execution_ms {
                first.push(Span::raw(format!(" · execution {}", fmt_ms(ms))));
            }
        }
        if let Some(prefix) = &a.prefix {
            first.push(Span::styled(format!(" · {prefix}"), st.dim));
        }
    }
    let sql = app
        .store
        .sql(query)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        Line::from(first),
        Line::from(Span::styled(truncate(&sql, width.max(10)), st.dim)),
    ]
}

fn failure(out: &mut Vec<Line<'static>>, f: &Failure, analyze: bool, st: &Styles) {
    out.push(Line::raw(""));
    out.push(Line::from(vec![
        Span::styled(format!("{}: ", f.title()), st.bad),
        Span::raw(f.message.clone()),
    ]));
    let hint = match f.reason.as_str() {
        "refused" if analyze && !f.message.contains("x shows") => {
            "x shows the plan without running the statement"
        }
        "timeout" => "raise DJTOP[\"explain_timeout\"] in the app's settings to wait longer",
        "gone" => "run the request again with the app up, then ask for the new query's plan",
        "no answer" | "busy" => "x asks again",
        _ => "",
    };
    if !hint.is_empty() {
        out.push(Line::from(Span::styled(hint, st.dim)));
    }
}

fn summary(out: &mut Vec<Line<'static>>, plan: &Plan, st: &Styles) {
    let mut spans = Vec::new();
    if let Some(i) = plan.costliest() {
        let share = plan.share(i).unwrap_or(0.0);
        spans.push(Span::styled("◆ costliest: ", share_style(share, st)));
        spans.push(Span::raw(truncate(&plan.nodes[i].label, 60)));
        spans.push(Span::styled(
            format!(", {} {}", fmt_share(share), plan.basis().noun()),
            st.dim,
        ));
    }
    let scans: Vec<usize> = (0..plan.nodes.len())
        .filter(|&i| plan.nodes[i].full_scan)
        .collect();
    let big = scans.iter().filter(|&&i| plan.big_scan(i)).count();
    let unknown = scans
        .iter()
        .filter(|&&i| plan.nodes[i].table_rows.is_none())
        .count();
    if !scans.is_empty() {
        if !spans.is_empty() {
            spans.push(Span::styled(" · ", st.dim));
        }
        let n = scans.len();
        let text = if big > 0 {
            format!(
                "⚠ {big} full scan{} of a big table (≥ {} rows)",
                plural(big),
                fmt_rows(explain::BIG_TABLE_ROWS)
            )
        } else if unknown > 0 {
            format!("{n} full scan{} (table size unknown)", plural(n))
        } else {
            format!("{n} full scan{} of small tables", plural(n))
        };
        spans.push(Span::styled(text, if big > 0 { st.bad } else { st.dim }));
    }
    let off = (0..plan.nodes.len())
        .filter(|&i| {
            plan.nodes[i]
                .misestimate()
                .is_some_and(|(f, _)| f >= explain::POOR_ESTIMATE)
        })
        .count();
    if off > 0 {
        spans.push(Span::styled(" · ", st.dim));
        spans.push(Span::styled(
            format!(
                "{off} row estimate{} off ≥ {}×",
                plural(off),
                explain::POOR_ESTIMATE
            ),
            st.warn,
        ));
    }
    for note in &plan.notes {
        spans.push(Span::styled(format!(" · {note}"), st.dim));
    }
    if spans.is_empty() {
        spans.push(Span::styled(
            "no costs in this plan: the tree alone",
            st.dim,
        ));
    }
    out.push(Line::from(spans));
}

/// One column of figures.
struct Column {
    title: &'static str,
    width: usize,
    cell: fn(&Plan, usize) -> Option<String>,
    style: fn(&Plan, usize, &Styles) -> Style,
}

fn dim(_: &Plan, _: usize, st: &Styles) -> Style {
    st.dim
}

fn plain(_: &Plan, _: usize, _: &Styles) -> Style {
    Style::default()
}

fn share_cell_style(p: &Plan, i: usize, st: &Styles) -> Style {
    share_style(p.share(i).unwrap_or(0.0), st)
}

fn error_style(p: &Plan, i: usize, st: &Styles) -> Style {
    match p.nodes[i].misestimate() {
        Some((f, _)) if f >= explain::BAD_ESTIMATE => st.bad,
        Some((f, _)) if f >= explain::POOR_ESTIMATE => st.warn,
        _ => st.dim,
    }
}

fn columns(plan: &Plan) -> Vec<Column> {
    let mut cols = Vec::new();
    let share = Column {
        title: "%",
        width: 5,
        cell: |p, i| p.share(i).map(fmt_share),
        style: share_cell_style,
    };
    match plan.basis() {
        Basis::Time => {
            cols.push(Column {
                title: "self ms",
                width: 9,
                cell: |p, i| p.nodes[i].self_ms.map(fmt_ms_bare),
                style: plain,
            });
            cols.push(share);
            cols.push(Column {
                title: "total ms",
                width: 9,
                cell: |p, i| p.nodes[i].total_ms.map(fmt_ms_bare),
                style: dim,
            });
        }
        Basis::Cost => {
            cols.push(Column {
                title: "self cost",
                width: 10,
                cell: |p, i| p.nodes[i].self_cost.map(fmt_cost),
                style: plain,
            });
            cols.push(share);
            cols.push(Column {
                title: "cost",
                width: 10,
                cell: |p, i| p.nodes[i].total_cost.map(fmt_cost),
                style: dim,
            });
        }
        Basis::Rows => {
            cols.push(Column {
                title: "rows read",
                width: 10,
                cell: |p, i| p.nodes[i].examined.map(fmt_rows),
                style: plain,
            });
            cols.push(share);
        }
        Basis::None => {}
    }
    if plan.has_est_rows() {
        cols.push(Column {
            title: "est rows",
            width: 9,
            cell: |p, i| p.nodes[i].est_rows.map(fmt_rows),
            style: dim,
        });
    }
    if plan.has_actual_rows() {
        cols.push(Column {
            title: "rows",
            width: 9,
            cell: |p, i| {
                let n = &p.nodes[i];
                if n.never_executed {
                    return Some("-".into());
                }
                n.actual_rows.map(fmt_rows)
            },
            style: plain,
        });
        cols.push(Column {
            title: "×err",
            width: 7,
            cell: |p, i| {
                p.nodes[i].misestimate().map(|(f, under)| {
                    let arrow = if f < 1.05 {
                        ""
                    } else if under {
                        "↑"
                    } else {
                        "↓"
                    };
                    format!("{}{arrow}", fmt_factor(f))
                })
            },
            style: error_style,
        });
    }
    if plan.has_loops() {
        cols.push(Column {
            title: "loops",
            width: 6,
            cell: |p, i| p.nodes[i].loops.map(fmt_rows),
            style: dim,
        });
    }
    cols
}

/// The table: its header line, then per visible node its line and detail lines; and the
/// index of each visible node's line.
fn tree(plan: &Plan, ui: &PlanUi, st: &Styles, width: usize) -> (Vec<Line<'static>>, Vec<usize>) {
    let cols = columns(plan);
    let figures: usize = cols.iter().map(|c| c.width + 1).sum();
    let mut lines = Vec::new();
    let mut head = vec![Span::raw("  ")];
    for c in &cols {
        head.push(Span::styled(
            format!("{:>w$} ", c.title, w = c.width),
            st.header,
        ));
    }
    head.push(Span::styled("node", st.header));
    lines.push(Line::from(head));
    let costliest = plan.costliest();
    let visible = plan.visible(&ui.collapsed);
    let mut first_line = Vec::with_capacity(visible.len());
    for (pos, &i) in visible.iter().enumerate() {
        let n = &plan.nodes[i];
        let selected = pos == ui.cursor;
        first_line.push(lines.len() - 1);
        let mut spans = vec![Span::styled(if selected { "▶ " } else { "  " }, st.bad)];
        for c in &cols {
            let text = (c.cell)(plan, i).unwrap_or_default();
            spans.push(Span::styled(
                format!("{text:>w$} ", w = c.width),
                (c.style)(plan, i, st),
            ));
        }
        let marker = if n.children.is_empty() {
            "· "
        } else if ui.collapsed.contains(&i) {
            "▸ "
        } else {
            "▾ "
        };
        spans.push(Span::styled(
            format!("{}{marker}", "  ".repeat(n.depth)),
            st.dim,
        ));
        let mut label_style = if plan.big_scan(i) {
            st.bad
        } else if n.full_scan {
            st.warn
        } else {
            Style::default()
        };
        if selected {
            label_style = st.selected;
        }
        spans.push(Span::styled(n.label.clone(), label_style));
        if Some(i) == costliest {
            spans.push(Span::styled(
                " ◆",
                share_style(plan.share(i).unwrap_or(0.0), st),
            ));
        }
        if n.full_scan {
            let text = match n.table_rows {
                Some(r) => format!(" full scan of {} rows", fmt_rows(r)),
                None => " full scan".to_owned(),
            };
            let style = if plan.big_scan(i) { st.bad } else { st.dim };
            spans.push(Span::styled(text, style));
        }
        if n.never_executed {
            spans.push(Span::styled(" (never executed)", st.dim));
        }
        if ui.collapsed.contains(&i) {
            let hidden = plan.descendants(i);
            spans.push(Span::styled(
                format!(" +{hidden} node{}", plural(hidden)),
                st.dim,
            ));
        }
        lines.push(Line::from(spans));
        let indent = 2 + figures + 2 * n.depth + 2;
        for d in &n.details {
            let text = truncate(d, width.saturating_sub(indent + 2).max(8));
            lines.push(Line::from(Span::styled(
                format!("{}  {text}", " ".repeat(indent)),
                st.dim,
            )));
        }
    }
    (lines, first_line)
}

fn raw(
    frame: &mut Frame,
    area: Rect,
    app: &mut App,
    mut out: Vec<Line<'static>>,
    answer: &Answer,
    st: &Styles,
) {
    out.push(Line::from(Span::styled(
        "raw plan, as the database wrote it (R: the tree again)",
        st.header,
    )));
    match &answer.raw {
        Some(text) => out.extend(text.lines().map(|l| Line::raw(l.to_owned()))),
        None => out.push(Line::from(Span::styled("no plan was sent", st.dim))),
    }
    let max_scroll = out.len().saturating_sub(1) as u16;
    if app.detail_scroll > max_scroll {
        app.detail_scroll = max_scroll;
    }
    frame.render_widget(
        Paragraph::new(out)
            .wrap(Wrap { trim: false })
            .scroll((app.detail_scroll, 0)),
        area,
    );
}

fn share_style(share: f64, st: &Styles) -> Style {
    if share >= 0.5 {
        st.bad.add_modifier(Modifier::BOLD)
    } else if share >= 0.1 {
        st.warn
    } else {
        st.dim
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn fmt_share(s: f64) -> String {
    let pct = s * 100.0;
    if pct > 0.0 && pct < 1.0 {
        "<1%".into()
    } else {
        format!("{pct:.0}%")
    }
}

fn fmt_ms(ms: f64) -> String {
    format!("{} ms", fmt_ms_bare(ms))
}

fn fmt_ms_bare(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 100.0 {
        format!("{ms:.2}")
    } else {
        thousands(ms.round())
    }
}

fn fmt_cost(c: f64) -> String {
    if c < 1000.0 {
        format!("{c:.2}")
    } else {
        thousands(c.round())
    }
}

fn fmt_rows(r: f64) -> String {
    if r >= 10_000_000.0 {
        format!("{:.1}M", r / 1_000_000.0)
    } else if r.fract() != 0.0 && r < 10.0 {
        format!("{r:.1}")
    } else {
        thousands(r.round())
    }
}

fn fmt_factor(f: f64) -> String {
    if f < 10.0 {
        format!("×{f:.1}")
    } else {
        format!("×{}", thousands(f.round()))
    }
}

fn thousands(v: f64) -> String {
    let digits = format!("{}", v.abs() as u64);
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_at_a_glance() {
        assert_eq!(fmt_rows(4000.0), "4,000");
        assert_eq!(fmt_rows(2.5), "2.5");
        assert_eq!(fmt_rows(12_345_678.0), "12.3M");
        assert_eq!(fmt_ms_bare(0.1234), "0.123");
        assert_eq!(fmt_ms_bare(12.345), "12.35");
        assert_eq!(fmt_ms_bare(1234.5), "1,235");
        assert_eq!(fmt_share(0.004), "<1%");
        assert_eq!(fmt_share(0.62), "62%");
        assert_eq!(fmt_factor(26.0), "×26");
        assert_eq!(fmt_factor(1.0), "×1.0");
        assert_eq!(fmt_cost(42.85), "42.85");
    }
}
