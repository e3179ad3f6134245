//! The first screen before any event arrives: tells a newcomer exactly what to do.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::style::Styles;
use super::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let st = Styles::new(app.color);
    let code = st.accent;
    let text = vec![
        Line::raw(""),
        Line::from(vec![
            Span::raw("  djtop is "),
            Span::styled(format!("listening on {}", app.source), st.good),
            Span::raw(" and waiting for a Django process."),
        ]),
        Line::raw(""),
        Line::raw("  1. In your project's virtualenv:  pip install djtop"),
        Line::raw("  2. In settings.py:"),
        Line::from(Span::styled("       INSTALLED_APPS = [..., \"djtop\"]", code)),
        Line::from(Span::styled(
            "       MIDDLEWARE = [\"djtop.middleware.DjtopMiddleware\", ...]   # first",
            code,
        )),
        Line::raw("  3. Run your app with DEBUG = True:  python manage.py runserver   (or uvicorn)"),
        Line::raw("  4. Open a page: its requests and queries appear here as they happen."),
        Line::raw(""),
        Line::from(Span::styled(
            "  Another address? Set DJTOP_ADDRESS in the app's environment, or DJTOP = {\"address\": \"…\"} in settings.",
            st.dim,
        )),
        Line::from(Span::styled(
            "  Not DEBUG? Enable it explicitly with DJTOP_ENABLED=1.",
            st.dim,
        )),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), area);
}
