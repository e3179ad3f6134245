//! The `?` overlay: every key of the current view, from the same table as the footer.

use ratatui::layout::{Constraint, Flex, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::keys::bindings;
use super::style::Styles;
use super::App;

pub fn draw(frame: &mut Frame, app: &App) {
    let st = Styles::new(app.color);
    let described: Vec<(String, &str)> = bindings(app.view())
        .map(|b| {
            let keys = b
                .keys
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            (keys, b.help)
        })
        .collect();
    let key_width = described
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let mut lines: Vec<Line> = described
        .into_iter()
        .map(|(keys, help)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<key_width$}"), st.key),
                Span::raw(help),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    let area = frame.area();
    let width = (area.width.saturating_sub(4)).min(96);
    let height = (lines.len() as u16 + 3).min(area.height.saturating_sub(2));
    let fits = lines.len() as u16 + 3 <= height;
    lines.push(Line::from(Span::styled(
        if fits {
            " any key closes this · keys are documented in docs/keys.md"
        } else {
            " j/k scroll · any other key closes this · docs/keys.md"
        },
        st.dim,
    )));
    // Scroll no further than the last line.
    let max_scroll = (lines.len() as u16 + 2).saturating_sub(height);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((app.help_scroll.min(max_scroll), 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(Span::styled(" keys ", st.title)),
            ),
        popup,
    );
}
