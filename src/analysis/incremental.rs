//! The analysis of one request, kept up to date as its queries arrive.
//!
//! A request's queries are only ever appended (`Store::apply` pushes to `Request::queries`;
//! nothing rewrites a stored query), so every rule here keeps accumulators — duplicate groups by
//! (SQL id, params), similar groups by fingerprint id, call sites, relation groups by interned
//! `rel`, `get(pk=…)` and INSERT groups — that [`RequestAnalysis::update`] extends from the last
//! analysed query. [`RequestAnalysis::summary`], [`RequestAnalysis::findings`] and
//! [`RequestAnalysis::callsites`] are views over the accumulators: their cost is in the number
//! of groups and of the members they list, not in re-reading the request.
//!
//! What can change besides appends: the store can be cleared (`c`) or replaced, after which the
//! request id names another request; [`RequestAnalysis::update`] notices (the last analysed
//! query is no longer where it was) and starts over. Request fields that arrive with `end`
//! (`is_async`) and process fields (`models`) are read when the findings are built, not
//! accumulated, so they are always current.
//!
//! The per-query work is a handful of `u32`-keyed lookups (each short-circuited by a one-entry
//! cache, because an N+1 repeats one SQL text, stack and `rel`) and one hash of the params text;
//! no allocation except amortised pushes.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHasher};

use super::findings::{self, Kinds, RelGroup, RelKey};
use super::{Callsite, Config, Finding, Group, Summary};
use crate::protocol::Frame;
use crate::store::{Query, QueryId, RequestId, Store};

const NONE: u32 = u32::MAX;
/// A `dup_index` value naming the request position of a statement seen once (no group yet).
const SINGLE: u32 = 1 << 31;

/// Bits of the duplicate-key hash used; the tests keep 4 so that different statements collide
/// all the time and the collision chains are exercised.
#[cfg(not(test))]
const HASH_MASK: u32 = u32::MAX;
#[cfg(test)]
const HASH_MASK: u32 = 0xF;

/// What the rules need to know about one SQL text, looked up once per distinct text.
#[derive(Debug, Clone, Copy)]
struct SqlInfo {
    /// Index into [`RequestAnalysis::similar`].
    similar: u32,
    insert: bool,
    transaction: bool,
}

#[derive(Debug, Clone)]
struct Tally {
    count: u32,
    ms: f64,
}

/// Queries with the same SQL and params, made when a second one (or a colliding key) arrives.
/// Members are a chain of request positions (`dup_next`), so a request of 100,000 distinct
/// statements allocates no list per statement.
#[derive(Debug, Clone)]
struct DupGroup {
    /// First member's request position (its SQL and params are the group's).
    first: u32,
    last: u32,
    count: u32,
    /// The next group whose key has the same (32-bit) hash.
    collide: u32,
}

/// Members of a (model, fingerprint, call site) or (fingerprint, call site) group.
#[derive(Debug, Clone)]
struct Keyed {
    model: u32,
    frame: u32,
    members: Vec<QueryId>,
    ms: f64,
    /// Not every member has the first member's params.
    distinct: bool,
}

#[derive(Debug, Clone)]
struct Site {
    members: Vec<QueryId>,
    ms: f64,
}

/// Accumulated analysis of the first [`RequestAnalysis::analysed`] queries of one request.
#[derive(Debug, Clone)]
pub struct RequestAnalysis {
    request: RequestId,
    done: usize,
    /// The last analysed query (id, qid): if the store no longer has it there, start over.
    last: Option<(QueryId, u64)>,

    sql: FxHashMap<u32, SqlInfo>,
    last_sql: (u32, SqlInfo),

    similar: Vec<Tally>,
    similar_index: FxHashMap<u32, u32>,
    similar_queries: usize,

    /// 32-bit hash of (SQL id, params) → the first group with that hash, or (`SINGLE`) the
    /// position of the one statement seen with it (a small table: 100,000 distinct statements
    /// are common, in an N+1).
    dup_index: FxHashMap<u32, u32>,
    dups: Vec<DupGroup>,
    /// Per request position: the next member of its duplicate group (`NONE`: the last).
    dup_next: Vec<u32>,
    /// Duplicate groups with two members or more (in the order they got their second).
    dup_multi: Vec<u32>,
    duplicate_queries: usize,

    /// Stack id → index of its innermost frame in `frames` (= its call site).
    frame_of_stack: FxHashMap<u32, u32>,
    last_stack: (u32, u32),
    frames: Vec<Option<Frame>>,
    frame_index: HashMap<Option<Frame>, u32>,
    sites: Vec<Site>,

    /// Rel id → relation group (`NONE`: a single object's loads, no group).
    rel_group: FxHashMap<u32, u32>,
    last_rel: (u32, u32),
    kinds: Kinds,
    rel_index: HashMap<RelKey, u32>,
    rels: Vec<RelGroup>,

    model_index: FxHashMap<Box<str>, u32>,
    models: Vec<Box<str>>,
    gets_index: FxHashMap<(u32, u32, u32), u32>,
    gets: Vec<Keyed>,
    writes_index: FxHashMap<(u32, u32), u32>,
    writes: Vec<Keyed>,
}

const NO_SQL: (u32, SqlInfo) = (
    NONE,
    SqlInfo {
        similar: NONE,
        insert: false,
        transaction: false,
    },
);

impl RequestAnalysis {
    /// Nothing analysed yet; [`Self::update`] reads the request's queries.
    pub fn new(request: RequestId) -> Self {
        Self {
            request,
            done: 0,
            last: None,
            sql: FxHashMap::default(),
            last_sql: NO_SQL,
            similar: Vec::new(),
            similar_index: FxHashMap::default(),
            similar_queries: 0,
            dup_index: FxHashMap::default(),
            dups: Vec::new(),
            dup_next: Vec::new(),
            dup_multi: Vec::new(),
            duplicate_queries: 0,
            frame_of_stack: FxHashMap::default(),
            last_stack: (NONE, NONE),
            frames: Vec::new(),
            frame_index: HashMap::new(),
            sites: Vec::new(),
            rel_group: FxHashMap::default(),
            last_rel: (NONE, NONE),
            kinds: Kinds::new(),
            rel_index: HashMap::new(),
            rels: Vec::new(),
            model_index: FxHashMap::default(),
            models: Vec::new(),
            gets_index: FxHashMap::default(),
            gets: Vec::new(),
            writes_index: FxHashMap::default(),
            writes: Vec::new(),
        }
    }

    pub fn request(&self) -> RequestId {
        self.request
    }

    /// How many of the request's queries (a prefix, in execution order) are analysed.
    pub fn analysed(&self) -> usize {
        self.done
    }

    /// Queries of the request not analysed yet (all of them if the store changed under us).
    pub fn pending(&self, store: &Store) -> usize {
        let total = store
            .requests
            .get(self.request)
            .map_or(0, |r| r.queries.len());
        if self.is_current(store) {
            total - self.done
        } else {
            total
        }
    }

    /// The analysed queries are still the request's first ones in this store.
    fn is_current(&self, store: &Store) -> bool {
        let Some(req) = store.requests.get(self.request) else {
            return false;
        };
        match self.last {
            None => self.done == 0,
            Some((id, qid)) => {
                req.queries.len() >= self.done
                    && req.queries[self.done - 1] == id
                    && store
                        .queries
                        .get(id)
                        .is_some_and(|q| q.qid == qid && q.request == self.request)
            }
        }
    }

    /// Analyse the queries that arrived since the last call; returns how many.
    pub fn update(&mut self, store: &Store) -> usize {
        self.update_at_most(store, usize::MAX)
    }

    /// Like [`Self::update`], but at most `limit` queries (to spread a huge request over frames).
    pub fn update_at_most(&mut self, store: &Store, limit: usize) -> usize {
        if !self.is_current(store) {
            *self = Self::new(self.request);
        }
        let Some(req) = store.requests.get(self.request) else {
            return 0;
        };
        let end = req.queries.len().min(self.done.saturating_add(limit));
        if end == self.done {
            return 0;
        }
        let new = end - self.done;
        if self.done == 0 {
            // From scratch: size the per-query tables once.
            self.dup_index.reserve(new);
        }
        self.dup_next.reserve(new);
        for pos in self.done..end {
            self.add(store, &req.queries, pos as u32);
        }
        self.done = end;
        let id = req.queries[end - 1];
        self.last = Some((id, store.queries[id].qid));
        new
    }

    fn add(&mut self, store: &Store, ids: &[QueryId], pos: u32) {
        let id = ids[pos as usize];
        let q = &store.queries[id];

        let info = if self.last_sql.0 == q.sql {
            self.last_sql.1
        } else {
            let info = self.sql_info(store, q);
            self.last_sql = (q.sql, info);
            info
        };

        let sim = &mut self.similar[info.similar as usize];
        sim.count += 1;
        sim.ms += q.ms;
        match sim.count {
            2 => self.similar_queries += 2,
            c if c > 2 => self.similar_queries += 1,
            _ => {}
        }

        self.add_duplicate(store, ids, pos, q);

        let frame = if self.last_stack.0 == q.stack {
            self.last_stack.1
        } else {
            let frame = self.frame_of(store, q);
            self.last_stack = (q.stack, frame);
            frame
        };
        let site = &mut self.sites[frame as usize];
        site.members.push(id);
        site.ms += q.ms;

        if let Some(rel) = q.rel {
            let group = if self.last_rel.0 == rel {
                self.last_rel.1
            } else {
                let group = self.rel_group_of(store, q, rel);
                self.last_rel = (rel, group);
                group
            };
            if group != NONE {
                let g = &mut self.rels[group as usize];
                g.members.push(id);
                g.ms += q.ms;
            }
        }

        if q.orm.is_some() {
            if let Some(model) = findings::get_by_pk(store, q) {
                let model = match self.model_index.get(model) {
                    Some(&m) => m,
                    None => {
                        let m = self.models.len() as u32;
                        self.models.push(model.into());
                        self.model_index.insert(model.into(), m);
                        m
                    }
                };
                let key = (model, store.fingerprint_id(q), frame);
                add_keyed(
                    store,
                    &mut self.gets_index,
                    &mut self.gets,
                    key,
                    model,
                    frame,
                    id,
                );
            }
        }

        if info.insert && !q.many {
            let key = (store.fingerprint_id(q), frame);
            add_keyed(
                store,
                &mut self.writes_index,
                &mut self.writes,
                key,
                NONE,
                frame,
                id,
            );
        }
    }

    fn sql_info(&mut self, store: &Store, q: &Query) -> SqlInfo {
        if let Some(&info) = self.sql.get(&q.sql) {
            return info;
        }
        let fp = store.fingerprint_id(q);
        let similar = *self.similar_index.entry(fp).or_insert_with(|| {
            self.similar.push(Tally { count: 0, ms: 0.0 });
            (self.similar.len() - 1) as u32
        });
        let text = store.sql(q);
        let info = SqlInfo {
            similar,
            insert: findings::insert_table(text).is_some(),
            transaction: findings::is_transaction(text),
        };
        self.sql.insert(q.sql, info);
        info
    }

    fn add_duplicate(&mut self, store: &Store, ids: &[QueryId], pos: u32, q: &Query) {
        let mut h = FxHasher::default();
        h.write_u32(q.sql);
        h.write(q.params.as_bytes());
        let hash = (h.finish() >> 32) as u32 & HASH_MASK;
        self.dup_next.push(NONE);
        let same = |p: u32| {
            let rep = &store.queries[ids[p as usize]];
            rep.sql == q.sql && rep.params == q.params
        };
        let slot = match self.dup_index.entry(hash) {
            // Most statements of an N+1 are seen once: no group until a second one.
            Entry::Vacant(e) => {
                e.insert(pos | SINGLE);
                return;
            }
            Entry::Occupied(mut e) => {
                let slot = *e.get();
                if slot & SINGLE != 0 {
                    // Now a group: of two members, or of one that another key collides with.
                    let first = slot & !SINGLE;
                    let g = self.dups.len() as u32;
                    e.insert(g);
                    self.dups.push(DupGroup {
                        first,
                        last: first,
                        count: 1,
                        collide: NONE,
                    });
                }
                *e.get()
            }
        };
        let mut g = slot;
        loop {
            let group = &self.dups[g as usize];
            if same(group.first) {
                break;
            }
            if group.collide == NONE {
                let fresh = self.dups.len() as u32;
                self.dups[g as usize].collide = fresh;
                self.dups.push(DupGroup {
                    first: pos,
                    last: pos,
                    count: 1,
                    collide: NONE,
                });
                return;
            }
            g = group.collide;
        }
        let group = &mut self.dups[g as usize];
        let last = group.last;
        group.last = pos;
        group.count += 1;
        let count = group.count;
        self.dup_next[last as usize] = pos;
        if count == 2 {
            self.dup_multi.push(g);
            self.duplicate_queries += 2;
        } else {
            self.duplicate_queries += 1;
        }
    }

    fn frame_of(&mut self, store: &Store, q: &Query) -> u32 {
        if let Some(&f) = self.frame_of_stack.get(&q.stack) {
            return f;
        }
        let frame = store.stack(q).first().cloned();
        let f = match self.frame_index.get(&frame) {
            Some(&f) => f,
            None => {
                let f = self.frames.len() as u32;
                self.frame_index.insert(frame.clone(), f);
                self.frames.push(frame);
                self.sites.push(Site {
                    members: Vec::new(),
                    ms: 0.0,
                });
                f
            }
        };
        self.frame_of_stack.insert(q.stack, f);
        f
    }

    fn rel_group_of(&mut self, store: &Store, q: &Query, rel_id: u32) -> u32 {
        if let Some(&g) = self.rel_group.get(&rel_id) {
            return g;
        }
        let rel = store.rel(q).expect("an interned rel");
        findings::note_kind(&mut self.kinds, rel);
        let g = match findings::relation_key(rel) {
            None => NONE,
            Some(key) => match self.rel_index.get(&key) {
                Some(&g) => g,
                None => {
                    let g = self.rels.len() as u32;
                    self.rel_index.insert(key.clone(), g);
                    self.rels.push(RelGroup {
                        key,
                        leaf: rel.clone(),
                        members: Vec::new(),
                        ms: 0.0,
                    });
                    g
                }
            },
        };
        self.rel_group.insert(rel_id, g);
        g
    }

    /// The request list's and the report's numbers, for the analysed queries.
    pub fn summary(&self, store: &Store) -> Summary {
        Summary {
            query_count: self.done,
            sql_ms: store.requests[self.request].sql_ms,
            duplicate_queries: self.duplicate_queries,
            similar_queries: self.similar_queries,
        }
    }

    /// How many analysed queries share the fingerprint `fp` ("×60" in the query list).
    pub fn similar_count(&self, fp: u32) -> usize {
        self.similar_index
            .get(&fp)
            .map_or(0, |&i| self.similar[i as usize].count as usize)
    }

    /// How many analysed queries share each fingerprint id.
    pub fn shape_counts(&self) -> FxHashMap<u32, usize> {
        self.similar_index
            .iter()
            .map(|(&fp, &i)| (fp, self.similar[i as usize].count as usize))
            .collect()
    }

    /// Members of duplicate group `g`, in execution order.
    fn dup_members(&self, store: &Store, g: &DupGroup) -> Vec<QueryId> {
        let ids = &store.requests[self.request].queries;
        let mut out = Vec::with_capacity(g.count as usize);
        let mut pos = g.first;
        while pos != NONE {
            out.push(ids[pos as usize]);
            pos = self.dup_next[pos as usize];
        }
        out
    }

    /// Groups of identical statements with more than one member: most members first, ties by
    /// time, then in order of first appearance (as [`super::duplicate_groups`]).
    pub fn duplicate_groups(&self, store: &Store) -> Vec<Group> {
        // In order of first appearance (groups are made when a second member arrives).
        let mut multi = self.dup_multi.clone();
        multi.sort_unstable_by_key(|&g| self.dups[g as usize].first);
        let mut out: Vec<Group> = multi
            .iter()
            .map(|&g| {
                let queries = self.dup_members(store, &self.dups[g as usize]);
                let ms = queries.iter().map(|&q| store.queries[q].ms).sum();
                Group { queries, ms }
            })
            .collect();
        out.sort_by(|a, b| b.count().cmp(&a.count()).then(b.ms.total_cmp(&a.ms)));
        out
    }

    /// Call sites: most queries first, then most time (as [`super::callsites`]).
    pub fn callsites(&self) -> Vec<Callsite> {
        let mut out: Vec<Callsite> = self
            .sites
            .iter()
            .zip(&self.frames)
            .map(|(s, f)| Callsite {
                frame: f.clone(),
                queries: s.members.clone(),
                ms: s.ms,
            })
            .collect();
        out.sort_by(|a, b| {
            b.queries
                .len()
                .cmp(&a.queries.len())
                .then(b.ms.total_cmp(&a.ms))
        });
        out
    }

    /// The findings of the analysed queries, most queries first (as [`super::findings`]).
    pub fn findings(&self, store: &Store, config: Config) -> Vec<Finding> {
        let min = config.min_repeats;
        let mut out = findings::finish_relations(store, &self.rels, &self.kinds, config);
        for g in self.gets.iter().filter(|g| g.members.len() >= min) {
            out.extend(findings::get_per_row(
                store,
                &self.models[g.model as usize],
                self.frames[g.frame as usize].as_ref(),
                (g.members.clone(), g.ms),
                g.distinct,
                config,
            ));
        }
        for g in self.writes.iter().filter(|g| g.members.len() >= min) {
            out.extend(findings::repeated_write(
                store,
                self.frames[g.frame as usize].as_ref(),
                (g.members.clone(), g.ms),
                config,
            ));
        }

        // Duplicates not explained by the findings above.
        let candidates: Vec<&DupGroup> = self
            .dup_multi
            .iter()
            .map(|&g| &self.dups[g as usize])
            .filter(|g| {
                let sql = store.queries[store.requests[self.request].queries[g.first as usize]].sql;
                g.count as usize >= min && !self.sql[&sql].transaction
            })
            .collect();
        if !candidates.is_empty() {
            let ids = &store.requests[self.request].queries[..self.done];
            // A bitmap over the request's id range (its ids ascend as the store appends, but
            // do not rely on it).
            let lo = ids.iter().copied().min().unwrap_or(0);
            let hi = ids.iter().copied().max().unwrap_or(0);
            let mut explained = vec![0u64; (hi - lo) / 64 + 1];
            for f in &out {
                for &m in &f.members {
                    explained[(m - lo) / 64] |= 1 << ((m - lo) % 64);
                }
            }
            let mut dups: Vec<Finding> = candidates
                .into_iter()
                .filter_map(|g| {
                    let mut members = self.dup_members(store, g);
                    members.retain(|&m| explained[(m - lo) / 64] & (1 << ((m - lo) % 64)) == 0);
                    findings::duplicate(store, members, config)
                })
                .collect();
            // In order of first appearance of their (remaining) members.
            dups.sort_by_key(|f| f.members[0]);
            out.extend(dups);
        }
        findings::sort_findings(&mut out);
        out
    }
}

fn add_keyed<K: std::hash::Hash + Eq>(
    store: &Store,
    index: &mut FxHashMap<K, u32>,
    groups: &mut Vec<Keyed>,
    key: K,
    model: u32,
    frame: u32,
    id: QueryId,
) {
    let fresh = groups.len() as u32;
    let g = *index.entry(key).or_insert(fresh);
    if g == fresh {
        groups.push(Keyed {
            model,
            frame,
            members: vec![id],
            ms: store.queries[id].ms,
            distinct: false,
        });
        return;
    }
    let group = &mut groups[g as usize];
    if !group.distinct && store.queries[group.members[0]].params != store.queries[id].params {
        group.distinct = true;
    }
    group.members.push(id);
    group.ms += store.queries[id].ms;
}

#[cfg(test)]
mod tests;
