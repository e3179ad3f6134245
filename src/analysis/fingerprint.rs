//! SQL fingerprints: two statements that differ only in literal values share one.
//!
//! Literals, numbers and placeholders (`%s`, `$1`, `?`, `:name`) become `?`; lists of them of any
//! length (`IN (1, 2, 3)`, multi-row `VALUES`) collapse to `(...)`; whitespace is folded and
//! bare words are lower-cased, while quoted identifiers keep their case. One linear pass plus one
//! collapse pass: it runs once per distinct SQL text.

/// The fingerprint of `sql`.
pub fn fingerprint(sql: &str) -> String {
    collapse_lists(&normalise(sql))
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn normalise(sql: &str) -> String {
    let s = sql.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut pending_space = false;
    let mut i = 0;

    // Append a token, with one space before it only where two word-like tokens meet.
    fn push(out: &mut Vec<u8>, pending_space: &mut bool, token: &[u8]) {
        if *pending_space {
            if let (Some(&last), Some(&first)) = (out.last(), token.first()) {
                let wordish = |b: u8| is_word_byte(b) || matches!(b, b'?' | b'"' | b'`' | b'\'');
                if wordish(last) && wordish(first) {
                    out.push(b' ');
                }
            }
            *pending_space = false;
        }
        out.extend_from_slice(token);
    }

    while i < s.len() {
        let b = s[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                pending_space = true;
                i += 1;
            }
            b'\'' => {
                // String literal; '' is an escaped quote, backslash escapes (MySQL) too.
                i += 1;
                while i < s.len() {
                    match s[i] {
                        b'\\' => i += 2,
                        b'\'' if s.get(i + 1) == Some(&b'\'') => i += 2,
                        b'\'' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                push(&mut out, &mut pending_space, b"?");
            }
            b'"' | b'`' => {
                let start = i;
                i += 1;
                while i < s.len() && s[i] != b {
                    i += 1;
                }
                i = (i + 1).min(s.len());
                push(&mut out, &mut pending_space, &s[start..i]);
            }
            b'%' if s.get(i + 1) == Some(&b's') => {
                push(&mut out, &mut pending_space, b"?");
                i += 2;
            }
            b'%' if s.get(i + 1) == Some(&b'(') => {
                // pyformat: %(name)s
                let mut j = i + 2;
                while j < s.len() && s[j] != b')' {
                    j += 1;
                }
                i = (j + 2).min(s.len());
                push(&mut out, &mut pending_space, b"?");
            }
            b'$' if s.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                while i < s.len() && s[i].is_ascii_digit() {
                    i += 1;
                }
                push(&mut out, &mut pending_space, b"?");
            }
            b':' if s
                .get(i + 1)
                .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
                && out.last() != Some(&b':') =>
            {
                i += 1;
                while i < s.len() && is_word_byte(s[i]) {
                    i += 1;
                }
                push(&mut out, &mut pending_space, b"?");
            }
            b'0'..=b'9' => {
                while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'.') {
                    i += 1;
                }
                push(&mut out, &mut pending_space, b"?");
            }
            _ if is_word_byte(b) => {
                let start = i;
                while i < s.len() && (is_word_byte(s[i]) || s[i] == b'$') {
                    i += 1;
                }
                let word = s[start..i].to_ascii_lowercase();
                push(&mut out, &mut pending_space, &word);
            }
            _ => {
                push(&mut out, &mut pending_space, &[b]);
                i += 1;
            }
        }
    }
    // Only ASCII was changed and multibyte sequences were copied whole.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `(?,?,?)` → `(...)`, then `(...),(...)` → `(...)`.
fn collapse_lists(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'(' {
            if let Some(end) = placeholder_list_end(b, i) {
                // Swallow following `,(?,...)` tuples too (multi-row VALUES).
                let mut j = end;
                while j < b.len() && b[j] == b',' {
                    match placeholder_list_end(b, j + 1) {
                        Some(e) => j = e,
                        None => break,
                    }
                }
                out.push_str("(...)");
                i = j;
                continue;
            }
        }
        let ch = s[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// If `b[start..]` is `(?,?,...)` return the index after `)`.
fn placeholder_list_end(b: &[u8], start: usize) -> Option<usize> {
    if b.get(start) != Some(&b'(') {
        return None;
    }
    let mut i = start + 1;
    loop {
        if b.get(i) != Some(&b'?') {
            return None;
        }
        i += 1;
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b')') => return Some(i + 1),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint as fp;

    #[test]
    fn literals_and_placeholders_become_question_marks() {
        assert_eq!(
            fp(r#"SELECT "a"."id" FROM "a" WHERE "a"."id" = %s LIMIT 21"#),
            r#"select "a"."id" from "a" where "a"."id"=? limit ?"#
        );
        assert_eq!(
            fp("select * from t where x = 'it''s' and y = $2"),
            "select*from t where x=? and y=?"
        );
        assert_eq!(fp("SELECT :name, %(x)s, 1.5e3"), "select ?,?,?");
        assert_eq!(fp("SELECT x::text FROM t"), "select x::text from t");
    }

    #[test]
    fn in_lists_of_any_length_group_together() {
        assert_eq!(
            fp("SELECT * FROM t WHERE id IN (1,2,3)"),
            fp("select * from t where id in (4, 5)")
        );
        assert_eq!(
            fp("SELECT * FROM t WHERE id IN (%s)"),
            "select*from t where id in(...)"
        );
    }

    #[test]
    fn values_tuples_collapse() {
        assert_eq!(
            fp("INSERT INTO t (a, b) VALUES (%s, %s), (%s, %s), (%s, %s)"),
            fp("insert into t (a,b) values (1, 'x')")
        );
    }

    #[test]
    fn whitespace_and_keyword_case_are_folded_but_quoted_names_kept() {
        assert_eq!(fp("SELECT  a\n  FROM\tt"), fp("select a from t"));
        assert_ne!(fp(r#"SELECT "A" FROM t"#), fp(r#"SELECT "a" FROM t"#));
    }

    #[test]
    fn different_shapes_stay_apart() {
        assert_ne!(
            fp("SELECT a FROM t WHERE b = 1"),
            fp("SELECT a FROM t WHERE c = 1")
        );
        assert_ne!(fp("SELECT a FROM t"), fp("SELECT a FROM u"));
    }

    #[test]
    fn unicode_survives() {
        assert_eq!(
            fp("SELECT \"café\" FROM t WHERE n = 'é'"),
            "select \"café\" from t where n=?"
        );
    }
}
