//! Opening a file at a line in the user's editor: `$VISUAL`, then `$EDITOR`, then `vi`, with the
//! line syntax of its family.

use std::path::Path;

/// The editor the user asked for, as a program and its arguments.
pub fn configured() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned())
}

/// Whether the editor runs in this terminal (so the TUI must step aside until it exits).
pub fn is_terminal_editor(editor: &str) -> bool {
    !matches!(
        program(editor),
        "code"
            | "code-insiders"
            | "codium"
            | "vscodium"
            | "cursor"
            | "windsurf"
            | "zed"
            | "zeditor"
            | "subl"
            | "sublime_text"
    )
}

#[derive(Debug, PartialEq, Eq)]
enum Family {
    /// vim, nvim, vi, nano, emacs, micro, kak…: `+LINE FILE`
    PlusLine,
    /// VS Code and its forks: `--goto FILE:LINE`
    Goto,
    /// helix, zed, subl: `FILE:LINE`
    Colon,
}

fn program(editor: &str) -> &str {
    let first = editor.split_whitespace().next().unwrap_or(editor);
    first.rsplit('/').next().unwrap_or(first)
}

fn family(editor: &str) -> Family {
    match program(editor) {
        "code" | "code-insiders" | "codium" | "vscodium" | "cursor" | "windsurf" => Family::Goto,
        "hx" | "helix" | "zed" | "zeditor" | "subl" | "sublime_text" => Family::Colon,
        _ => Family::PlusLine,
    }
}

/// The full command line: the editor's own words (`code --wait`), then the location.
pub fn command(editor: &str, file: &Path, line: u32) -> Vec<String> {
    let mut argv: Vec<String> = editor.split_whitespace().map(str::to_owned).collect();
    let file = file.display().to_string();
    match family(editor) {
        Family::PlusLine => {
            argv.push(format!("+{line}"));
            argv.push(file);
        }
        Family::Goto => {
            argv.push("--goto".to_owned());
            argv.push(format!("{file}:{line}"));
        }
        Family::Colon => argv.push(format!("{file}:{line}")),
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(editor: &str) -> String {
        command(editor, Path::new("/p/blog/views.py"), 27).join(" ")
    }

    #[test]
    fn each_family_gets_its_line_syntax() {
        for e in [
            "vim",
            "nvim",
            "/usr/bin/vi",
            "nano",
            "emacs -nw",
            "emacsclient -t",
            "micro",
            "kak",
        ] {
            assert!(cmd(e).ends_with("+27 /p/blog/views.py"), "{e}: {}", cmd(e));
        }
        assert_eq!(cmd("code --wait"), "code --wait --goto /p/blog/views.py:27");
        assert_eq!(cmd("codium"), "codium --goto /p/blog/views.py:27");
        for e in ["hx", "helix", "zed", "subl"] {
            assert_eq!(cmd(e), format!("{e} /p/blog/views.py:27"));
        }
    }

    #[test]
    fn terminal_editors_take_over_the_terminal() {
        assert!(is_terminal_editor("nvim"));
        assert!(is_terminal_editor("hx"));
        assert!(!is_terminal_editor("code --wait"));
        assert!(!is_terminal_editor("subl"));
    }
}
