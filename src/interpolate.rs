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
            // The shim sends only the length of binary params.
            Some(n) => format!("NULL /* {n} bytes, not captured */"),
            None => quote(&Value::Object(o.clone()).to_string(), vendor),
        },
    }
}

fn quote(s: &str, vendor: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            // MySQL reads backslash escapes inside string literals by default.
            '\\' if is_mysql(vendor) => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
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
}
