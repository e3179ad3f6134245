//! A request's queries on its wall-clock axis: each query a bar from its start for its
//! duration, so gaps (Python time between queries) and overlap (async concurrency) show.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::style::Styles;
use super::{list_rows, truncate, window_start, App};
use crate::highlight::list_line;
use crate::store::RequestId;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, request: RequestId) {
    let st = Styles::new(app.color);
    let req = &app.store.requests[request];
    let t0 = req.ts;
    let end_ms = app
        .store
        .request_queries(request)
        .map(|q| (q.ts - t0) * 1000.0 + q.ms)
        .fold(req.ms.unwrap_or(0.0), f64::max)
        .max(0.001);
    let [head, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    let label_width = 30usize.min(area.width as usize / 3);
    let bar_width = (area.width as usize)
        .saturating_sub(label_width + 16)
        .max(10);
    let sql_ms = req.sql_ms;
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled(format!("{:.1} ms of SQL", sql_ms), st.title),
                Span::styled(
                    format!(
                        " in {end_ms:.1} ms: {:.0}% of the request is outside the database",
                        (1.0 - sql_ms / end_ms).clamp(0.0, 1.0) * 100.0
                    ),
                    st.dim,
                ),
            ]),
            Line::from(Span::styled(
                format!(
                    "{:>w$}0 ms{:>b$}",
                    "",
                    format!("{end_ms:.1} ms"),
                    w = label_width + 14,
                    b = bar_width.saturating_sub(4)
                ),
                st.dim,
            )),
        ]),
        head,
    );
    let ids = &app.store.requests[request].queries;
    let rows = list_rows(body) + 1;
    let selected = app.selected_query.min(ids.len().saturating_sub(1));
    let start = window_start(selected, rows, ids.len());
    let scale = bar_width as f64 / end_ms;
    let lines: Vec<Line> = ids
        .iter()
        .enumerate()
        .skip(start)
        .take(rows)
        .map(|(i, &qid)| {
            let q = &app.store.queries[qid];
            let from = (((q.ts - t0) * 1000.0) * scale).floor().max(0.0) as usize;
            let len = ((q.ms * scale).ceil() as usize).max(1);
            let from = from.min(bar_width.saturating_sub(1));
            let len = len.min(bar_width - from);
            let bar = format!(
                "{}{}{}",
                " ".repeat(from),
                "█".repeat(len),
                " ".repeat(bar_width - from - len)
            );
            let style = if i == selected { st.selected } else { st.dim };
            Line::from(vec![
                Span::styled(format!("{:>5} ", i + 1), style),
                Span::styled(format!("{:>7.2} ", q.ms), style),
                Span::styled(bar, if q.error.is_some() { st.bad } else { st.warn }),
                Span::styled(
                    format!(" {}", truncate(&list_line(app.store.sql(q)), label_width)),
                    style,
                ),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), body);
}
