//! One request's queries in execution order: offset, duration, share of SQL time, one-line SQL,
//! and how many times its shape repeats in the request.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::style::Styles;
use super::{list_rows, truncate, window_start, App, Group, View};
use crate::highlight::list_line;
use crate::store::RequestId;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, request: RequestId, view: View) {
    let st = Styles::new(app.color);
    let summary = app.summary(request);
    let findings = app.findings(request);
    let ids = app.listed_queries(view);
    // How many queries of the request share each fingerprint: "×60" marks an N+1 at a glance.
    let shape_count = app.shapes(request);
    let [head, list] = Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(area);

    let req = &app.store.requests[request];
    let process = &app.store.processes[req.process];
    let mut info = vec![
        Span::styled(format!("{} queries", summary.query_count), st.title),
        Span::raw(format!(" · {:.1} ms SQL", summary.sql_ms)),
    ];
    if let Some(ms) = req.ms {
        info.push(Span::raw(format!(" of {ms:.1} ms")));
    }
    info.push(Span::styled(
        format!(
            " · {} similar · {} duplicate",
            summary.similar_queries, summary.duplicate_queries
        ),
        if summary.similar_queries > 0 {
            st.warn
        } else {
            st.dim
        },
    ));
    let mut where_ = vec![Span::styled(
        format!(
            "{} {}{}",
            req.route.as_deref().unwrap_or("-"),
            req.view.as_deref().unwrap_or(""),
            if req.is_async { " (async)" } else { "" }
        ),
        st.dim,
    )];
    where_.push(Span::styled(format!(" · {}", process.label()), st.dim));
    // The third line leads with what to do: the finding's fix.
    let lead = match view {
        View::Members(_, Group::Finding(i)) => findings.get(i).map(|f| {
            (
                f,
                format!("{} of {} queries: ", f.queries, summary.query_count),
            )
        }),
        View::Members(_, Group::Callsite(_)) => None,
        _ => findings.first().map(|f| {
            let more = if findings.len() > 1 {
                format!(" (+{} more, f)", findings.len() - 1)
            } else {
                " (f)".to_owned()
            };
            (f, format!("{}{more}: ", f.title))
        }),
    };
    let third = match lead {
        Some((f, label)) => Line::from(vec![
            Span::styled("! ", st.bad),
            Span::styled(label, st.warn),
            Span::styled(f.fix.clone(), st.good),
        ]),
        None if matches!(view, View::Members(_, Group::Callsite(_))) => Line::from(Span::styled(
            format!(
                "{} of {} queries fired from this line",
                ids.len(),
                summary.query_count
            ),
            st.warn,
        )),
        None => Line::from(Span::styled("no findings", st.dim)),
    };
    frame.render_widget(
        Paragraph::new(vec![Line::from(info), Line::from(where_), third]),
        head,
    );

    let rows_available = list_rows(list);
    let selected = app.selected_query.min(ids.len().saturating_sub(1));
    let start = window_start(selected, rows_available, ids.len());
    app.hit = Some((
        Rect {
            y: list.y + 1,
            height: list.height.saturating_sub(1),
            ..list
        },
        start,
    ));
    let sql_width = (list.width as usize).saturating_sub(36).max(10);
    let total = summary.sql_ms.max(f64::EPSILON);
    let t0 = req.ts;
    let rows: Vec<Row> = ids
        .iter()
        .enumerate()
        .skip(start)
        .take(rows_available)
        .map(|(i, &qid)| {
            let q = &app.store.queries[qid];
            let number = app.store.requests[request]
                .queries
                .binary_search(&qid)
                .map_or(i + 1, |p| p + 1);
            let share = q.ms / total * 100.0;
            let repeats = shape_count[&app.store.fingerprint_id(q)];
            let mut row = Row::new(vec![
                Cell::from(Line::from(number.to_string()).right_aligned()),
                Cell::from(
                    Line::from(format!("+{:.1}", (q.ts - t0).max(0.0) * 1000.0)).right_aligned(),
                ),
                Cell::from(Line::from(format!("{:.2}", q.ms)).right_aligned()),
                Cell::from(Line::from(format!("{share:.0}%")).right_aligned()),
                Cell::from(
                    Line::from(Span::styled(
                        if repeats > 1 {
                            format!("×{repeats}")
                        } else {
                            String::new()
                        },
                        if repeats > 1 {
                            st.warn
                        } else {
                            Style::default()
                        },
                    ))
                    .right_aligned(),
                ),
                Cell::from(Span::styled(
                    truncate(&list_line(app.store.sql(q)), sql_width),
                    if q.error.is_some() {
                        st.bad
                    } else {
                        Style::default()
                    },
                )),
            ]);
            if i == selected {
                row = row.style(st.selected);
            }
            row
        })
        .collect();
    let header = Row::new(vec!["#", "AT MS", "MS", "SHARE", "SHAPE", "SQL"]).style(st.header);
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .column_spacing(1);
    frame.render_widget(table, list);
}
