//! `y` copies SQL with its params written in. Copied SQL must run as-is where users paste it,
//! the `sqlite3` and `psql` command-line clients, and return exactly the rows the database
//! returns for the same statement with bound params (through a real driver).

use std::process::Command;

use djtop::interpolate::interpolate;
use serde_json::{json, Value};

/// A statement as Django sends it (`%s` placeholders) and awkward params.
const SQL: &str = "SELECT id, name FROM yank_t WHERE id >= %s AND name <> %s AND ok = %s \
                   AND score < %s AND (note = %s OR note IS NULL) AND name LIKE %s ORDER BY id";

fn params() -> Value {
    json!([2, "O'Brien \\ \"quoted\"", true, 100.5, null, "%é%"])
}

const ROWS: &[(i64, &str, bool, f64, Option<&str>)] = &[
    (1, "first é", true, 1.0, None),
    (2, "O'Brien \\ \"quoted\"", true, 2.0, None),
    (3, "café 100%", true, 3.5, Some("n")),
    (4, "thé", true, 4.25, None),
    (5, "résumé", false, 5.0, None),
    (6, "né", true, 99.0, None),
];

/// Driver-side SQL: the vendor's own placeholders.
fn numbered(sql: &str, prefix: &str) -> String {
    let mut out = String::new();
    for (i, part) in sql.split("%s").enumerate() {
        if i > 0 {
            out.push_str(&format!("{prefix}{i}"));
        }
        out.push_str(part);
    }
    out
}

fn cli(cmd: &mut Command) -> Vec<String> {
    let out = cmd.output().expect("run the client");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn yanked_sql_runs_in_sqlite3_with_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("y.sqlite3");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE yank_t (id INTEGER PRIMARY KEY, name TEXT, ok BOOL, score REAL, note TEXT)",
    )
    .unwrap();
    for (id, name, ok, score, note) in ROWS {
        conn.execute(
            "INSERT INTO yank_t VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![id, name, ok, score, note],
        )
        .unwrap();
    }
    let p = params();
    let bound: Vec<String> = conn
        .prepare(&numbered(SQL, "?"))
        .unwrap()
        .query_map(
            rusqlite::params![2, p[1].as_str(), true, 100.5, None::<String>, "%é%"],
            |r| {
                Ok(format!(
                    "{}|{}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?
                ))
            },
        )
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(conn);
    assert_eq!(bound.len(), 2, "the fixture selects something: {bound:?}");

    let pasted = interpolate(SQL, &p, "sqlite");
    let rows = cli(Command::new("sqlite3").arg(&db).arg(format!("{pasted};")));
    assert_eq!(rows, bound, "pasted: {pasted}");
}

#[test]
fn yanked_sql_runs_in_psql_with_the_same_rows() {
    let url = "host=127.0.0.1 port=5432 user=postgres dbname=test";
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap_or_else(|e| {
        panic!("PostgreSQL must run on 127.0.0.1:5432 for this test (make test starts it): {e}")
    });
    let table = format!("yank_t_{}", std::process::id());
    let sql = SQL.replace("yank_t", &table);
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id bigint PRIMARY KEY, name text, ok boolean, score float8, note text)"
        ))
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for (id, name, ok, score, note) in ROWS {
            client
                .execute(
                    &format!("INSERT INTO {table} VALUES ($1, $2, $3, $4, $5)"),
                    &[id, name, ok, score, note],
                )
                .unwrap();
        }
        let p = params();
        let name = p[1].as_str().unwrap();
        let bound: Vec<String> = client
            .query(
                &numbered(&sql, "$"),
                &[&2i64, &name, &true, &100.5f64, &None::<&str>, &"%é%"],
            )
            .unwrap()
            .iter()
            .map(|r| format!("{}|{}", r.get::<_, i64>(0), r.get::<_, String>(1)))
            .collect();
        assert_eq!(bound.len(), 2, "the fixture selects something: {bound:?}");
        let pasted = interpolate(&sql, &p, "postgresql");
        let rows = cli(Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
            ])
            .arg(format!("{pasted};")));
        assert_eq!(rows, bound, "pasted: {pasted}");
    }));
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// A param holding terminal controls (an OSC 52 clipboard write, BEL, a C1 CSI) and a bidi
/// override: the copied SQL carries none of them raw, and still selects exactly that string.
#[test]
fn control_characters_are_written_as_functions_that_give_back_the_same_string() {
    let value = "a\u{1b}]52;c;eA==\u{7}b\u{9b}c\u{202e}d'e";
    let hex: String = value.bytes().map(|b| format!("{b:02X}")).collect();
    let p = json!([value]);

    let pasted = interpolate("SELECT hex(%s)", &p, "sqlite");
    assert!(
        !pasted.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{pasted:?}"
    );
    let rows = cli(Command::new("sqlite3")
        .arg(":memory:")
        .arg(format!("{pasted};")));
    assert_eq!(rows, vec![hex.clone()], "pasted: {pasted}");

    let pasted = interpolate(
        "SELECT upper(encode(convert_to(%s, 'UTF8'), 'hex'))",
        &p,
        "postgresql",
    );
    assert!(
        !pasted.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{pasted:?}"
    );
    let rows = cli(Command::new("psql").args([
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        "test",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        &pasted,
    ]));
    assert_eq!(rows, vec![hex], "pasted: {pasted}");
}
