//! Loading a recording: `djtop::record::load` of a generated file of 1,000,000 N+1 queries,
//! against the same lines parsed only, to show where the time goes.
//!
//! `cargo bench --bench load`. Sizes scale with DJTOP_BENCH_SCALE.

mod common;

use common::{lines, median_of, rates, recording_wire, report, scaled, Shape, Wire};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    for (shape, wire) in [
        (Shape::LazyFk, Wire::V2),
        (Shape::GetPerRow, Wire::V2),
        (Shape::LazyFk, Wire::V1),
        (Shape::GetPerRow, Wire::V1),
    ] {
        let name = format!("{}{}", shape.name(), wire.suffix());
        // 4,000 requests of 1 + 249 queries.
        let (bytes, gen) = recording_wire(0, scaled(4000), 249, shape, wire);
        let path = dir.path().join(format!("{name}.ndjson"));
        std::fs::write(&path, &bytes).unwrap();
        let queries = gen.queries as f64;
        let mb = bytes.len() as f64 / 1e6;

        let (t, store) = median_of(3, true, || djtop::record::load(&path).unwrap());
        assert_eq!(store.queries.len() as f64, queries);
        assert_eq!(store.malformed, 0);
        drop(store);
        let (cpu, wall) = rates(queries, t);
        report(
            &format!("load.record_load.{name}"),
            cpu,
            Some(wall),
            "queries/s",
            &format!(
                "djtop::record::load, {queries} queries, {mb:.0} MB file (page cache), median of 3: {:.2} s CPU",
                t.cpu.as_secs_f64()
            ),
        );

        let (t, n) = median_of(3, false, || {
            lines(&bytes)
                .filter(|l| djtop::protocol::parse_line(l).is_ok())
                .count()
        });
        assert_eq!(n as u64, gen.events);
        let (cpu, wall) = rates(queries, t);
        report(
            &format!("load.parse_only.{name}"),
            cpu,
            Some(wall),
            "queries/s",
            &format!(
                "parse_line alone over the same bytes: {:.2} s CPU",
                t.cpu.as_secs_f64()
            ),
        );
    }
}
