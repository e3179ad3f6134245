//! A request's findings, each leading with the fix to paste, then where: the line of the lazy
//! access and the line of the queryset to change. Enter lists the member queries.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::style::Styles;
use super::App;
use crate::store::RequestId;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, request: RequestId) {
    let st = Styles::new(app.color);
    let findings = app.findings(request);
    let summary = app.summary(request);
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!(
                "{} finding{}",
                findings.len(),
                if findings.len() == 1 { "" } else { "s" }
            ),
            st.title,
        ),
        Span::styled(
            format!(
                " in {} queries ({:.1} ms SQL)",
                summary.query_count, summary.sql_ms
            ),
            st.dim,
        ),
    ])];
    if findings.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::from(Span::styled(
            format!(
                "  nothing repeats {} times or more from one place: no N+1, no duplicates",
                app.config.min_repeats
            ),
            st.good,
        )));
    }
    // Findings that share one queryset: the one statement that fixes them all, first.
    let merged = crate::analysis::owned::merged_fixes(&findings);
    for m in &merged {
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled(
                format!("= one fix for {} findings", m.findings.len()),
                st.title,
            ),
            Span::styled(
                m.queryset
                    .as_ref()
                    .map(|q| format!("  at {q}"))
                    .unwrap_or_default(),
                st.accent,
            ),
        ]));
        lines.push(Line::from(vec![
            Span::styled("    fix       ", st.dim),
            Span::styled(m.fix.clone(), st.good),
        ]));
    }
    let extra = merged.len() * 3;
    let selected = app.selected_finding.min(findings.len().saturating_sub(1));
    for (i, f) in findings.iter().enumerate() {
        let marker = if i == selected { "▶ " } else { "  " };
        // A library's own loop: not the user's to fix, shown dimmed and said so.
        let head_style = match (i == selected, &f.library) {
            (true, _) => st.selected,
            (false, Some(_)) => st.dim,
            (false, None) => st.title,
        };
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled(marker, if f.library.is_some() { st.dim } else { st.bad }),
            Span::styled(f.title.clone(), head_style),
            Span::styled(format!("  [{}, {:.1} ms]", f.kind, f.ms), st.dim),
            Span::styled(
                f.library
                    .as_ref()
                    .map(|p| format!("  inside {p}: its own loop"))
                    .unwrap_or_default(),
                st.dim,
            ),
        ]));
        if let Some(o) = &f.owner {
            lines.push(Line::from(vec![
                Span::styled("    owner     ", st.dim),
                Span::styled(format!("{} {}", o.kind, o.class), st.accent),
                Span::styled(
                    o.site
                        .as_ref()
                        .map(|s| format!("  ({s})"))
                        .unwrap_or_else(|| "  (a library's)".to_owned()),
                    st.dim,
                ),
            ]));
        }
        lines.push(Line::from(vec![
            Span::styled("    fix       ", st.dim),
            Span::styled(f.fix.clone(), st.good),
        ]));
        for alt in &f.alternatives {
            lines.push(Line::from(vec![
                Span::styled("    or        ", st.dim),
                Span::styled(alt.clone(), st.good),
            ]));
        }
        if let Some(q) = &f.queryset {
            lines.push(Line::from(vec![
                Span::styled("    queryset  ", st.dim),
                Span::styled(q.clone(), st.accent),
                Span::styled("  (the queryset to change)", st.dim),
            ]));
        }
        if let Some(c) = &f.callsite {
            lines.push(Line::from(vec![
                Span::styled("    at        ", st.dim),
                Span::styled(c.clone(), st.accent),
                Span::styled("  (where each query fires)", st.dim),
            ]));
        }
    }
    // Keep the selected finding on screen: each takes 4-5 lines.
    let before: usize = findings
        .iter()
        .take(selected)
        .map(|f| {
            3 + f.alternatives.len()
                + usize::from(f.owner.is_some())
                + usize::from(f.queryset.is_some())
                + usize::from(f.callsite.is_some())
        })
        .sum::<usize>()
        + extra;
    let scroll = (before + 1).saturating_sub(area.height as usize / 2) as u16;
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}
