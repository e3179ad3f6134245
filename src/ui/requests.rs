//! The live request list: newest first, heavy requests stand out.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::style::{heaviness, Styles};
use super::{list_rows, truncate, window_start, App};

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App) {
    let st = Styles::new(app.color);
    let rows_available = list_rows(area);
    let list = app.request_list();
    let len = list.len();
    let selected = app.request_position();
    let start = window_start(selected, rows_available, len);
    app.hit = Some((
        Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        },
        start,
    ));
    let path_width = (area.width as usize).saturating_sub(66).max(10);

    let ids: Vec<usize> = list
        .iter()
        .copied()
        .skip(start)
        .take(rows_available)
        .collect();
    let mut rows = Vec::with_capacity(ids.len());
    for (offset, id) in ids.into_iter().enumerate() {
        let summary = app.summary(id);
        let findings = app.findings(id).len();
        let req = &app.store.requests[id];
        let heavy = heaviness(summary.query_count, summary.sql_ms);
        let count_style = match heavy {
            2 => st.bad,
            1 => st.warn,
            _ => Style::default(),
        };
        let method = match &req.method {
            Some(m) if req.is_http() => m.clone(),
            _ => req.kind.clone(),
        };
        let status = match (req.status, req.ended) {
            (Some(s), _) => Span::styled(
                s.to_string(),
                if s >= 500 {
                    st.bad
                } else if s >= 400 {
                    st.warn
                } else {
                    st.good
                },
            ),
            (None, true) => Span::styled("err", st.bad),
            (None, false) if req.is_http() => Span::styled("…", st.dim),
            (None, false) => Span::styled("", st.dim),
        };
        let duration = req.ms.map(|m| format!("{m:.1}")).unwrap_or_default();
        let groups = if summary.similar_queries > 0 || summary.duplicate_queries > 0 {
            format!(
                "{}/{}",
                compact(summary.similar_queries),
                compact(summary.duplicate_queries)
            )
        } else {
            String::new()
        };
        let pid = app.store.processes[req.process]
            .pid
            .map(|p| p.to_string())
            .unwrap_or_default();
        let mark = if findings > 0 {
            Span::styled(format!("!{findings}"), st.bad)
        } else {
            Span::raw("")
        };
        let mut row = Row::new(vec![
            Cell::from(mark),
            Cell::from(Span::styled(method, st.accent)),
            Cell::from(truncate(&req.path, path_width)),
            Cell::from(status),
            Cell::from(Line::from(duration).right_aligned()),
            Cell::from(
                Line::from(Span::styled(summary.query_count.to_string(), count_style))
                    .right_aligned(),
            ),
            Cell::from(Line::from(format!("{:.1}", summary.sql_ms)).right_aligned()),
            Cell::from(Line::from(Span::styled(groups, count_style)).right_aligned()),
            Cell::from(Span::styled(pid, st.dim)),
        ]);
        if start + offset == selected {
            row = row.style(st.selected);
        }
        rows.push(row);
    }
    let header = Row::new(vec![
        "", "METHOD", "PATH", "STATUS", "MS", "QUERIES", "SQL MS", "SIM/DUP", "PID",
    ])
    .style(st.header);
    let table = Table::new(
        rows,
        [
            Constraint::Length(3),
            Constraint::Length(8),
            Constraint::Min(10),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(7),
        ],
    )
    .header(header)
    .column_spacing(1);
    frame.render_widget(table, area);
}

/// A count in at most 4 characters, so "similar/duplicate" fits its 9-wide column even for a
/// request of 300,000 queries ("300k/300k" rather than a cut "00/300000").
fn compact(n: usize) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{}k", n / 1_000),
        _ => format!("{}m", n / 1_000_000),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compact_counts_fit_in_four_characters() {
        assert_eq!(super::compact(0), "0");
        assert_eq!(super::compact(9_999), "9999");
        assert_eq!(super::compact(10_000), "10k");
        assert_eq!(super::compact(300_000), "300k");
        assert_eq!(super::compact(2_500_000), "2m");
    }
}
