//! Themes: parsing, override semantics, error messages, choosing a theme, and each built-in
//! rendered on ratatui's TestBackend (the snapshots hold every cell's colours and modifiers).

use std::path::Path;

use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Terminal;

use super::*;
use crate::highlight::highlight;

fn err(text: &str) -> String {
    format!("{:#}", Theme::parse(text, "themes/x.toml").unwrap_err())
}

fn builtin_theme(name: &str) -> Theme {
    builtin(name).unwrap_or_else(|| panic!("{name} is built in"))
}

// ---- the built-ins ----------------------------------------------------------------------

#[test]
fn every_builtin_parses_and_spells_out_every_colour_and_bold() {
    for (name, text) in BUILTINS {
        let table: toml::Table = text.parse().unwrap();
        let mut missing: Vec<String> = STYLES
            .iter()
            .flat_map(|s| ["fg", "bg", "bold"].map(|a| format!("{s}_{a}")))
            .filter(|k| !table.contains_key(k))
            .collect();
        if !table.contains_key("syntax") {
            missing.push("syntax".into());
        }
        assert!(missing.is_empty(), "themes/{name}.toml lacks {missing:?}");
        assert!(builtin(name).is_some());
    }
    assert_eq!(builtin("nope"), None);
}

#[test]
fn dark_is_the_default_and_matches_the_original_colours() {
    let original = [
        Style::default()
            .fg(Color::Black)
            .bg(Color::Green)
            .add_modifier(Modifier::BOLD),
        Style::default()
            .fg(Color::White)
            .add_modifier(Modifier::BOLD),
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
        Style::default()
            .bg(Color::DarkGray)
            .add_modifier(Modifier::BOLD),
        Style::default().fg(Color::Gray),
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
        Style::default().fg(Color::Black).bg(Color::Cyan),
        Style::default().fg(Color::Yellow),
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        Style::default().fg(Color::Green),
        Style::default().fg(Color::Magenta),
    ];
    let dark = Theme::dark();
    for ((name, spec), want) in dark.styles().into_iter().zip(original) {
        assert_eq!(spec.style(), want, "{name}");
    }
    assert_eq!(dark.syntax.as_deref(), Some("base16-ocean.dark"));
    assert_eq!(&builtin_theme("dark"), dark);
    assert_eq!(current(), dark, "nothing set: dark");
}

#[test]
fn no_color_is_bold_and_reverse_only() {
    let plain = Style::default();
    let bold = plain.add_modifier(Modifier::BOLD);
    let reversed = plain.add_modifier(Modifier::REVERSED);
    let original = [
        bold.add_modifier(Modifier::REVERSED),
        bold,
        bold,
        reversed,
        plain,
        bold,
        reversed,
        bold,
        bold,
        plain,
        bold,
    ];
    let t = Theme::no_color();
    for ((name, spec), want) in t.styles().into_iter().zip(original) {
        assert_eq!(spec.style(), want, "{name}");
        assert_eq!((spec.fg, spec.bg), (None, None), "{name} has no colour");
    }
    assert_eq!(t.syntax, None);
}

#[test]
fn the_light_and_high_contrast_themes_differ_where_it_matters() {
    let light = builtin_theme("light");
    assert_ne!(light.title.fg, Some(Color::White), "no white text on white");
    assert_ne!(light.warn.fg, Some(Color::Yellow), "no yellow on white");
    assert_eq!(light.syntax.as_deref(), Some("InspiredGitHub"));
    let hc = builtin_theme("high-contrast");
    assert!(hc.selected.reversed && hc.selected.bold);
    assert_ne!(hc.dim.fg, Some(Color::DarkGray), "dim stays readable");
}

#[test]
fn the_syntax_names_are_exactly_syntects_defaults() {
    let set = syntect::highlighting::ThemeSet::load_defaults();
    let mut have: Vec<&str> = set.themes.keys().map(String::as_str).collect();
    let mut ours = SYNTAX_THEMES.to_vec();
    have.sort_unstable();
    ours.sort_unstable();
    assert_eq!(ours, have);
}

// ---- parsing and overrides --------------------------------------------------------------

#[test]
fn a_user_theme_overrides_only_the_keys_it_sets() {
    let t = Theme::parse(
        "title_fg = \"#ff8800\"\nselected_bold = false\n",
        "mine.toml",
    )
    .unwrap();
    let mut want = Theme::dark().clone();
    want.title.fg = Some(Color::Rgb(0xff, 0x88, 0x00));
    want.selected.bold = false;
    assert_eq!(t, want);
    assert_eq!(Theme::parse("", "empty.toml").unwrap(), *Theme::dark());
}

#[test]
fn base_starts_from_another_builtin() {
    let t = Theme::parse("base = \"light\"\nwarn_fg = 1\n", "mine.toml").unwrap();
    let mut want = builtin_theme("light");
    want.warn.fg = Some(Color::Indexed(1));
    assert_eq!(t, want);
}

#[test]
fn modifiers_syntax_none_and_default_colours() {
    let t = Theme::parse(
        "bad_italic = true\nbad_underline = true\nbrand_reversed = true\n\
         brand_bg = \"default\"\nsyntax = \"none\"\n",
        "mine.toml",
    )
    .unwrap();
    assert!(t.bad.italic && t.bad.underline && t.bad.bold);
    assert_eq!(
        t.bad.style(),
        Style::default()
            .fg(Color::Red)
            .add_modifier(Modifier::BOLD | Modifier::ITALIC | Modifier::UNDERLINED)
    );
    assert!(t.brand.reversed);
    assert_eq!(t.brand.bg, None);
    assert_eq!(t.syntax, None);
}

#[test]
fn colour_syntax() {
    let c = |v: &str| {
        Theme::parse(&format!("dim_fg = {v}"), "c.toml")
            .unwrap()
            .dim
            .fg
    };
    assert_eq!(c("\"red\""), Some(Color::Red));
    assert_eq!(c("\"white\""), Some(Color::Gray), "ANSI 7");
    assert_eq!(c("\"bright-white\""), Some(Color::White), "ANSI 15");
    assert_eq!(c("\"bright-black\""), Some(Color::DarkGray));
    assert_eq!(c("\"Bright_Blue\""), Some(Color::LightBlue));
    assert_eq!(c("\"#0a0B0c\""), Some(Color::Rgb(10, 11, 12)));
    assert_eq!(c("244"), Some(Color::Indexed(244)));
    assert_eq!(c("\"17\""), Some(Color::Indexed(17)));
    assert_eq!(c("0"), Some(Color::Indexed(0)));
    assert_eq!(c("\"default\""), None);
}

// ---- error messages: one line naming the file, the key and the fix ----------------------

#[test]
fn unknown_keys_are_errors_with_a_suggestion() {
    assert_eq!(
        err("titel_fg = \"red\""),
        "themes/x.toml: `titel_fg` is not a theme key (did you mean `title_fg`?)"
    );
    assert_eq!(
        err("selected_colour = \"red\""),
        "themes/x.toml: `selected_colour` is not a theme key (keys are <style>_fg, _bg, _bold, \
         _italic, _underline, _reversed, syntax and base: see docs/themes.md)"
    );
    assert_eq!(
        err("[colors]\ntitle_fg = \"red\""),
        "themes/x.toml: `colors` is not a theme key (keys are <style>_fg, _bg, _bold, _italic, \
         _underline, _reversed, syntax and base: see docs/themes.md)"
    );
    assert_eq!(
        err("synatx = \"InspiredGitHub\""),
        "themes/x.toml: `synatx` is not a theme key (did you mean `syntax`?)"
    );
}

#[test]
fn bad_colours_say_what_a_colour_is() {
    assert_eq!(
        err("warn_fg = \"magneta\""),
        "themes/x.toml: `warn_fg = \"magneta\"` is not a colour: use a name (red, bright-black, …), \
         \"#rrggbb\", an index 0-255 or \"default\" (did you mean \"magenta\"?)"
    );
    assert_eq!(
        err("warn_fg = \"light-red\""),
        "themes/x.toml: `warn_fg = \"light-red\"` is not a colour: use a name (red, bright-black, \
         …), \"#rrggbb\", an index 0-255 or \"default\" (did you mean \"bright-red\"?)"
    );
    assert_eq!(
        err("warn_fg = \"purple\""),
        "themes/x.toml: `warn_fg = \"purple\"` is not a colour: use a name (red, bright-black, …), \
         \"#rrggbb\", an index 0-255 or \"default\""
    );
    assert_eq!(
        err("dim_fg = \"gray\""),
        "themes/x.toml: `dim_fg = \"gray\"` is not a colour: grey differs between terminals: use \
         \"white\" (ANSI 7, light grey), \"bright-black\" (ANSI 8, dark grey) or an index such as 244"
    );
    assert_eq!(
        err("dim_bg = 300"),
        "themes/x.toml: `dim_bg = 300` is not a colour: colour indexes go from 0 to 255"
    );
    assert_eq!(
        err("dim_bg = -1"),
        "themes/x.toml: `dim_bg = -1` is not a colour: colour indexes go from 0 to 255"
    );
    assert_eq!(
        err("dim_bg = \"#fff\""),
        "themes/x.toml: `dim_bg = \"#fff\"` is not a colour: write hex colours as \"#rrggbb\", six \
         hex digits"
    );
    assert_eq!(
        err("dim_bg = true"),
        "themes/x.toml: `dim_bg = true` is not a colour: use a name (red, bright-black, …), \
         \"#rrggbb\", an index 0-255 or \"default\""
    );
}

#[test]
fn bad_modifiers_syntax_and_base_values() {
    assert_eq!(
        err("key_bold = \"yes\""),
        "themes/x.toml: `key_bold = \"yes\"` must be true or false"
    );
    assert_eq!(
        err("syntax = \"base16-ocean-dark\""),
        "themes/x.toml: `syntax = \"base16-ocean-dark\"` is not a syntax theme: use \
         \"base16-ocean.dark\", \"base16-eighties.dark\", \"base16-mocha.dark\", \
         \"base16-ocean.light\", \"InspiredGitHub\", \"Solarized (dark)\", \"Solarized (light)\" \
         or \"none\" (did you mean `base16-ocean.dark`?)"
    );
    assert_eq!(
        err("base = \"lihgt\""),
        "themes/x.toml: `base = \"lihgt\"` is not a built-in theme: use dark, light, \
         high-contrast (did you mean `light`?)"
    );
}

#[test]
fn malformed_toml_names_the_line_and_column() {
    let e = err("title_fg = \"red\"\nwarn_fg = red\n");
    assert!(e.starts_with("themes/x.toml:2:11: not valid TOML: "), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
}

// ---- choosing a theme -------------------------------------------------------------------

#[test]
fn config_file_location_follows_xdg() {
    let p = |xdg: Option<&str>, home: Option<&str>| {
        config_path_from(xdg.map(Into::into), home.map(Into::into))
    };
    assert_eq!(
        p(Some("/x/cfg"), Some("/home/u")).unwrap(),
        Path::new("/x/cfg/djtop/config.toml")
    );
    assert_eq!(
        p(Some(""), Some("/home/u")).unwrap(),
        Path::new("/home/u/.config/djtop/config.toml")
    );
    assert_eq!(
        p(Some("relative"), Some("/home/u")).unwrap(),
        Path::new("/home/u/.config/djtop/config.toml")
    );
    assert_eq!(p(None, None), None);
}

#[test]
fn config_file_parsing() {
    assert_eq!(
        parse_config("theme = \"light\"", "c.toml").unwrap(),
        Some("light".into())
    );
    assert_eq!(parse_config("# nothing yet\n", "c.toml").unwrap(), None);
    let e = |t: &str| format!("{:#}", parse_config(t, "c.toml").unwrap_err());
    assert_eq!(
        e("them = \"light\""),
        "c.toml: `them` is not a config key (did you mean `theme`?)"
    );
    assert_eq!(
        e("colour = 1"),
        "c.toml: `colour` is not a config key (the keys are: theme, keys)"
    );
    let malformed = e("theme = light");
    assert!(
        malformed.starts_with("c.toml:1:9: not valid TOML: "),
        "{malformed}"
    );
    assert!(!malformed.contains('\n'), "{malformed}");
    assert_eq!(
        e("theme = 2"),
        "c.toml: `theme = 2` must be in quotes: a built-in theme (dark, light, high-contrast) or a \
         theme file's path"
    );
}

#[test]
fn the_command_line_wins_over_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "theme = \"light\"\n").unwrap();
    assert_eq!(
        choose(Some("high-contrast"), Some(&config)).unwrap(),
        builtin_theme("high-contrast")
    );
    assert_eq!(choose(None, Some(&config)).unwrap(), builtin_theme("light"));
    assert_eq!(choose(None, None).unwrap(), *Theme::dark());
    let missing = dir.path().join("nope/config.toml");
    assert_eq!(
        choose(None, Some(&missing)).unwrap(),
        *Theme::dark(),
        "a missing config file is fine"
    );
}

#[test]
fn config_theme_paths_are_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("themes")).unwrap();
    std::fs::write(
        dir.path().join("themes/mine.toml"),
        "base = \"light\"\nbrand_bg = \"#123456\"\n",
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "theme = \"themes/mine.toml\"\n").unwrap();
    let t = choose(None, Some(&config)).unwrap();
    assert_eq!(t.brand.bg, Some(Color::Rgb(0x12, 0x34, 0x56)));
    assert_eq!(t.title, builtin_theme("light").title);
}

#[test]
fn cli_paths_load_user_files_and_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "accent_fg = \"bright-cyan\"\n").unwrap();
    let spec = good.to_str().unwrap();
    assert_eq!(
        choose(Some(spec), None).unwrap().accent.fg,
        Some(Color::LightCyan)
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "acent_fg = \"red\"\n").unwrap();
    let e = format!(
        "{:#}",
        choose(Some(bad.to_str().unwrap()), None).unwrap_err()
    );
    assert_eq!(
        e,
        format!(
            "{}: `acent_fg` is not a theme key (did you mean `accent_fg`?)",
            bad.display()
        )
    );

    let e = format!("{:#}", choose(Some("lite"), None).unwrap_err());
    assert_eq!(
        e,
        "--theme lite: no built-in theme or theme file named `lite`: use dark, light, \
         high-contrast or a theme file's path (did you mean `light`?)"
    );
    let e = format!("{:#}", choose(Some("no/such.toml"), None).unwrap_err());
    assert_eq!(
        e,
        "--theme no/such.toml: no theme file at no/such.toml: check the path, or use a built-in \
         theme: dark, light, high-contrast"
    );
}

#[test]
fn a_malformed_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "theme = \"lite\"\n").unwrap();
    let e = format!("{:#}", choose(None, Some(&config)).unwrap_err());
    assert_eq!(
        e,
        format!(
            "{}: `theme = \"lite\"`: no built-in theme or theme file named `lite`: use dark, \
             light, high-contrast or a theme file's path (did you mean `light`?)",
            config.display()
        )
    );
    std::fs::write(&config, "theme = \n").unwrap();
    let e = format!("{:#}", choose(None, Some(&config)).unwrap_err());
    assert!(
        e.starts_with(&format!("{}:1:", config.display())) && e.contains("not valid TOML"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

// ---- the global theme and highlighting --------------------------------------------------

#[test]
fn highlighting_uses_the_themes_syntax_theme() {
    crate::highlight::ensure_loaded();
    let sql = "SELECT id FROM t";
    let fg = |theme: &Theme| {
        with_theme(theme, || {
            assert_eq!(current(), theme);
            highlight(sql, "sql", true)[0].spans[0].style.fg
        })
    };
    let dark = fg(Theme::dark());
    let light = fg(&builtin_theme("light"));
    assert!(dark.is_some() && light.is_some());
    assert_ne!(dark, light, "SELECT coloured by each theme's syntect theme");
    let none = Theme::parse("syntax = \"none\"", "t.toml").unwrap();
    let plain = with_theme(&none, || highlight(sql, "sql", true));
    assert_eq!(plain[0].spans.len(), 1);
    assert_eq!(plain[0].spans[0].style, Style::default());
    assert_eq!(
        current(),
        Theme::dark(),
        "the override ends with the closure"
    );
}

#[test]
fn panels_draw_with_the_current_theme() {
    let light = builtin_theme("light");
    let mut app = crate::ui::App::new(
        crate::store::Store::new(),
        "127.0.0.1:7878".into(),
        true,
        crate::analysis::Config::default(),
    );
    let buf = with_theme(&light, || {
        let mut t = Terminal::new(TestBackend::new(100, 20)).unwrap();
        t.draw(|f| crate::ui::draw(f, &mut app)).unwrap();
        t.backend().buffer().clone()
    });
    let cells: Vec<_> = buf.content().iter().collect();
    let has = |fg: Option<Color>, bg: Option<Color>| {
        cells.iter().any(|c| {
            Some(c.fg) == fg.or(Some(Color::Reset)) && Some(c.bg) == bg.or(Some(Color::Reset))
        })
    };
    assert!(
        has(light.brand.fg, light.brand.bg),
        "the brand badge in light colours"
    );
    assert!(
        has(light.status.fg, light.status.bg),
        "the status line in light colours"
    );
    let dark = Theme::dark();
    assert!(!has(dark.brand.fg, dark.brand.bg), "no dark colours left");
}

// ---- every theme on screen --------------------------------------------------------------

/// Each style's name and a sample in that style, then a line of highlighted SQL, as ratatui's
/// Buffer debug output: the text and, for each change of style, the cell's fg, bg and modifiers.
fn palette(theme: &Theme, color: bool) -> String {
    crate::highlight::ensure_loaded();
    with_theme(theme, || {
        let mut t = Terminal::new(TestBackend::new(34, 12)).unwrap();
        t.draw(|f| {
            let mut lines: Vec<Line> = theme
                .styles()
                .into_iter()
                .map(|(name, spec)| {
                    Line::from(vec![
                        Span::raw(format!("{name:<9}")),
                        Span::styled(" 42 queries · 3.1 ms ", spec.style()),
                    ])
                })
                .collect();
            lines.extend(highlight("SELECT id FROM t WHERE a = %s", "sql", color));
            f.render_widget(Paragraph::new(lines), f.area());
        })
        .unwrap();
        format!("{:?}", t.backend().buffer())
    })
}

#[test]
fn palette_dark() {
    insta::assert_snapshot!(palette(Theme::dark(), true));
}

#[test]
fn palette_light() {
    insta::assert_snapshot!(palette(&builtin_theme("light"), true));
}

#[test]
fn palette_high_contrast() {
    insta::assert_snapshot!(palette(&builtin_theme("high-contrast"), true));
}

#[test]
fn palette_no_color() {
    insta::assert_snapshot!(palette(&Theme::no_color(), false));
}

#[test]
fn no_color_wins_over_any_theme() {
    // NO_COLOR reaches the UI as `color == false`: panels use Theme::no_color() and code stays
    // plain, whatever theme was chosen.
    crate::highlight::ensure_loaded();
    let hc = builtin_theme("high-contrast");
    let lines = with_theme(&hc, || highlight("SELECT 1", "sql", false));
    assert_eq!(lines[0].spans.len(), 1);
    assert_eq!(lines[0].spans[0].style, Style::default());

    let mut app = crate::ui::App::new(
        crate::store::Store::new(),
        "127.0.0.1:7878".into(),
        false,
        crate::analysis::Config::default(),
    );
    let buf = with_theme(&hc, || {
        let mut t = Terminal::new(TestBackend::new(100, 20)).unwrap();
        t.draw(|f| crate::ui::draw(f, &mut app)).unwrap();
        t.backend().buffer().clone()
    });
    for c in buf.content() {
        assert_eq!((c.fg, c.bg), (Color::Reset, Color::Reset), "{c:?}");
    }
    assert!(
        buf.content()
            .iter()
            .any(|c| c.modifier.contains(Modifier::REVERSED)),
        "emphasis by reverse video"
    );
}

#[test]
fn key_overrides_come_from_the_keys_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "theme = \"light\"\n[keys]\nfilter = [\"ctrl-f\", \"/\"]\nquit = \"Q\"\n",
    )
    .unwrap();
    let keys = crate::theme::key_overrides(Some(&path)).unwrap();
    assert_eq!(keys["filter"], vec!["ctrl-f", "/"]);
    assert_eq!(keys["quit"], vec!["Q"]);
    assert!(
        crate::theme::key_overrides(Some(&dir.path().join("none.toml")))
            .unwrap()
            .is_empty()
    );
    std::fs::write(&path, "keys = 3\n").unwrap();
    let err = format!(
        "{:#}",
        crate::theme::key_overrides(Some(&path)).unwrap_err()
    );
    assert!(err.contains("`keys` must be a table"), "{err}");
}
