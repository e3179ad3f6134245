//! SQL with its params written in, per vendor, so a copied query runs as-is in psql, sqlite3
//! or mysql. Params arrive JSON-safe (docs/protocol.md); each becomes a literal of the vendor.

use serde_json::Value;

/// `sql` with its `%s` / `%(name)s` placeholders replaced by literals. Without params the SQL
/// is returned unchanged (drivers do no `%` processing then).
pub fn interpolate(sql: &str, params: &Value, vendor: &str) -> String {
    let (list, named) = match params {
        Value::Array(a) => (Some(a.as_slice()), None),
        Value::Object(o) if !o.contains_key("$bytes") => (None, Some(o)),
        _ => return sql.to_owned(),
    };
    let mut out = String::with_capacity(sql.len() + 32);
    let mut next = 0usize;
    let mut rest = sql;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("%%") {
            out.push('%');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("%s") {
            match list.and_then(|l| l.get(next)) {
                Some(v) => out.push_str(&literal(v, vendor)),
                None => out.push_str("%s"),
            }
            next += 1;
            rest = after;
        } else if let Some((name, after)) = tail.strip_prefix("%(").and_then(|t| t.split_once(")s"))
        {
            match named.and_then(|n| n.get(name)) {
                Some(v) => out.push_str(&literal(v, vendor)),
                None => out.push_str(&tail[..name.len() + 4]),
            }
            rest = after;
        } else {
            out.push('%');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

fn is_postgres(vendor: &str) -> bool {
    vendor.starts_with("postgres")
}

fn is_mysql(vendor: &str) -> bool {
    vendor == "mysql" || vendor == "mariadb"
}

/// One value as a SQL literal of `vendor`.
pub fn literal(v: &Value, vendor: &str) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => match (is_postgres(vendor), b) {
            (true, true) => "TRUE".into(),
            (true, false) => "FALSE".into(),
            (false, true) => "1".into(),
            (false, false) => "0".into(),
        },
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s, vendor),
        Value::Array(items) if is_postgres(vendor) => format!(
            "ARRAY[{}]",
            items
                .iter()
                .map(|i| literal(i, vendor))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(items) => format!(
            "({})",
            items
                .iter()
                .map(|i| literal(i, vendor))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(o) => match o.get("$bytes") {
            // The shim sends only the length of binary params. Only a number is written into
            // the comment: any other value could close it and append statements.
            Some(Value::Number(n)) if n.is_u64() => format!("NULL /* {n} bytes, not captured */"),
            Some(_) => "NULL".into(),
            None => quote(&Value::Object(o.clone()).to_string(), vendor),
        },
    }
}

/// Characters that must not reach a terminal or a clipboard raw (shared by the TUI and the
/// text reports): C0 controls but tab and
/// newline, DEL, C1 controls (U+009B is a CSI), and the bidirectional overrides and isolates
/// that make pasted text read otherwise than it runs.
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\t' && c != '\n')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A string literal of `vendor`. Unsafe characters (see [`is_unsafe`]) are written as the
/// vendor's character function joined to the quoted runs around them, so the value stays
/// exact and the text stays printable: `'a' || char(27) || 'b'` (SQLite), `chr(27)`
/// (PostgreSQL), `CONCAT('a', CHAR(27 USING utf8mb4), 'b')` (MySQL / MariaDB).
fn quote(s: &str, vendor: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run = String::with_capacity(s.len() + 2);
    run.push('\'');
    for c in s.chars() {
        match c {
            '\'' => run.push_str("''"),
            // MySQL reads backslash escapes inside string literals by default.
            '\\' if is_mysql(vendor) => run.push_str("\\\\"),
            c if is_unsafe(c) => {
                if run.len() > 1 {
                    run.push('\'');
                    parts.push(std::mem::replace(&mut run, "'".to_owned()));
                }
                let code = c as u32;
                parts.push(if is_postgres(vendor) {
                    format!("chr({code})")
                } else if is_mysql(vendor) {
                    format!("CHAR({code} USING utf8mb4)")
                } else {
                    format!("char({code})")
                });
            }
            c => run.push(c),
        }
    }
    if parts.is_empty() || run.len() > 1 {
        run.push('\'');
        parts.push(run);
    }
    match parts.len() {
        1 => parts.pop().unwrap_or_default(),
        _ if is_mysql(vendor) => format!("CONCAT({})", parts.join(", ")),
        _ => format!("({})", parts.join(" || ")),
    }
}

/// `text` with every [`is_unsafe`] character written as a `\u{…}` escape (text reports).
pub fn escape_unsafe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn positional_params_become_literals() {
        let sql = r#"SELECT * FROM t WHERE id = %s AND name = %s AND ok = %s AND x IS %s AND pct LIKE '10%%'"#;
        let p = json!([7, "O'Brien", true, null]);
        assert_eq!(
            interpolate(sql, &p, "sqlite"),
            "SELECT * FROM t WHERE id = 7 AND name = 'O''Brien' AND ok = 1 AND x IS NULL AND pct LIKE '10%'"
        );
        assert_eq!(
            interpolate(sql, &p, "postgresql"),
            "SELECT * FROM t WHERE id = 7 AND name = 'O''Brien' AND ok = TRUE AND x IS NULL AND pct LIKE '10%'"
        );
    }

    #[test]
    fn mysql_escapes_backslashes() {
        assert_eq!(
            interpolate("SELECT %s", &json!([r"a\b"]), "mysql"),
            r"SELECT 'a\\b'"
        );
        assert_eq!(
            interpolate("SELECT %s", &json!([r"a\b"]), "postgresql"),
            r"SELECT 'a\b'"
        );
    }

    #[test]
    fn named_params_and_no_params() {
        assert_eq!(
            interpolate("SELECT %(a)s, %(b)s", &json!({"a": 1, "b": "x"}), "sqlite"),
            "SELECT 1, 'x'"
        );
        assert_eq!(
            interpolate("SELECT '%s'", &Value::Null, "sqlite"),
            "SELECT '%s'"
        );
    }

    #[test]
    fn arrays_and_bytes() {
        assert_eq!(literal(&json!([1, 2]), "postgresql"), "ARRAY[1, 2]");
        assert_eq!(
            literal(&json!({"$bytes": 4}), "sqlite"),
            "NULL /* 4 bytes, not captured */"
        );
    }

    #[test]
    fn a_crafted_bytes_param_cannot_close_the_comment() {
        let p = json!([{"$bytes": "0 */; DROP TABLE accounts_user; --"}, {"$bytes": -1}]);
        let sql = interpolate("SELECT %s, %s", &p, "postgresql");
        assert_eq!(sql, "SELECT NULL, NULL");
        // Any other object is a quoted JSON string: its `*/` stays inside the literal.
        let p = json!([{"a": "*/ DROP TABLE t; --'"}]);
        assert_eq!(
            interpolate("SELECT %s", &p, "sqlite"),
            r#"SELECT '{"a":"*/ DROP TABLE t; --''"}'"#
        );
    }

    #[test]
    fn control_and_bidi_characters_never_reach_the_clipboard_raw() {
        let v = json!("a\u{1b}]52;c;x\u{7}b\u{9b}c\u{202e}d\te\nf");
        assert_eq!(
            literal(&v, "sqlite"),
            "('a' || char(27) || ']52;c;x' || char(7) || 'b' || char(155) || 'c' || char(8238) || 'd\te\nf')"
        );
        assert_eq!(literal(&json!("\u{1b}"), "postgresql"), "chr(27)");
        assert_eq!(
            literal(&json!("x\u{7}"), "mysql"),
            "CONCAT('x', CHAR(7 USING utf8mb4))"
        );
        assert_eq!(literal(&json!("plain"), "sqlite"), "'plain'");
        assert_eq!(literal(&json!(""), "sqlite"), "''");
    }
}
