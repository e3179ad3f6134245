//! Colour themes: what each UI style ([`crate::ui`]'s `Styles`) looks like and which syntect
//! theme colours SQL and Python.
//!
//! A theme is a flat TOML file (`themes/*.toml`, docs/themes.md): `<style>_fg`, `<style>_bg`,
//! `<style>_bold`, `_italic`, `_underline`, `_reversed` for each of [`STYLES`], plus `syntax`.
//! The built-ins are embedded in the binary. A user file starts from the dark default (or the
//! built-in its `base` key names) and overrides only the keys it sets; unknown keys and bad
//! values are one-line errors naming the file, the key and the fix.
//!
//! The chosen theme is global for the process: `main` [`set`]s it once before the UI starts and
//! everything that draws reads [`current`], which is the dark default when nothing was set.
//! `NO_COLOR` is not a theme: it wins over every theme (`Styles::new(false)`, [`Theme::no_color`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};

use anyhow::{bail, Context, Result};
use ratatui::style::{Color, Modifier, Style};

/// The built-in themes, by name: embedded so `--theme light` works from anywhere.
pub const BUILTINS: [(&str, &str); 3] = [
    ("dark", include_str!("../themes/dark.toml")),
    ("light", include_str!("../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../themes/high-contrast.toml"),
    ),
];

/// The theme used when neither `--theme` nor the config file picks one.
pub const DEFAULT: &str = "dark";

/// The styles a theme sets, in `Styles` order.
pub const STYLES: [&str; 11] = [
    "brand", "title", "header", "selected", "dim", "key", "status", "warn", "bad", "good", "accent",
];

/// What each style takes: two colours and four modifiers.
pub const ATTRIBUTES: [&str; 6] = ["fg", "bg", "bold", "italic", "underline", "reversed"];

/// syntect's default themes (the only ones compiled in), valid values of `syntax` besides "none".
pub const SYNTAX_THEMES: [&str; 7] = [
    "base16-ocean.dark",
    "base16-eighties.dark",
    "base16-mocha.dark",
    "base16-ocean.light",
    "InspiredGitHub",
    "Solarized (dark)",
    "Solarized (light)",
];

/// Colour names, as terminals number them (`white` is ANSI 7, `bright-white` ANSI 15).
const COLOR_NAMES: [(&str, Color); 16] = [
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("white", Color::Gray),
    ("bright-black", Color::DarkGray),
    ("bright-red", Color::LightRed),
    ("bright-green", Color::LightGreen),
    ("bright-yellow", Color::LightYellow),
    ("bright-blue", Color::LightBlue),
    ("bright-magenta", Color::LightMagenta),
    ("bright-cyan", Color::LightCyan),
    ("bright-white", Color::White),
];

/// One style: unset colours (`None`, "default" in a file) leave the terminal's own colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StyleSpec {
    pub fg: Option<Color>,
    pub bg: Option<Color>,
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
    pub reversed: bool,
}

impl StyleSpec {
    pub fn style(&self) -> Style {
        let mut s = Style::default();
        if let Some(fg) = self.fg {
            s = s.fg(fg);
        }
        if let Some(bg) = self.bg {
            s = s.bg(bg);
        }
        for (on, m) in [
            (self.bold, Modifier::BOLD),
            (self.italic, Modifier::ITALIC),
            (self.underline, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
        ] {
            if on {
                s = s.add_modifier(m);
            }
        }
        s
    }
}

/// A complete theme: every style, and the syntect theme for code (`None`: plain code).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Theme {
    pub brand: StyleSpec,
    pub title: StyleSpec,
    pub header: StyleSpec,
    pub selected: StyleSpec,
    pub dim: StyleSpec,
    pub key: StyleSpec,
    pub status: StyleSpec,
    pub warn: StyleSpec,
    pub bad: StyleSpec,
    pub good: StyleSpec,
    pub accent: StyleSpec,
    pub syntax: Option<String>,
}

static DARK: LazyLock<Theme> =
    LazyLock::new(|| builtin(DEFAULT).expect("the dark theme is built in"));
static CHOSEN: OnceLock<Theme> = OnceLock::new();

#[cfg(test)]
thread_local! {
    static OVERRIDE: std::cell::Cell<Option<&'static Theme>> = const { std::cell::Cell::new(None) };
}

/// Make `theme` the process's theme. The first call wins; later ones return `false`.
pub fn set(theme: Theme) -> bool {
    CHOSEN.set(theme).is_ok()
}

/// The process's theme: the one [`set`] chose, else the dark default.
pub fn current() -> &'static Theme {
    #[cfg(test)]
    if let Some(t) = OVERRIDE.with(|o| o.get()) {
        return t;
    }
    CHOSEN.get().unwrap_or(&DARK)
}

/// Run `f` with `theme` as [`current`] on this thread (tests render several themes at once).
#[cfg(test)]
pub(crate) fn with_theme<R>(theme: &Theme, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<&'static Theme>);
    impl Drop for Reset {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let leaked: &'static Theme = Box::leak(Box::new(theme.clone()));
    let _reset = Reset(OVERRIDE.with(|o| o.replace(Some(leaked))));
    f()
}

/// A built-in theme by name.
pub fn builtin(name: &str) -> Option<Theme> {
    let (_, text) = BUILTINS.iter().find(|(n, _)| *n == name)?;
    let origin = format!("themes/{name}.toml");
    // dark is complete by itself; the others start from it like user themes do.
    let base = if name == DEFAULT {
        Theme::default()
    } else {
        DARK.clone()
    };
    Some(apply(base, text, &origin).unwrap_or_else(|e| panic!("built-in theme: {e:#}")))
}

impl Theme {
    /// The dark default.
    pub fn dark() -> &'static Theme {
        &DARK
    }

    /// What `NO_COLOR` shows: no colours at all, bold and reverse video for emphasis, plain code.
    pub fn no_color() -> Theme {
        let plain = StyleSpec::default();
        let bold = StyleSpec {
            bold: true,
            ..plain
        };
        let reversed = StyleSpec {
            reversed: true,
            ..plain
        };
        Theme {
            brand: StyleSpec {
                bold: true,
                reversed: true,
                ..plain
            },
            title: bold,
            header: bold,
            selected: reversed,
            dim: plain,
            key: bold,
            status: reversed,
            warn: bold,
            bad: bold,
            good: plain,
            accent: bold,
            syntax: None,
        }
    }

    /// Parse a theme file's text over the dark default (or the built-in its `base` names).
    /// `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Theme> {
        let table = parse_toml(text, origin)?;
        let base = match table.get("base") {
            None => DARK.clone(),
            Some(toml::Value::String(name)) => match builtin(name) {
                Some(t) => t,
                None => bail!(
                    "{origin}: `base = {:?}` is not a built-in theme: use {}{}",
                    name,
                    builtin_list(),
                    did_you_mean(name, BUILTINS.iter().map(|(n, _)| *n))
                ),
            },
            Some(v) => bail!(
                "{origin}: `base = {v}` must be a built-in theme's name in quotes: {}",
                builtin_list()
            ),
        };
        apply_table(base, &table, origin)
    }

    /// Load a user theme file.
    pub fn load(path: &Path) -> Result<Theme> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{origin}: cannot read this theme file"))?;
        Theme::parse(&text, &origin)
    }

    /// Every style with its name, in [`STYLES`] order.
    pub fn styles(&self) -> [(&'static str, &StyleSpec); 11] {
        [
            ("brand", &self.brand),
            ("title", &self.title),
            ("header", &self.header),
            ("selected", &self.selected),
            ("dim", &self.dim),
            ("key", &self.key),
            ("status", &self.status),
            ("warn", &self.warn),
            ("bad", &self.bad),
            ("good", &self.good),
            ("accent", &self.accent),
        ]
    }

    fn style_mut(&mut self, name: &str) -> Option<&mut StyleSpec> {
        Some(match name {
            "brand" => &mut self.brand,
            "title" => &mut self.title,
            "header" => &mut self.header,
            "selected" => &mut self.selected,
            "dim" => &mut self.dim,
            "key" => &mut self.key,
            "status" => &mut self.status,
            "warn" => &mut self.warn,
            "bad" => &mut self.bad,
            "good" => &mut self.good,
            "accent" => &mut self.accent,
            _ => return None,
        })
    }
}

/// Every key a theme file may set.
pub fn keys() -> Vec<String> {
    let mut keys = vec!["syntax".to_owned(), "base".to_owned()];
    for s in STYLES {
        for a in ATTRIBUTES {
            keys.push(format!("{s}_{a}"));
        }
    }
    keys
}

fn apply(base: Theme, text: &str, origin: &str) -> Result<Theme> {
    let table = parse_toml(text, origin)?;
    apply_table(base, &table, origin)
}

fn apply_table(mut theme: Theme, table: &toml::Table, origin: &str) -> Result<Theme> {
    for (key, value) in table {
        match key.as_str() {
            "base" => {} // chosen before the keys apply
            "syntax" => theme.syntax = parse_syntax(key, value, origin)?,
            _ => {
                let spec = key
                    .rsplit_once('_')
                    .and_then(|(style, attr)| Some((theme.style_mut(style)?, attr)));
                let unknown = || {
                    anyhow::anyhow!(
                        "{origin}: `{key}` is not a theme key {}",
                        match suggest(key, keys().iter().map(String::as_str)) {
                            Some(k) => format!("(did you mean `{k}`?)"),
                            None => "(keys are <style>_fg, _bg, _bold, _italic, _underline, \
                                     _reversed, syntax and base: see docs/themes.md)"
                                .to_owned(),
                        }
                    )
                };
                let Some((spec, attr)) = spec else {
                    return Err(unknown());
                };
                match attr {
                    "fg" => spec.fg = parse_color(key, value, origin)?,
                    "bg" => spec.bg = parse_color(key, value, origin)?,
                    "bold" => spec.bold = parse_bool(key, value, origin)?,
                    "italic" => spec.italic = parse_bool(key, value, origin)?,
                    "underline" => spec.underline = parse_bool(key, value, origin)?,
                    "reversed" => spec.reversed = parse_bool(key, value, origin)?,
                    _ => return Err(unknown()),
                }
            }
        }
    }
    Ok(theme)
}

/// Parse TOML into a table, with a one-line error at `origin:line:column`.
fn parse_toml(text: &str, origin: &str) -> Result<toml::Table> {
    text.parse::<toml::Table>().map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(":{line}:{column}")
            })
            .unwrap_or_default();
        anyhow::anyhow!(
            "{origin}{at}: not valid TOML: {}",
            e.message().trim_end().replace('\n', "; ")
        )
    })
}

fn parse_bool(key: &str, value: &toml::Value, origin: &str) -> Result<bool> {
    match value {
        toml::Value::Boolean(b) => Ok(*b),
        _ => bail!("{origin}: `{key} = {value}` must be true or false"),
    }
}

fn parse_syntax(key: &str, value: &toml::Value, origin: &str) -> Result<Option<String>> {
    let toml::Value::String(name) = value else {
        bail!(
            "{origin}: `{key} = {value}` must be a syntax theme's name in quotes: \"{}\" or \"none\"",
            SYNTAX_THEMES.join("\", \"")
        );
    };
    if name == "none" {
        return Ok(None);
    }
    if let Some(known) = SYNTAX_THEMES.iter().find(|t| **t == name) {
        return Ok(Some((*known).to_owned()));
    }
    bail!(
        "{origin}: `{key} = {value}` is not a syntax theme: use \"{}\" or \"none\"{}",
        SYNTAX_THEMES.join("\", \""),
        did_you_mean(name, SYNTAX_THEMES)
    )
}

/// A colour value: a name, `#rrggbb`, an index 0-255 (number or string), or "default".
fn parse_color(key: &str, value: &toml::Value, origin: &str) -> Result<Option<Color>> {
    color(value)
        .map_err(|hint| anyhow::anyhow!("{origin}: `{key} = {value}` is not a colour: {hint}"))
}

const COLOR_SYNTAX: &str =
    "use a name (red, bright-black, …), \"#rrggbb\", an index 0-255 or \"default\"";

fn color(value: &toml::Value) -> Result<Option<Color>, String> {
    let s = match value {
        toml::Value::Integer(i) => {
            return u8::try_from(*i)
                .map(|i| Some(Color::Indexed(i)))
                .map_err(|_| "colour indexes go from 0 to 255".to_owned())
        }
        toml::Value::String(s) => s,
        _ => return Err(COLOR_SYNTAX.to_owned()),
    };
    let name = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
    if name == "default" {
        return Ok(None);
    }
    if let Some(hex) = name.strip_prefix('#') {
        if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits");
            return Ok(Some(Color::Rgb(byte(0), byte(2), byte(4))));
        }
        return Err("write hex colours as \"#rrggbb\", six hex digits".to_owned());
    }
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name
            .parse::<u8>()
            .map(|i| Some(Color::Indexed(i)))
            .map_err(|_| "colour indexes go from 0 to 255".to_owned());
    }
    if let Some((_, c)) = COLOR_NAMES.iter().find(|(n, _)| *n == name) {
        return Ok(Some(*c));
    }
    let hint = match name.as_str() {
        "gray" | "grey" => "grey differs between terminals: use \"white\" (ANSI 7, light grey), \
             \"bright-black\" (ANSI 8, dark grey) or an index such as 244"
            .to_owned(),
        "dark-gray" | "dark-grey" | "darkgray" | "darkgrey" => "use \"bright-black\"".to_owned(),
        "reset" | "none" => "use \"default\" for the terminal's own colour".to_owned(),
        _ => {
            let bright = name
                .strip_prefix("light-")
                .or_else(|| name.strip_prefix("light"))
                .or_else(|| name.strip_prefix("bright"))
                .map(|rest| format!("bright-{}", rest.trim_start_matches('-')))
                .filter(|n| COLOR_NAMES.iter().any(|(c, _)| c == n));
            match bright
                .or_else(|| suggest(&name, COLOR_NAMES.iter().map(|(n, _)| *n)).map(str::to_owned))
            {
                Some(n) => format!("{COLOR_SYNTAX} (did you mean \"{n}\"?)"),
                None => COLOR_SYNTAX.to_owned(),
            }
        }
    };
    Err(hint)
}

fn builtin_list() -> String {
    BUILTINS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// The closest candidate to a misspelt `word`, if one is close enough to be what was meant.
fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let closest = candidates
        .iter()
        .map(|c| (distance(&word, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    // Else the one candidate that starts like the word (`lite` → `light`).
    closest.or_else(|| {
        let head: String = word.chars().take(2).collect();
        let mut starting = candidates
            .iter()
            .filter(|c| head.chars().count() == 2 && c.to_lowercase().starts_with(&head));
        match (starting.next(), starting.next()) {
            (Some(c), None) => Some(*c),
            _ => None,
        }
    })
}

/// Edit distance counting a swap of neighbours as one edit (optimal string alignment).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

// ---------------------------------------------------------------------------------------------
// Choosing the theme: `--theme NAME|PATH` wins over the config file's `theme = "…"`.

/// The config file: `$XDG_CONFIG_HOME/djtop/config.toml`, else `~/.config/djtop/config.toml`.
pub fn config_path() -> Option<PathBuf> {
    config_path_from(
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// [`config_path`] from given values of `XDG_CONFIG_HOME` and `HOME` (an empty or relative
/// `XDG_CONFIG_HOME` is ignored, as the XDG spec says).
pub fn config_path_from(
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let xdg = xdg_config_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let dir = match xdg {
        Some(dir) => dir,
        None => PathBuf::from(home.filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(dir.join("djtop").join("config.toml"))
}

/// The keys the config file may hold.
pub const CONFIG_KEYS: [&str; 2] = ["theme", "keys"];

/// The `theme` a config file's text names, if any.
pub fn parse_config(text: &str, origin: &str) -> Result<Option<String>> {
    let table = parse_toml(text, origin)?;
    for key in table.keys() {
        if !CONFIG_KEYS.contains(&key.as_str()) {
            bail!(
                "{origin}: `{key}` is not a config key{}",
                match suggest(key, CONFIG_KEYS) {
                    Some(k) => format!(" (did you mean `{k}`?)"),
                    None => format!(" (the keys are: {})", CONFIG_KEYS.join(", ")),
                }
            );
        }
    }
    match table.get("theme") {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => bail!(
            "{origin}: `theme = {v}` must be in quotes: a built-in theme ({}) or a theme file's path",
            builtin_list()
        ),
    }
}

/// The config file's `[keys]` table: action name → keys (docs/keys.md). Empty when the file or
/// the table is absent.
pub fn key_overrides(
    config: Option<&Path>,
) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    let mut out = std::collections::BTreeMap::new();
    let Some(path) = config else { return Ok(out) };
    let origin = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("{origin}: cannot read the config file")),
    };
    let table = parse_toml(&text, &origin)?;
    let Some(keys) = table.get("keys") else {
        return Ok(out);
    };
    let Some(keys) = keys.as_table() else {
        bail!(
            "{origin}: `keys` must be a table: [keys] then lines like filter = [\"/\", \"ctrl-f\"]"
        );
    };
    for (action, value) in keys {
        let list = match value {
            toml::Value::String(k) => vec![k.clone()],
            toml::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .with_context(|| {
                    format!("{origin}: [keys] {action}: keys are strings, e.g. [\"x\", \"ctrl-x\"]")
                })?,
            _ => bail!("{origin}: [keys] {action}: keys are strings, e.g. [\"x\", \"ctrl-x\"]"),
        };
        out.insert(action.clone(), list);
    }
    Ok(out)
}

/// The theme `--theme` (`cli`) or else the config file at `config` names; dark when neither.
/// A missing config file is fine; an unreadable or malformed one is an error.
pub fn choose(cli: Option<&str>, config: Option<&Path>) -> Result<Theme> {
    if let Some(spec) = cli {
        return resolve(spec, None, &format!("--theme {spec}"));
    }
    let Some(path) = config else {
        return Ok(DARK.clone());
    };
    let origin = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DARK.clone()),
        Err(e) => return Err(e).with_context(|| format!("{origin}: cannot read the config file")),
    };
    match parse_config(&text, &origin)? {
        Some(spec) => resolve(
            &spec,
            path.parent(),
            &format!("{origin}: `theme = {spec:?}`"),
        ),
        None => Ok(DARK.clone()),
    }
}

/// A built-in name, or else a theme file's path (relative paths from `relative_to` when given;
/// `~/` is the home directory). `what` says where the value came from, for errors.
pub fn resolve(spec: &str, relative_to: Option<&Path>, what: &str) -> Result<Theme> {
    if let Some(theme) = builtin(spec) {
        return Ok(theme);
    }
    let mut path = PathBuf::from(spec);
    if let (Some(rest), Some(home)) = (spec.strip_prefix("~/"), std::env::var_os("HOME")) {
        path = PathBuf::from(home).join(rest);
    } else if let Some(dir) = relative_to.filter(|_| path.is_relative()) {
        path = dir.join(path);
    }
    if path.is_file() {
        return Theme::load(&path);
    }
    let looks_like_path = spec.contains(['/', '\\']) || spec.ends_with(".toml");
    if looks_like_path {
        bail!(
            "{what}: no theme file at {}: check the path, or use a built-in theme: {}",
            path.display(),
            builtin_list()
        );
    }
    bail!(
        "{what}: no built-in theme or theme file named `{spec}`: use {} or a theme file's path{}",
        builtin_list(),
        did_you_mean(spec, BUILTINS.iter().map(|(n, _)| *n))
    )
}

#[cfg(test)]
#[path = "ui/theme_tests.rs"]
mod theme_tests;
