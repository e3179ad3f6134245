//! Source lines around a frame, read from disk relative to the project root the shim reported,
//! cached per file (and highlighted snippets per line), so redraws never touch the disk again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ratatui::text::Line;

/// Lines shown above and below the frame's line.
pub const CONTEXT: u32 = 3;

#[derive(Default)]
pub struct Sources {
    files: HashMap<PathBuf, Result<Rc<Vec<String>>, String>>,
    snippets: HashMap<(PathBuf, u32, bool), Rc<Vec<Line<'static>>>>,
}

/// Where a frame's file is on this machine: relative paths are under the project root.
pub fn resolve(root: Option<&str>, file: &str) -> PathBuf {
    let path = Path::new(file);
    match root {
        Some(root) if path.is_relative() => Path::new(root).join(path),
        _ => path.to_path_buf(),
    }
}

impl Sources {
    pub fn file(&mut self, path: &Path) -> Result<Rc<Vec<String>>, String> {
        self.files
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                std::fs::read_to_string(path)
                    .map(|text| Rc::new(text.lines().map(str::to_owned).collect()))
                    .map_err(|e| format!("{}: {e}", path.display()))
            })
            .clone()
    }

    /// The highlighted lines `line ± CONTEXT` (1-based), or why they cannot be shown.
    pub fn snippet(
        &mut self,
        path: &Path,
        line: u32,
        color: bool,
    ) -> Result<(u32, Rc<Vec<Line<'static>>>), String> {
        let lines = self.file(path)?;
        if line == 0 || line as usize > lines.len() {
            return Err(format!(
                "{} has {} lines, not {line}: the file changed since the query ran",
                path.display(),
                lines.len()
            ));
        }
        let first = line.saturating_sub(CONTEXT).max(1);
        let last = (line + CONTEXT).min(lines.len() as u32);
        let key = (path.to_path_buf(), line, color);
        if let Some(s) = self.snippets.get(&key) {
            return Ok((first, s.clone()));
        }
        let text = lines[first as usize - 1..last as usize].join("\n");
        let highlighted = Rc::new(crate::highlight::highlight(&text, "py", color));
        // Plain text until the highlighter has loaded: cache only the real thing.
        if !color || crate::highlight::is_loaded() {
            self.snippets.insert(key, highlighted.clone());
        }
        Ok((first, highlighted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_frames_resolve_under_the_root() {
        assert_eq!(
            resolve(Some("/srv/app"), "blog/views.py"),
            PathBuf::from("/srv/app/blog/views.py")
        );
        assert_eq!(
            resolve(Some("/srv/app"), "/opt/lib/x.py"),
            PathBuf::from("/opt/lib/x.py")
        );
        assert_eq!(
            resolve(None, "blog/views.py"),
            PathBuf::from("blog/views.py")
        );
    }

    #[test]
    fn snippet_is_the_line_with_context_and_errors_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.py");
        std::fs::write(
            &path,
            (1..=10)
                .map(|i| format!("line{i}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .unwrap();
        let mut s = Sources::default();
        let (first, lines) = s.snippet(&path, 2, false).unwrap();
        assert_eq!(first, 1);
        assert_eq!(lines.len(), 5);
        assert!(s.snippet(&path, 40, false).unwrap_err().contains("changed"));
        assert!(s.snippet(&dir.path().join("gone.py"), 1, false).is_err());
    }
}
