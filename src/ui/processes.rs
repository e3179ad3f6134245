//! The Django processes that connected: who they are, what they sent, what they dropped.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::style::Styles;
use super::{truncate, App};

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App) {
    let st = Styles::new(app.color);
    let width = (area.width as usize).saturating_sub(60).max(10);
    let rows: Vec<Row> = app
        .store
        .processes
        .iter()
        .map(|p| {
            Row::new(vec![
                Cell::from(p.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())),
                Cell::from(if p.connected {
                    Span::styled("connected", st.good)
                } else {
                    Span::styled("gone", st.dim)
                }),
                Cell::from(truncate(&p.argv.join(" "), width)),
                Cell::from(p.django.clone().unwrap_or_default()),
                Cell::from(p.python.clone().unwrap_or_default()),
                Cell::from(Line::from(p.events.to_string()).right_aligned()),
                Cell::from(
                    Line::from(Span::styled(
                        p.dropped.to_string(),
                        if p.dropped > 0 { st.bad } else { st.dim },
                    ))
                    .right_aligned(),
                ),
                Cell::from(Line::from(p.hellos.saturating_sub(1).to_string()).right_aligned()),
            ])
        })
        .collect();
    let header = Row::new(vec![
        "PID", "STATE", "COMMAND", "DJANGO", "PYTHON", "EVENTS", "DROPPED", "RECONN",
    ])
    .style(st.header);
    let table = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Min(10),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(6),
        ],
    )
    .header(header)
    .column_spacing(1);
    frame.render_widget(table, area);
}
