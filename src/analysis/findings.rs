//! Findings (docs/n-plus-one.md): a request's queries in, named problems with the code to paste
//! out. Relation findings come from the shim's `rel` attribution (which lazy access ran the
//! query and how its instance was loaded); ORM findings from `orm` and the SQL itself.

use std::collections::HashMap;

use serde::Serialize;

use crate::protocol::{is_many_kind, Frame, Lookups, Origin, Owner, Rel};

use super::owned::{owned_fix, Chain};
use crate::store::{Query, QueryId, RequestId, Store};

/// Thresholds; one place, documented in docs/n-plus-one.md.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// A finding needs at least this many queries of one shape from one place.
    pub min_repeats: usize,
    /// A route whose p95 query count is over this stands out in the routes view.
    pub route_budget: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            min_repeats: 3,
            route_budget: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: &'static str,
    pub model: Option<String>,
    pub field: Option<String>,
    /// How many queries the finding explains.
    pub queries: usize,
    /// Where the lazy access (or repeated call) happens: `file:line`, innermost app frame.
    pub callsite: Option<String>,
    /// Where the queryset to change was evaluated: `file:line`.
    pub queryset: Option<String>,
    /// Code to paste.
    pub fix: String,
    /// Other fixes that also work, after `fix` (which stays the better one): on Django 6.1+,
    /// `fetch_mode(models.FETCH_PEERS)` for a lazy FK / one-to-one / deferred load.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<String>,
    /// The user's class whose queryset a framework evaluated (an admin, a DRF view, a
    /// generic view): `fix` is written in its idiom and `queryset` is its line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The package whose own code ran the loop (`wagtail`), when no class of the user's owns
    /// it: the user cannot paste the fix there. Listed apart; `check` ignores it unless asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// One line for people.
    pub title: String,
    /// SQL time of the member queries.
    pub ms: f64,
    /// The member queries, in execution order.
    #[serde(skip)]
    pub members: Vec<QueryId>,
    /// The queryset the fix goes into (findings sharing one get one merged fix), and the
    /// plain fix's calls: see [`super::owned::merged_fixes`].
    #[serde(skip)]
    pub origin_key: Option<String>,
    #[serde(skip)]
    pub chain: Option<Chain>,
}

/// All findings of one request, most queries first. The request is analysed from scratch; the
/// UI keeps a [`super::RequestAnalysis`] per request instead and extends it as queries arrive.
pub fn findings(store: &Store, request: RequestId, config: Config) -> Vec<Finding> {
    let mut analysis = super::RequestAnalysis::new(request);
    analysis.update(store);
    analysis.findings(store, config)
}

/// Most queries first; ties in execution order of the first member (stable: the rules' order).
pub(super) fn sort_findings(out: &mut [Finding]) {
    out.sort_by(|a, b| {
        b.queries
            .cmp(&a.queries)
            .then(a.members[0].cmp(&b.members[0]))
    });
}

/// `blog.Tag` → `Tag`.
fn class(label: &str) -> &str {
    label.rsplit('.').next().unwrap_or(label)
}

pub(super) fn site(frame: &crate::protocol::Frame) -> String {
    format!("{}:{}", frame.file(), frame.line())
}

fn callsite(store: &Store, q: &Query) -> Option<String> {
    store.stack(q).first().map(site)
}

/// A JSON literal as Python source: `true` → `True`, `null` → `None`; strings, numbers, lists
/// and dicts read the same in both.
fn py_literal(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v) => py_value(&v),
        Err(_) => json.to_owned(),
    }
}

/// A Python string literal: JSON's escapes, plus `\uXXXX` for the C1 controls and bidi
/// overrides JSON leaves raw (the same string in Python, and nothing a terminal acts on).
fn python_str(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap_or_default();
    if !json.chars().any(crate::interpolate::is_unsafe) {
        return json;
    }
    json.chars()
        .map(|c| {
            if crate::interpolate::is_unsafe(c) {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn py_value(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => python_str(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(py_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    serde_json::to_string(k).unwrap_or_default(),
                    py_value(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn kwargs(lookups: Option<&Lookups>) -> String {
    lookups
        .map(|l| {
            l.0.iter()
                .map(|(k, v)| format!("{k}={}", py_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

// ---- relation findings ------------------------------------------------------------------------

/// One step of a relation path: `instance_model.field`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Hop {
    model: String,
    field: String,
}

/// Where a chain of lazy loads starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Root {
    /// A queryset evaluated at `site`, by a framework for `owner` when it says so.
    Queryset {
        model: String,
        site: Option<String>,
        owner: Option<Box<Owner>>,
    },
    /// Instances that a prefetch of `model.field` loaded; `site` is where the outer queryset
    /// was evaluated.
    Prefetch {
        model: String,
        field: String,
        to_attr: Option<String>,
        site: Option<String>,
    },
    /// A single object (`get()`): its lazy loads are not an N+1.
    Single,
    Unknown,
}

impl Root {
    fn site(&self) -> Option<String> {
        match self {
            Root::Queryset { site, .. } | Root::Prefetch { site, .. } => site.clone(),
            _ => None,
        }
    }
}

fn outermost_site(origin: &Origin) -> Option<String> {
    let mut o = origin;
    loop {
        match &o.origin {
            Some(parent) => o = parent,
            None => return o.site.as_ref().map(site),
        }
    }
}

/// The path from the root to the relation that ran the query, and the root.
fn chain(rel: &Rel) -> (Vec<Hop>, Root) {
    let mut hops = vec![Hop {
        model: rel.model.clone(),
        field: rel.field.clone(),
    }];
    let mut origin = rel.origin.as_ref();
    let root = loop {
        let Some(o) = origin else { break Root::Unknown };
        match o.how.as_str() {
            "lazy" | "select_related" => {
                let (Some(model), Some(field)) = (&o.model, &o.field) else {
                    break Root::Unknown;
                };
                hops.push(Hop {
                    model: model.clone(),
                    field: field.clone(),
                });
                origin = o.origin.as_deref();
            }
            "queryset" => {
                break Root::Queryset {
                    model: o.model.clone().unwrap_or_default(),
                    site: o.site.as_ref().map(site),
                    owner: o.owner.clone().map(Box::new),
                }
            }
            "prefetch" => {
                break match (&o.model, &o.field) {
                    (Some(model), Some(field)) => Root::Prefetch {
                        model: model.clone(),
                        field: field.clone(),
                        to_attr: o.to_attr.clone(),
                        site: outermost_site(o),
                    },
                    _ => Root::Unknown,
                }
            }
            "get" => break Root::Single,
            _ => break Root::Unknown,
        }
    };
    hops.reverse();
    (hops, root)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct RelKey {
    root: Root,
    path: Vec<Hop>,
    /// `load`/`all` merge into chains; `count`, `filter`… stay apart.
    op: String,
    lookups: Option<Lookups>,
}

/// Queries run by one relation path (one [`RelKey`]), in execution order.
#[derive(Debug, Clone)]
pub(super) struct RelGroup {
    pub key: RelKey,
    pub leaf: Rel,
    pub members: Vec<QueryId>,
    /// SQL time of the members, summed in execution order.
    pub ms: f64,
}

/// What each relation is (fk, m2m…), by (model, field), from every attributed query seen:
/// intermediate hops of a chain carry only model and field. The first seen wins.
pub(super) type Kinds = HashMap<(String, String), (String, Option<String>)>;

pub(super) fn note_kind(kinds: &mut Kinds, rel: &Rel) {
    kinds
        .entry((rel.model.clone(), rel.field.clone()))
        .or_insert_with(|| (rel.shape().to_owned(), rel.target.clone()));
}

/// The group key of a relation; `None` for a single object's lazy loads (not an N+1).
pub(super) fn relation_key(rel: &Rel) -> Option<RelKey> {
    if rel.op == "peers" {
        return None; // Django 6.1's FETCH_PEERS: one load for every peer, the fix itself
    }
    let (path, root) = chain(rel);
    if root == Root::Single {
        return None;
    }
    let op = match rel.op.as_str() {
        "load" | "all" => "load".to_owned(),
        other => other.to_owned(),
    };
    Some(RelKey {
        root,
        path,
        op,
        lookups: rel.lookups.clone(),
    })
}

/// Relation findings from the groups (in order of first appearance) and the kinds seen.
pub(super) fn finish_relations(
    store: &Store,
    groups: &[RelGroup],
    kinds: &Kinds,
    config: Config,
) -> Vec<Finding> {
    // A chain is one finding with its longest path: fold `author` into `author__profile`.
    // `merged[i]`: group i's members once others were folded into it (else its own).
    let mut merged: Vec<Option<Vec<QueryId>>> = vec![None; groups.len()];
    let mut absorbed = vec![false; groups.len()];
    for i in 0..groups.len() {
        if groups[i].key.op != "load" {
            continue;
        }
        let longer = (0..groups.len()).find(|&j| {
            let (a, b) = (&groups[i].key, &groups[j].key);
            j != i
                && !absorbed[j]
                && b.op == "load"
                && b.root == a.root
                && b.path.len() > a.path.len()
                && b.path.starts_with(&a.path)
        });
        if let Some(j) = longer {
            let members = merged[i]
                .take()
                .unwrap_or_else(|| groups[i].members.clone());
            let into = merged[j].get_or_insert_with(|| groups[j].members.clone());
            into.extend(members);
            into.sort_unstable();
            absorbed[i] = true;
        }
    }

    let kind_of = |hop: &Hop| -> String {
        kinds
            .get(&(hop.model.clone(), hop.field.clone()))
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| "fk".to_owned())
    };
    let target_of = |hop: &Hop, next: Option<&Hop>| -> String {
        next.map(|h| h.model.clone())
            .or_else(|| {
                kinds
                    .get(&(hop.model.clone(), hop.field.clone()))
                    .and_then(|(_, t)| t.clone())
            })
            .unwrap_or_default()
    };

    let mut out = Vec::new();
    for (i, g) in groups.iter().enumerate().filter(|&(i, _)| !absorbed[i]) {
        let count = merged[i].as_ref().unwrap_or(&g.members).len();
        if count < config.min_repeats {
            continue;
        }
        let (members, ms) = match merged[i].take() {
            Some(m) => {
                let ms = m.iter().map(|&q| store.queries[q].ms).sum();
                (m, ms)
            }
            None => (g.members.clone(), g.ms),
        };
        let path = &g.key.path;
        let joined = path
            .iter()
            .map(|h| h.field.as_str())
            .collect::<Vec<_>>()
            .join("__");
        // Hops a JOIN cannot load: managers, and GenericForeignKeys (select_related refuses
        // them; prefetch_related follows them).
        let many: Vec<bool> = path
            .iter()
            .map(|h| {
                let kind = kind_of(h);
                is_many_kind(&kind) || kind == "generic"
            })
            .collect();
        let first = &path[0];
        let leaf_field = &path[path.len() - 1].field;
        let (kind, inner, title) = match g.key.op.as_str() {
            "count" | "exists" | "aggregate" => (
                "count_per_row",
                format!("annotate(Count(\"{joined}\"))"),
                format!(
                    ".{}() on {}.{} runs once per row",
                    g.key.op,
                    class(&g.leaf.model),
                    leaf_field
                ),
            ),
            "load" if g.leaf.kind == "deferred" => (
                "n_plus_one",
                format!("only(…, \"{leaf_field}\")  # or drop \"{leaf_field}\" from defer()"),
                format!(
                    "deferred field {}.{} loaded once per row",
                    class(&g.leaf.model),
                    leaf_field
                ),
            ),
            "load" => {
                let fix = if many.iter().all(|m| !m) {
                    format!("select_related(\"{joined}\")")
                } else if many[0] && many[1..].iter().all(|m| !m) && path.len() > 1 {
                    let rest = path[1..]
                        .iter()
                        .map(|h| h.field.as_str())
                        .collect::<Vec<_>>()
                        .join("__");
                    format!(
                        "prefetch_related(Prefetch(\"{}\", queryset={}.objects.select_related(\"{rest}\")))",
                        first.field,
                        class(&target_of(first, path.get(1)))
                    )
                } else {
                    format!("prefetch_related(\"{joined}\")")
                };
                let title = if path.len() > 1 {
                    format!(
                        "N+1: {} loaded per row ({})",
                        joined.replace("__", "."),
                        class(&first.model)
                    )
                } else {
                    format!(
                        "N+1: {}.{} loaded once per row",
                        class(&first.model),
                        first.field
                    )
                };
                ("n_plus_one", fix, title)
            }
            op => {
                // filter/get/first… on a related manager: the cache cannot serve it.
                let target = class(g.leaf.target.as_deref().unwrap_or(&g.leaf.model)).to_owned();
                let args = kwargs(g.key.lookups.as_ref());
                (
                    "n_plus_one",
                    format!(
                        "prefetch_related(Prefetch(\"{joined}\", queryset={target}.objects.filter({args}), to_attr=\"filtered_{leaf_field}\"))"
                    ),
                    format!(
                        ".{op}() on {}.{} runs once per row{}",
                        class(&g.leaf.model),
                        leaf_field,
                        if g.leaf.prefetched { " (it bypasses the prefetch)" } else { "" }
                    ),
                )
            }
        };
        let fix = match &g.key.root {
            Root::Prefetch { field, to_attr, .. } => {
                // The instances came from a prefetch: the fix goes inside that Prefetch.
                let to_attr = to_attr
                    .as_ref()
                    .map(|t| format!(", to_attr=\"{t}\""))
                    .unwrap_or_default();
                let inner = inner
                    .strip_prefix("prefetch_related(")
                    .and_then(|s| s.strip_suffix(')'))
                    .filter(|s| s.starts_with("Prefetch("))
                    .map(|p| format!("prefetch_related({p})"))
                    .unwrap_or(inner);
                format!(
                    "Prefetch(\"{field}\", queryset={}.objects.{inner}{to_attr})",
                    class(&first.model)
                )
            }
            _ => inner,
        };
        // FETCH_PEERS (Django 6.1) loads a forward or one-to-one relation, or a deferred
        // field, for every instance of the queryset at once, and is carried to the related
        // instances: a second fix for a chain of single hops from a queryset.
        let peers = g.key.op == "load"
            && matches!(g.key.root, Root::Queryset { .. })
            && many.iter().all(|m| !m)
            && fetch_modes(store, members[0]);
        let chain = Chain::parse(&fix);
        let mut queryset = g.key.root.site();
        let mut owner = None;
        let mut fix = fix;
        if let (Root::Queryset { owner: Some(o), .. }, Some(c)) = (&g.key.root, &chain) {
            let (owned, site) = owned_fix(o, c);
            fix = owned;
            queryset = site.or(queryset);
            owner = Some(o.as_ref().clone());
        }
        let library = match owner {
            None => library_of(store, &store.queries[members[0]]),
            Some(_) => None,
        };
        let origin_key = match &g.key.root {
            Root::Queryset { .. } => Some(format!("{:?}", g.key.root)),
            _ => None,
        };
        out.push(Finding {
            kind,
            model: Some(first.model.clone()),
            field: Some(first.field.clone()),
            queries: members.len(),
            callsite: callsite(store, &store.queries[members[0]]),
            queryset,
            owner,
            library,
            origin_key,
            chain,
            fix,
            alternatives: if peers {
                vec!["fetch_mode(models.FETCH_PEERS)".to_owned()]
            } else {
                Vec::new()
            },
            title: format!("{title}: {} queries", members.len()),
            ms,
            members,
        });
    }
    out
}

/// The package whose code ran this query between Django's ORM and the user's code: the first
/// library frame (innermost first) that is neither Django's nor a framework djtop reads
/// (DRF: its serializer fields are the user's lines). `None` when there is none.
fn library_of(store: &Store, q: &Query) -> Option<String> {
    const KNOWN: [&str; 3] = ["django/", "rest_framework/", "asgiref/"];
    let frame = store
        .library_frames(q)
        .iter()
        .find(|f| !KNOWN.iter().any(|k| f.file().starts_with(k)))?;
    let top = frame.file().split('/').next()?;
    Some(top.strip_suffix(".py").unwrap_or(top).to_owned())
}

/// Whether the process that ran this query has Django's fetch modes (6.1 and later).
fn fetch_modes(store: &Store, query: QueryId) -> bool {
    let request = &store.requests[store.queries[query].request];
    store.processes[request.process]
        .django
        .as_deref()
        .is_some_and(|v| django_at_least(v, (6, 1)))
}

/// `"6.1.3"`, `"6.1a1"`, `"6.2.dev20261201"` against (major, minor).
pub(crate) fn django_at_least(version: &str, wanted: (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    });
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= wanted,
        (Some(major), None) => major > wanted.0,
        _ => false,
    }
}

// ---- ORM findings -----------------------------------------------------------------------------

fn is_pk_lookup(lookups: &Lookups) -> bool {
    !lookups.0.is_empty()
        && lookups
            .0
            .iter()
            .all(|(k, _)| matches!(k.as_str(), "pk" | "id" | "pk__exact" | "id__exact"))
}

/// The model of a `.get(pk=…)` outside a lazy relation access: candidates for `get_per_row`.
pub(super) fn get_by_pk<'s>(store: &'s Store, q: &Query) -> Option<&'s str> {
    let orm = store.orm(q).filter(|_| q.rel.is_none())?;
    (orm.op == "get" && orm.lookups.as_ref().is_some_and(is_pk_lookup))
        .then_some(orm.model.as_str())
}

/// `.get(pk=…)` in a loop: the members of one (model, fingerprint, call site) group, in
/// execution order (`ms`: their SQL time, summed in that order); `distinct`: their params are
/// not all the same.
pub(super) fn get_per_row(
    store: &Store,
    model: &str,
    frame: Option<&Frame>,
    (members, ms): (Vec<QueryId>, f64),
    distinct: bool,
    config: Config,
) -> Option<Finding> {
    if members.len() < config.min_repeats || !distinct {
        return None;
    }
    let site = frame.map(self::site);
    let model = model.to_owned();
    // In an async view the sync in_bulk raises SynchronousOnlyOperation.
    let is_async = store.requests[store.queries[members[0]].request].is_async;
    let fix = if is_async {
        format!("await {}.objects.ain_bulk(ids)", class(&model))
    } else {
        format!("{}.objects.in_bulk(ids)", class(&model))
    };
    Some(Finding {
        kind: "get_per_row",
        fix,
        alternatives: Vec::new(),
        owner: None,
        library: None,
        origin_key: None,
        chain: None,
        title: format!(
            "{}.objects.get(pk=…) once per row: {} queries",
            class(&model),
            members.len()
        ),
        model: Some(model),
        field: None,
        queries: members.len(),
        callsite: site,
        queryset: None,
        ms,
        members,
    })
}

/// The table of `INSERT INTO "t"` / `INSERT INTO t` / `` INSERT INTO `t` ``.
pub(super) fn insert_table(sql: &str) -> Option<&str> {
    let s = sql.trim_start();
    let rest = s
        .get(..12)
        .filter(|h| h.eq_ignore_ascii_case("INSERT INTO "))?;
    let rest = &s[rest.len()..];
    let rest = rest.trim_start();
    let (open, close) = match rest.chars().next()? {
        '"' => ('"', '"'),
        '`' => ('`', '`'),
        '[' => ('[', ']'),
        _ => return rest.split([' ', '(']).next(),
    };
    let inner = &rest[open.len_utf8()..];
    inner.find(close).map(|end| &inner[..end])
}

/// The same INSERT, row by row: the members of one (fingerprint, call site) group of
/// single-row INSERTs, in execution order (`ms`: their SQL time, summed in that order).
pub(super) fn repeated_write(
    store: &Store,
    frame: Option<&Frame>,
    (members, ms): (Vec<QueryId>, f64),
    config: Config,
) -> Option<Finding> {
    if members.len() < config.min_repeats {
        return None;
    }
    let first = &store.queries[members[0]];
    let table = insert_table(store.sql(first)).unwrap_or_default();
    let process = &store.processes[store.requests[first.request].process];
    let model = store
        .orm(first)
        .map(|o| o.model.to_string())
        .or_else(|| process.models.get(table).cloned());
    let name = model.as_deref().map(class).unwrap_or(table).to_owned();
    let call = if store.requests[first.request].is_async {
        "await {name}.objects.abulk_create"
    } else {
        "{name}.objects.bulk_create"
    }
    .replace("{name}", &name);
    Some(Finding {
        kind: "repeated_write",
        fix: format!("{call}([{name}(**row) for row in rows])"),
        alternatives: Vec::new(),
        owner: None,
        library: None,
        origin_key: None,
        chain: None,
        title: format!(
            "INSERT into {table} once per row: {} queries",
            members.len()
        ),
        model,
        field: None,
        queries: members.len(),
        callsite: frame.map(site),
        queryset: None,
        ms,
        members,
    })
}

pub(super) fn is_transaction(sql: &str) -> bool {
    let head = sql
        .trim_start()
        .get(..8)
        .unwrap_or(sql.trim_start())
        .to_ascii_uppercase();
    [
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "START TR",
    ]
    .iter()
    .any(|k| head.starts_with(k))
}

/// The same statement with the same params (not a transaction statement), not explained by
/// another finding: the remaining members of one (SQL, params) group, in execution order.
pub(super) fn duplicate(store: &Store, members: Vec<QueryId>, config: Config) -> Option<Finding> {
    if members.len() < config.min_repeats {
        return None;
    }
    let first = &store.queries[members[0]];
    let orm = store.orm(first);
    let fix = match &orm {
        Some(o) => {
            let call = match o.op.as_str() {
                "iterate" => "filter",
                op => op,
            };
            format!(
                "{}.objects.{call}({})  # run once before the loop and reuse the result",
                class(o.model),
                kwargs(o.lookups.as_ref())
            )
        }
        None => format!(
            "# the same query with the same params ran {} times: run it once and reuse the result",
            members.len()
        ),
    };
    Some(Finding {
        kind: "duplicate",
        model: orm.map(|o| o.model.to_string()),
        field: None,
        queries: members.len(),
        callsite: callsite(store, first),
        queryset: None,
        fix,
        alternatives: Vec::new(),
        owner: None,
        library: None,
        origin_key: None,
        chain: None,
        title: format!(
            "the same query with the same params, {} times",
            members.len()
        ),
        ms: members.iter().map(|&q| store.queries[q].ms).sum(),
        members,
    })
}

/// The rules as plain passes over a request's queries (how they were first written): the
/// oracle the incremental analysis is tested against.
#[cfg(test)]
pub(super) mod reference;

#[cfg(test)]
mod tests;
