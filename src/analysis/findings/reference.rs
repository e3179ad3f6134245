//! The findings rules as plain passes over all of a request's queries, one rule at a time, the
//! way they were first written (per query, no caches, no incremental state). Only for tests:
//! [`super::super::RequestAnalysis`] must give exactly these findings for any split of the
//! request's queries into appended batches.

use std::collections::{HashMap, HashSet};

use super::*;

pub fn findings(store: &Store, request: RequestId, config: Config) -> Vec<Finding> {
    let ids = &store.requests[request].queries;
    let mut out = relation_findings(store, ids, config);
    out.extend(get_per_row_findings(store, ids, config));
    out.extend(repeated_writes(store, ids, config));
    let explained: HashSet<QueryId> = out.iter().flat_map(|f| f.members.iter().copied()).collect();
    out.extend(duplicates(store, ids, &explained, config));
    sort_findings(&mut out);
    out
}

fn relation_findings(store: &Store, ids: &[QueryId], config: Config) -> Vec<Finding> {
    let mut kinds = Kinds::new();
    let mut groups: Vec<RelGroup> = Vec::new();
    let mut index: HashMap<RelKey, usize> = HashMap::new();
    for &id in ids {
        let q = &store.queries[id];
        let Some(rel) = store.rel(q) else { continue };
        note_kind(&mut kinds, rel);
        let Some(key) = relation_key(rel) else {
            continue;
        };
        let at = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(RelGroup {
                key,
                leaf: rel.clone(),
                members: Vec::new(),
                ms: 0.0,
            });
            groups.len() - 1
        });
        groups[at].members.push(id);
        groups[at].ms += q.ms;
    }
    finish_relations(store, &groups, &kinds, config)
}

/// Queries grouped by `key` (`None` leaves a query out), groups in order of first appearance.
fn group_in_order<'s, K: Eq + std::hash::Hash + Clone>(
    store: &'s Store,
    ids: &[QueryId],
    mut key: impl FnMut(&'s Query, QueryId) -> Option<K>,
) -> Vec<(K, Vec<QueryId>)> {
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut groups: Vec<(K, Vec<QueryId>)> = Vec::new();
    for &id in ids {
        let Some(k) = key(&store.queries[id], id) else {
            continue;
        };
        match index.get(&k) {
            Some(&i) => groups[i].1.push(id),
            None => {
                groups.push((k.clone(), vec![id]));
                index.insert(k, groups.len() - 1);
            }
        }
    }
    groups
}

fn get_per_row_findings(store: &Store, ids: &[QueryId], config: Config) -> Vec<Finding> {
    group_in_order(store, ids, |q, _| {
        let model = get_by_pk(store, q)?;
        Some((model, store.fingerprint_id(q), store.stack(q).first()))
    })
    .into_iter()
    .filter_map(|((model, _, frame), members)| {
        let distinct: HashSet<&str> = members.iter().map(|&q| &*store.queries[q].params).collect();
        let ms = members.iter().map(|&q| store.queries[q].ms).sum();
        get_per_row(
            store,
            model,
            frame,
            (members, ms),
            distinct.len() > 1,
            config,
        )
    })
    .collect()
}

fn repeated_writes(store: &Store, ids: &[QueryId], config: Config) -> Vec<Finding> {
    group_in_order(store, ids, |q, _| {
        (!q.many && insert_table(store.sql(q)).is_some())
            .then(|| (store.fingerprint_id(q), store.stack(q).first()))
    })
    .into_iter()
    .filter_map(|((_, frame), members)| {
        let ms = members.iter().map(|&q| store.queries[q].ms).sum();
        repeated_write(store, frame, (members, ms), config)
    })
    .collect()
}

fn duplicates(
    store: &Store,
    ids: &[QueryId],
    explained: &HashSet<QueryId>,
    config: Config,
) -> Vec<Finding> {
    group_in_order(store, ids, |q, id| {
        (!explained.contains(&id) && !is_transaction(store.sql(q))).then_some((q.sql, &*q.params))
    })
    .into_iter()
    .filter_map(|(_, members)| duplicate(store, members, config))
    .collect()
}
