//! Two requests side by side (typically one route before and after a fix): query shapes added,
//! removed and changed in count and time, with the totals.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::style::Styles;
use super::{list_rows, truncate, window_start, App};
use crate::analysis;
use crate::highlight::list_line;
use crate::store::RequestId;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, before: RequestId, after: RequestId) {
    let st = Styles::new(app.color);
    let rows_data = analysis::diff(&app.store, before, after);
    let (a, b) = (&app.store.requests[before], &app.store.requests[after]);
    let [head, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    let delta = b.queries.len() as i64 - a.queries.len() as i64;
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled("before ", st.dim),
                Span::raw(format!(
                    "{} {}",
                    a.method.as_deref().unwrap_or(&a.kind),
                    a.path
                )),
                Span::styled(
                    format!("  {} queries, {:.1} ms SQL", a.queries.len(), a.sql_ms),
                    st.title,
                ),
            ]),
            Line::from(vec![
                Span::styled("after  ", st.dim),
                Span::raw(format!(
                    "{} {}",
                    b.method.as_deref().unwrap_or(&b.kind),
                    b.path
                )),
                Span::styled(
                    format!("  {} queries, {:.1} ms SQL", b.queries.len(), b.sql_ms),
                    st.title,
                ),
                Span::styled(
                    format!("  ({delta:+} queries, {:+.1} ms)", b.sql_ms - a.sql_ms),
                    if delta <= 0 { st.good } else { st.bad },
                ),
            ]),
        ]),
        head,
    );
    let rows_available = list_rows(body);
    let selected = app.selected_query.min(rows_data.len().saturating_sub(1));
    let start = window_start(selected, rows_available, rows_data.len());
    let width = (body.width as usize).saturating_sub(40).max(10);
    let rows: Vec<Row> = rows_data
        .iter()
        .enumerate()
        .skip(start)
        .take(rows_available)
        .map(|(i, r)| {
            let change = r.change();
            let style = match change {
                "removed" => st.good,
                "added" => st.bad,
                "changed" => st.warn,
                _ => st.dim,
            };
            let mut row = Row::new(vec![
                Cell::from(Span::styled(change, style)),
                Cell::from(Line::from(r.before.to_string()).right_aligned()),
                Cell::from(Line::from(r.after.to_string()).right_aligned()),
                Cell::from(Line::from(format!("{:+.1}", r.after_ms - r.before_ms)).right_aligned()),
                Cell::from(truncate(&list_line(&r.sql), width)),
            ]);
            if i == selected {
                row = row.style(st.selected);
            }
            row
        })
        .collect();
    let header = Row::new(vec!["CHANGE", "BEFORE", "AFTER", "Δ MS", "SQL"]).style(st.header);
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(6),
                Constraint::Length(7),
                Constraint::Min(10),
            ],
        )
        .header(header)
        .column_spacing(1),
        body,
    );
}
