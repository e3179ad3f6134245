//! SQL formatting (sqlformat) and syntax highlighting (syntect).
//!
//! syntect's syntax and theme sets take a noticeable moment to load, so they load once on a
//! background thread started at launch; until they are ready, text is shown plain and the first
//! screen never waits. Every syntect default theme is kept; each call colours with the one the
//! process's theme names in `syntax` ([`crate::theme::current`]).

use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, ThemeSet};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

struct Sets {
    syntaxes: SyntaxSet,
    /// syntect's default themes by name (`crate::theme::SYNTAX_THEMES`).
    themes: ThemeSet,
}

static SETS: OnceLock<Sets> = OnceLock::new();

fn load() -> Sets {
    Sets {
        syntaxes: SyntaxSet::load_defaults_newlines(),
        themes: ThemeSet::load_defaults(),
    }
}

/// Start loading the highlighter in the background.
pub fn warm_up() {
    std::thread::spawn(|| {
        SETS.get_or_init(load);
    });
}

/// Whether highlighting is ready (before that, text is shown plain).
pub fn is_loaded() -> bool {
    SETS.get().is_some()
}

/// Load synchronously (tests, and the report which has no first frame to protect).
pub fn ensure_loaded() {
    SETS.get_or_init(load);
}

// Placeholders sqlformat would otherwise mangle (`%s` becomes `% s`): swap them for tokens it
// leaves alone, format, and swap back.
const PH: &str = "__djtop_ph__";
const PH_NAMED_OPEN: &str = "__djtop_pn_";
const PCT: &str = "__djtop_pct__";

/// Format SQL for reading: one clause per line, placeholders kept exactly as the driver sees them.
pub fn format_sql(sql: &str) -> String {
    let mut protected = String::with_capacity(sql.len() + 16);
    let mut names: Vec<&str> = Vec::new();
    let mut rest = sql;
    while let Some(i) = rest.find('%') {
        protected.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("%s") {
            protected.push_str(PH);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("%%") {
            protected.push_str(PCT);
            rest = after;
        } else if let Some(end) = tail.strip_prefix("%(").and_then(|t| t.find(")s")) {
            names.push(&tail[2..2 + end]);
            protected.push_str(&format!("{PH_NAMED_OPEN}{}__", names.len() - 1));
            rest = &tail[2 + end + 2..];
        } else {
            protected.push('%');
            rest = &tail[1..];
        }
    }
    protected.push_str(rest);
    let options = sqlformat::FormatOptions {
        indent: sqlformat::Indent::Spaces(2),
        uppercase: None,
        lines_between_queries: 1,
        ignore_case_convert: None,
    };
    let mut out = sqlformat::format(&protected, &sqlformat::QueryParams::None, &options)
        .replace(PH, "%s")
        .replace(PCT, "%%");
    for (i, name) in names.iter().enumerate() {
        out = out.replace(&format!("{PH_NAMED_OPEN}{i}__"), &format!("%({name})s"));
    }
    out
}

/// Highlight `code` in `language` (a file extension: `sql`, `py`) with the theme's `syntax`
/// theme. Plain lines until the highlighter has loaded, when `color` is off, or when the theme
/// says `syntax = "none"`.
pub fn highlight(code: &str, language: &str, color: bool) -> Vec<Line<'static>> {
    let plain = || code.lines().map(|l| Line::raw(l.to_owned())).collect();
    if !color {
        return plain();
    }
    let Some(sets) = SETS.get() else {
        return plain();
    };
    let Some(theme) = crate::theme::current()
        .syntax
        .as_deref()
        .and_then(|name| sets.themes.themes.get(name))
    else {
        return plain();
    };
    let Some(syntax) = sets.syntaxes.find_syntax_by_extension(language) else {
        return plain();
    };
    let mut h = HighlightLines::new(syntax, theme);
    let mut lines = Vec::new();
    for line in LinesWithEndings::from(code) {
        let Ok(ranges) = h.highlight_line(line, &sets.syntaxes) else {
            return plain();
        };
        let spans: Vec<Span<'static>> = ranges
            .into_iter()
            .map(|(style, text)| {
                let text = text.trim_end_matches(['\n', '\r']).to_owned();
                let fg = style.foreground;
                let mut s = Style::default().fg(Color::Rgb(fg.r, fg.g, fg.b));
                if style.font_style.contains(FontStyle::BOLD) {
                    s = s.add_modifier(Modifier::BOLD);
                }
                if style.font_style.contains(FontStyle::ITALIC) {
                    s = s.add_modifier(Modifier::ITALIC);
                }
                Span::styled(text, s)
            })
            .collect();
        lines.push(Line::from(spans));
    }
    lines
}

/// One-line SQL for lists: whitespace folded.
pub fn one_line(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut space = false;
    for c in sql.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

/// One-line SQL for lists with a SELECT's column list collapsed to `…`, so the part that tells
/// queries apart (FROM, WHERE) is what fits on screen.
pub fn list_line(sql: &str) -> String {
    let line = one_line(sql);
    let upper = line.get(..7).map(str::to_ascii_uppercase);
    if upper.as_deref() != Some("SELECT ") {
        return line;
    }
    match top_level_from(&line) {
        Some(i) if i > 7 => {
            let head = if line[7..].to_ascii_uppercase().starts_with("DISTINCT ") {
                "SELECT DISTINCT … "
            } else {
                "SELECT … "
            };
            format!("{head}{}", &line[i..])
        }
        _ => line,
    }
}

/// Byte index of the first `FROM` keyword outside quotes and parentheses.
fn top_level_from(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let (mut depth, mut quote) = (0i32, None::<u8>);
    for i in 0..b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            b'\'' | b'"' | b'`' => quote = Some(c),
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'F' | b'f'
                if depth == 0
                    && i > 0
                    && b[i - 1] == b' '
                    && b.get(i..i + 5)
                        .is_some_and(|w| w.eq_ignore_ascii_case(b"FROM ")) =>
            {
                return Some(i)
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_line_collapses_the_select_list() {
        assert_eq!(
            list_line(r#"SELECT "a"."id", (SELECT 1 FROM x) AS "y" FROM "a" WHERE "a"."id" = %s"#),
            r#"SELECT … FROM "a" WHERE "a"."id" = %s"#
        );
        assert_eq!(
            list_line("SELECT DISTINCT a FROM t"),
            "SELECT DISTINCT … FROM t"
        );
        assert_eq!(list_line("SELECT 1"), "SELECT 1");
        assert_eq!(
            list_line("INSERT INTO t VALUES (1)"),
            "INSERT INTO t VALUES (1)"
        );
        assert_eq!(list_line("SELECT 'from ' FROM t"), "SELECT … FROM t");
    }

    #[test]
    fn placeholders_survive_formatting() {
        let f = format_sql(r#"SELECT "a"."id" FROM "a" WHERE "a"."id" = %s AND "a"."n" LIKE %s"#);
        assert!(f.contains("= %s"), "{f}");
        assert!(f.contains("LIKE %s"), "{f}");
        assert!(!f.contains("% s"), "{f}");
        assert!(f.lines().count() > 1, "formatted over several lines: {f}");
    }

    #[test]
    fn percent_escapes_and_named_params_survive() {
        let f = format_sql("SELECT * FROM t WHERE a LIKE '100%%' AND b = %(name)s");
        assert!(f.contains("'100%%'"), "{f}");
        assert!(f.contains("%(name)s"), "{f}");
    }

    #[test]
    fn highlighting_colours_keywords_and_keeps_text() {
        ensure_loaded();
        let lines = highlight("SELECT id FROM t", "sql", true);
        let text: String = lines[0].spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "SELECT id FROM t");
        assert!(lines[0].spans.len() > 1, "keywords get their own spans");
        let plain = highlight("SELECT id FROM t", "sql", false);
        assert_eq!(plain[0].spans.len(), 1);
    }

    #[test]
    fn one_line_folds_whitespace() {
        assert_eq!(one_line("SELECT a,\n   b\tFROM t "), "SELECT a, b FROM t");
    }
}
