//! One query: formatted and highlighted SQL, params, where it ran, and the application frames
//! that fired it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::style::Styles;
use super::App;
use crate::highlight::{format_sql, highlight};
use crate::store::{QueryId, RequestId};

pub fn lines(app: &mut App, _request: RequestId, query: QueryId) -> Vec<Line<'static>> {
    let st = Styles::new(app.color);
    let root = {
        let q = &app.store.queries[query];
        app.store.processes[app.store.requests[q.request].process]
            .root
            .clone()
    };
    let stack: Vec<crate::protocol::Frame> = app.store.stack(&app.store.queries[query]).to_vec();
    let selected = app.selected_frame.min(stack.len().saturating_sub(1));
    let mut sources = Vec::new();
    if let Some(f) = stack.get(selected) {
        let path = super::source::resolve(root.as_deref(), f.file());
        sources.push(app.sources.snippet(&path, f.line(), app.color));
    }
    let store = &app.store;
    let q = &store.queries[query];
    let mut out = Vec::new();
    let mut meta = vec![
        Span::styled(format!("{:.3} ms", q.ms), st.title),
        Span::styled(
            format!(" · {} ({})", store.alias(q), store.vendor(q)),
            st.dim,
        ),
    ];
    if let Some(rows) = q.rows {
        meta.push(Span::styled(
            format!(" · {rows} row{}", if rows == 1 { "" } else { "s" }),
            st.dim,
        ));
    }
    if q.many {
        meta.push(Span::styled(" · executemany", st.warn));
    }
    out.push(Line::from(meta));
    if let Some(err) = &q.error {
        out.push(Line::from(Span::styled(format!("error: {err}"), st.bad)));
    }
    out.push(Line::raw(""));
    out.push(Line::from(Span::styled("SQL", st.header)));
    out.extend(highlight(&format_sql(store.sql(q)), "sql", app.color));
    out.push(Line::raw(""));
    out.push(Line::from(vec![
        Span::styled("params ", st.header),
        Span::raw(q.params.to_string()),
    ]));
    out.push(Line::raw(""));
    let stack = store.stack(q);
    let plural = if stack.len() == 1 { "" } else { "s" };
    out.push(Line::from(vec![
        Span::styled(
            format!(
                "stack ({} application frame{plural}, innermost first)",
                stack.len()
            ),
            st.header,
        ),
        Span::styled(
            "   tab: next frame · e: open in editor · y: copy SQL",
            st.dim,
        ),
    ]));
    if stack.is_empty() {
        out.push(Line::from(Span::styled(
            "  no application frames: the query came from Django or a library alone",
            st.dim,
        )));
    }
    let library = store.library_frames(q);
    for (i, f) in stack.iter().enumerate() {
        let chosen = i == selected;
        out.push(Line::from(vec![
            Span::styled(if chosen { "▶ " } else { "  " }, st.bad),
            Span::styled(
                format!("{}:{}", f.file(), f.line()),
                if chosen { st.selected } else { st.accent },
            ),
            Span::styled(format!("  in {}", f.function()), st.dim),
        ]));
        if !chosen {
            continue;
        }
        match sources.pop() {
            Some(Ok((first, lines))) => {
                for (n, line) in lines.iter().enumerate() {
                    let number = first + n as u32;
                    let here = number == f.line();
                    let mut spans = vec![Span::styled(
                        format!("    {} {number:>5} │ ", if here { "▶" } else { " " }),
                        if here { st.bad } else { st.dim },
                    )];
                    spans.extend(line.spans.iter().cloned());
                    out.push(Line::from(spans));
                }
            }
            Some(Err(why)) => out.push(Line::from(Span::styled(
                format!("      source not readable here ({why}); the app may run on another machine or in a container"),
                st.dim,
            ))),
            None => {}
        }
    }
    if !library.is_empty() {
        if app.show_library {
            out.push(Line::from(Span::styled(
                format!(
                    "  {} Django/library frames, innermost first (L hides them)",
                    library.len()
                ),
                st.dim,
            )));
            for f in library {
                out.push(Line::from(Span::styled(
                    format!("    {}:{}  in {}", f.file(), f.line(), f.function()),
                    st.dim,
                )));
            }
        } else {
            let outer = &library[library.len() - 1];
            out.push(Line::from(Span::styled(
                format!(
                    "  + {} Django/library frames, from {}:{} in {} (L shows them)",
                    library.len(),
                    outer.file(),
                    outer.line(),
                    outer.function()
                ),
                st.dim,
            )));
        }
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, request: RequestId, query: QueryId) {
    let text = lines(app, request, query);
    let max_scroll = text.len().saturating_sub(1) as u16;
    if app.detail_scroll > max_scroll {
        app.detail_scroll = max_scroll;
    }
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((app.detail_scroll, 0)),
        area,
    );
}
