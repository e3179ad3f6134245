//! The styles panels use, in one place (themes will fill these from TOML). With colour off
//! (`NO_COLOR`) every style degrades to plain text with only bold/reverse for emphasis.

use ratatui::style::{Color, Modifier, Style};

pub struct Styles {
    pub brand: Style,
    pub title: Style,
    pub header: Style,
    pub selected: Style,
    pub dim: Style,
    pub key: Style,
    pub status: Style,
    pub warn: Style,
    pub bad: Style,
    pub good: Style,
    pub accent: Style,
}

impl Styles {
    pub fn new(color: bool) -> Self {
        if !color {
            let plain = Style::default();
            let bold = plain.add_modifier(Modifier::BOLD);
            return Self {
                brand: bold.add_modifier(Modifier::REVERSED),
                title: bold,
                header: bold,
                selected: plain.add_modifier(Modifier::REVERSED),
                dim: plain,
                key: bold,
                status: plain.add_modifier(Modifier::REVERSED),
                warn: bold,
                bad: bold,
                good: plain,
                accent: bold,
            };
        }
        Self {
            brand: Style::default()
                .fg(Color::Black)
                .bg(Color::Green)
                .add_modifier(Modifier::BOLD),
            title: Style::default()
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            header: Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            selected: Style::default()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
            dim: Style::default().fg(Color::Gray),
            key: Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            status: Style::default().fg(Color::Black).bg(Color::Cyan),
            warn: Style::default().fg(Color::Yellow),
            bad: Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            good: Style::default().fg(Color::Green),
            accent: Style::default().fg(Color::Magenta),
        }
    }
}

/// How heavy a request is, by its query count and SQL time.
pub fn heaviness(queries: usize, sql_ms: f64) -> u8 {
    if queries >= 50 || sql_ms >= 200.0 {
        2
    } else if queries >= 15 || sql_ms >= 50.0 {
        1
    } else {
        0
    }
}
