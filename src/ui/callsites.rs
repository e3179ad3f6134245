//! A request's queries grouped by the application line that fired them: the quickest answer to
//! "which line causes most queries". Enter lists that line's queries.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::style::Styles;
use super::{list_rows, truncate, window_start, App};
use crate::store::RequestId;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, request: RequestId) {
    let st = Styles::new(app.color);
    let sites = app.callsites(request);
    let total = app.store.requests[request].sql_ms.max(f64::EPSILON);
    let rows_available = list_rows(area);
    let selected = app.selected_site.min(sites.len().saturating_sub(1));
    let start = window_start(selected, rows_available, sites.len());
    app.hit = Some((
        Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        },
        start,
    ));
    let width = (area.width as usize).saturating_sub(30).max(10);
    let rows: Vec<Row> = sites
        .iter()
        .enumerate()
        .skip(start)
        .take(rows_available)
        .map(|(i, site)| {
            let place = match &site.frame {
                Some(f) => Line::from(vec![
                    Span::styled(
                        truncate(&format!("{}:{}", f.file(), f.line()), width),
                        st.accent,
                    ),
                    Span::styled(format!("  in {}", f.function()), st.dim),
                ]),
                None => Line::from(Span::styled(
                    "(no application frame: Django or a library)",
                    st.dim,
                )),
            };
            let n = site.queries.len();
            let mut row = Row::new(vec![
                Cell::from(
                    Line::from(Span::styled(
                        n.to_string(),
                        if n >= 10 { st.bad } else { st.title },
                    ))
                    .right_aligned(),
                ),
                Cell::from(Line::from(format!("{:.1}", site.ms)).right_aligned()),
                Cell::from(Line::from(format!("{:.0}%", site.ms / total * 100.0)).right_aligned()),
                Cell::from(place),
            ]);
            if i == selected {
                row = row.style(st.selected);
            }
            row
        })
        .collect();
    let header = Row::new(vec!["QUERIES", "MS", "SHARE", "LINE"]).style(st.header);
    let table = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .column_spacing(1);
    frame.render_widget(table, area);
}
