//! Every route seen: request count, p50/p95 query count, p95 SQL time and whether any of its
//! requests has findings. A route whose p95 is over the budget stands out.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::style::Styles;
use super::{list_rows, truncate, window_start, App};
use crate::analysis;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App) {
    let st = Styles::new(app.color);
    let routes = analysis::routes(&app.store);
    let budget = app.config.route_budget;
    let rows_available = list_rows(area);
    let selected = app.selected_route.min(routes.len().saturating_sub(1));
    let start = window_start(selected, rows_available, routes.len());
    app.hit = Some((
        Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        },
        start,
    ));
    let width = (area.width as usize).saturating_sub(48).max(10);
    let mut rows = Vec::new();
    for (i, r) in routes.iter().enumerate().skip(start).take(rows_available) {
        let with_findings = r
            .requests
            .iter()
            .filter(|&&id| !app.findings(id).is_empty())
            .count();
        let over = r.p95_queries > budget;
        let count_style = if over { st.bad } else { st.title };
        let mut row = Row::new(vec![
            Cell::from(truncate(&r.route, width)),
            Cell::from(Line::from(r.requests.len().to_string()).right_aligned()),
            Cell::from(
                Line::from(Span::styled(r.p50_queries.to_string(), count_style)).right_aligned(),
            ),
            Cell::from(
                Line::from(Span::styled(r.p95_queries.to_string(), count_style)).right_aligned(),
            ),
            Cell::from(Line::from(format!("{:.1}", r.p95_sql_ms)).right_aligned()),
            Cell::from(if with_findings > 0 {
                Span::styled(format!("!{with_findings}"), st.bad)
            } else {
                Span::raw("")
            }),
        ]);
        if i == selected {
            row = row.style(st.selected);
        }
        rows.push(row);
    }
    let header = Row::new(vec![
        "ROUTE",
        "REQS",
        "P50 Q",
        "P95 Q",
        "P95 SQL MS",
        "FINDINGS",
    ])
    .style(st.header);
    let table = Table::new(
        rows,
        [
            Constraint::Min(10),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(8),
        ],
    )
    .header(header)
    .column_spacing(1);
    frame.render_widget(table, area);
}
