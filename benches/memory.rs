//! Store memory per query: a counting global allocator measures the heap the Store holds after
//! 1,000,000 N+1 queries (bytes requested, so malloc's own rounding is not in it; the RSS growth
//! is printed alongside), minus the unique SQL texts and stacks.
//!
//! `cargo bench --bench memory`. Sizes scale with DJTOP_BENCH_SCALE.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::{lines, report, scaled, Gen, Shape, Wire};
use djtop::protocol::parse_line;
use djtop::store::{Query, Store};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn measure(shape: Shape, wire: Wire, requests: usize, n: usize) {
    let name = format!("{}{}", shape.name(), wire.suffix());
    let rss0 = rss_bytes();
    let before = live();
    let mut store = Store::new();
    let mut gen = Gen::with_wire(0, wire);
    let mut buf = Vec::with_capacity((n + 3) * 600);
    gen.hello(&mut buf);
    for _ in 0..requests {
        gen.request(&mut buf, n, shape);
        for l in lines(&buf) {
            store.apply(parse_line(l).unwrap());
        }
        buf.clear();
    }
    let buf_cap = buf.capacity() as isize;
    let held = live() - before - buf_cap;
    let rss = rss_bytes().saturating_sub(rss0);
    let queries = store.queries.len();
    assert_eq!(queries as u64, gen.queries);

    // What is shared and excluded: each unique SQL text and stack once.
    let mut sql_ids = std::collections::HashSet::new();
    let mut stack_ids = std::collections::HashSet::new();
    let mut unique = 0usize;
    for q in &store.queries {
        if sql_ids.insert(q.sql) {
            unique += store.sql(q).len();
        }
        if stack_ids.insert(q.stack) {
            unique += store
                .stack(q)
                .iter()
                .map(|f| f.file().len() + f.function().len() + 8)
                .sum::<usize>();
        }
    }
    let per_query = (held as f64 - unique as f64) / queries as f64;
    // Parts that can be named from outside the store.
    let rows = store.queries.capacity() * std::mem::size_of::<Query>();
    let ids: usize = store
        .requests
        .iter()
        .map(|r| r.queries.capacity() * std::mem::size_of::<usize>())
        .sum();
    let params: usize = store.queries.iter().map(|q| q.params.len()).sum();
    let lookups: usize = store
        .queries
        .iter()
        .map(|q| q.orm_lookups.as_ref().map_or(0, |l| l.len()))
        .sum();
    report(
        &format!("memory.per_query.{name}"),
        per_query,
        None,
        "bytes",
        &format!(
            "{queries} queries in {} requests; heap held {:.1} MB, RSS +{:.1} MB; Query row {} B \
             (Vec capacity {:.1} B/query), request id lists {:.1} B/query, params text {:.1} \
             B/query, orm lookups text {:.1} B/query, rest (interners, maps) {:.1} B/query; unique \
             SQL+stacks {} B excluded",
            store.requests.len(),
            held as f64 / 1e6,
            rss as f64 / 1e6,
            std::mem::size_of::<Query>(),
            rows as f64 / queries as f64,
            ids as f64 / queries as f64,
            params as f64 / queries as f64,
            lookups as f64 / queries as f64,
            (held as f64
                - unique as f64
                - rows as f64
                - ids as f64
                - params as f64
                - lookups as f64)
                / queries as f64,
            unique,
        ),
    );
    drop(store);
}

fn main() {
    // 4,000 requests of 1 + 249 queries = 1,000,000 queries.
    measure(Shape::LazyFk, Wire::V2, scaled(4000), 249);
    measure(Shape::GetPerRow, Wire::V2, scaled(4000), 249);
    measure(Shape::LazyFk, Wire::V1, scaled(4000), 249);
    measure(Shape::GetPerRow, Wire::V1, scaled(4000), 249);
}
