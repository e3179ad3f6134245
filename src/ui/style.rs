//! The styles panels use, in one place, filled from the process's theme ([`crate::theme`]).
//! With colour off (`NO_COLOR`) every style degrades to plain text with only bold/reverse for
//! emphasis, whatever the theme.

use ratatui::style::Style;

use crate::theme::Theme;

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
    /// The current theme's styles, or plain ones when `color` is off.
    pub fn new(color: bool) -> Self {
        if color {
            Self::from_theme(crate::theme::current())
        } else {
            Self::from_theme(&Theme::no_color())
        }
    }

    pub fn from_theme(t: &Theme) -> Self {
        Self {
            brand: t.brand.style(),
            title: t.title.style(),
            header: t.header.style(),
            selected: t.selected.style(),
            dim: t.dim.style(),
            key: t.key.style(),
            status: t.status.style(),
            warn: t.warn.style(),
            bad: t.bad.style(),
            good: t.good.style(),
            accent: t.accent.style(),
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
