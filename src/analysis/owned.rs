//! Fixes in the idiom of the class that owns the queryset (docs/n-plus-one.md, "Admin, DRF,
//! class-based views"): an admin's `list_select_related` / `get_queryset`, a DRF view's or a
//! generic view's `queryset`; and one merged statement per queryset when several findings
//! share it. Pure text: a plain fix (`select_related("author")`) in, the owner's code out.

use serde::Serialize;

use crate::protocol::Owner;

use super::Finding;

/// The queryset methods a relation finding's fix chains on, argument text as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    pub select: Vec<String>,
    pub prefetch: Vec<String>,
    pub annotate: Vec<String>,
}

impl Chain {
    /// The chain of a plain fix; `None` for a fix that is not one call of these three
    /// (`only(…)`, a bare `Prefetch(…)` inside another prefetch).
    pub fn parse(fix: &str) -> Option<Chain> {
        let mut chain = Chain::default();
        let (name, args) = fix.split_once('(')?;
        let args = args.strip_suffix(')')?.to_owned();
        match name {
            "select_related" => chain.select.push(args),
            "prefetch_related" => chain.prefetch.push(args),
            "annotate" => chain.annotate.push(args),
            _ => return None,
        }
        Some(chain)
    }

    fn extend(&mut self, other: &Chain) {
        for (mine, theirs) in [
            (&mut self.select, &other.select),
            (&mut self.prefetch, &other.prefetch),
            (&mut self.annotate, &other.annotate),
        ] {
            for arg in theirs {
                if !mine.contains(arg) {
                    mine.push(arg.clone());
                }
            }
        }
    }

    /// `.select_related(…).prefetch_related(…).annotate(…)`, each call once.
    fn calls(&self) -> String {
        let mut out = String::new();
        for (name, args) in [
            ("select_related", &self.select),
            ("prefetch_related", &self.prefetch),
            ("annotate", &self.annotate),
        ] {
            if !args.is_empty() {
                out.push_str(&format!(".{name}({})", args.join(", ")));
            }
        }
        out
    }

    /// The comment a count fix ends with: what the per-row code reads instead.
    fn reads_note(&self) -> String {
        self.reads()
            .map(|r| format!("  # then read {r} instead of .count()"))
            .unwrap_or_default()
    }

    /// What the per-row code reads once a count is annotated: `.books__count`.
    fn reads(&self) -> Option<String> {
        let names: Vec<String> = self
            .annotate
            .iter()
            .filter_map(|a| {
                let inner = a.strip_prefix("Count(\"")?.split('"').next()?;
                Some(format!("obj.{inner}__count"))
            })
            .collect();
        (!names.is_empty()).then(|| names.join(", "))
    }
}

/// The class name of a model label: `catalog.Book` → `Book`.
fn class(label: &str) -> &str {
    label.rsplit('.').next().unwrap_or(label)
}

/// The quoted names of a `list_select_related` value's source (`["a", "b"]`, `("a",)`).
fn quoted(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find(['"', '\'']) {
        let quote = &rest[start..start + 1];
        let after = &rest[start + 1..];
        let Some(end) = after.find(quote) else { break };
        out.push(format!("\"{}\"", &after[..end]));
        rest = &after[end + 1..];
    }
    out
}

/// The fix for `chain` in the owner's idiom, and the line to change (`file:line`).
pub fn owned_fix(owner: &Owner, chain: &Chain) -> (String, Option<String>) {
    let d = &owner.declares;
    let reads = chain.reads_note();
    if owner.kind == "admin" {
        let only_select = chain.prefetch.is_empty() && chain.annotate.is_empty();
        if only_select && d.get_queryset.is_none() {
            let mut names = d
                .list_select_related
                .as_ref()
                .and_then(|l| l.source.as_deref())
                .map(quoted)
                .unwrap_or_default();
            for s in &chain.select {
                if !names.contains(s) {
                    names.push(s.clone());
                }
            }
            let site = d
                .list_select_related
                .as_ref()
                .and_then(|l| l.site.clone())
                .or_else(|| owner.site.clone());
            return (
                format!("list_select_related = [{}]", names.join(", ")),
                site,
            );
        }
        return in_get_queryset(owner, chain);
    }
    // A DRF view or a generic view: its `queryset`, else its `get_queryset`, else `model`.
    if let Some(q) = d.queryset.as_ref() {
        if let Some(source) = q.source.as_deref() {
            let base = source.strip_suffix(".all()").unwrap_or(source);
            return (
                format!("queryset = {base}{}{reads}", chain.calls()),
                q.site.clone(),
            );
        }
    }
    if let Some(g) = &d.get_queryset {
        return (
            format!(
                "{}  # chain onto the queryset get_queryset returns{reads}",
                chain.calls()
            ),
            g.site.clone(),
        );
    }
    let model = owner.model.as_deref().map(class).unwrap_or("Model");
    let site = d
        .model
        .as_ref()
        .and_then(|m| m.site.clone())
        .or_else(|| owner.site.clone());
    (
        format!("queryset = {model}.objects{}{reads}", chain.calls()),
        site,
    )
}

/// One statement that fixes every finding of one queryset together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergedFix {
    /// The line to change, as the findings' `queryset`.
    pub queryset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    pub fix: String,
    /// Indices of the findings it fixes, in the request's `findings`.
    pub findings: Vec<usize>,
}

/// The merged fixes of a request's findings: one per queryset that two or more of them share.
pub fn merged_fixes(findings: &[Finding]) -> Vec<MergedFix> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let (Some(key), Some(_)) = (f.origin_key.as_deref(), f.chain.as_ref()) else {
            continue;
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    groups
        .into_iter()
        .filter(|(_, members)| members.len() > 1)
        .map(|(_, members)| {
            let mut chain = Chain::default();
            for &i in &members {
                if let Some(c) = &findings[i].chain {
                    chain.extend(c);
                }
            }
            let first = &findings[members[0]];
            let (fix, queryset) = match &first.owner {
                // Prefetches or counts need a get_queryset: the select_related goes there too.
                Some(owner)
                    if owner.kind == "admin"
                        && (!chain.prefetch.is_empty() || !chain.annotate.is_empty()) =>
                {
                    in_get_queryset(owner, &chain)
                }
                Some(owner) => owned_fix(owner, &chain),
                None => (
                    chain.calls().trim_start_matches('.').to_owned(),
                    first.queryset.clone(),
                ),
            };
            MergedFix {
                queryset: first.queryset.clone().or(queryset),
                owner: first.owner.clone(),
                fix,
                findings: members,
            }
        })
        .collect()
}

/// An admin's chain in its `get_queryset` (a new one, or the one it has).
fn in_get_queryset(owner: &Owner, chain: &Chain) -> (String, Option<String>) {
    let reads = chain.reads_note();
    match &owner.declares.get_queryset {
        Some(existing) => (
            format!(
                "{}  # chain onto the queryset get_queryset returns{reads}",
                chain.calls()
            ),
            existing.site.clone(),
        ),
        None => (
            format!(
                "def get_queryset(self, request): return super().get_queryset(request){}{reads}",
                chain.calls()
            ),
            owner.site.clone(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Declared, Declares};

    fn admin(declares: Declares) -> Owner {
        Owner {
            kind: "admin".into(),
            class: "catalog.admin.BookAdmin".into(),
            site: Some("catalog/admin.py:12".into()),
            model: Some("catalog.Book".into()),
            library: false,
            declares,
        }
    }

    fn chain(fix: &str) -> Chain {
        Chain::parse(fix).unwrap()
    }

    #[test]
    fn admin_select_related_is_list_select_related_extended_where_it_is() {
        let (fix, site) = owned_fix(
            &admin(Declares::default()),
            &chain(r#"select_related("author__publisher")"#),
        );
        assert_eq!(fix, r#"list_select_related = ["author__publisher"]"#);
        assert_eq!(site.as_deref(), Some("catalog/admin.py:12"));
        let existing = Declares {
            list_select_related: Some(Declared {
                site: Some("catalog/admin.py:14".into()),
                source: Some(r#"("editor",)"#.into()),
            }),
            ..Default::default()
        };
        let (fix, site) = owned_fix(&admin(existing), &chain(r#"select_related("author")"#));
        assert_eq!(fix, r#"list_select_related = ["editor", "author"]"#);
        assert_eq!(site.as_deref(), Some("catalog/admin.py:14"));
    }

    #[test]
    fn admin_prefetch_and_count_are_a_get_queryset() {
        let (fix, _) = owned_fix(
            &admin(Declares::default()),
            &chain(r#"annotate(Count("reviews"))"#),
        );
        assert_eq!(
            fix,
            r#"def get_queryset(self, request): return super().get_queryset(request).annotate(Count("reviews"))  # then read obj.reviews__count instead of .count()"#
        );
    }

    #[test]
    fn a_view_queryset_is_extended_at_its_line() {
        let owner = Owner {
            kind: "drf".into(),
            class: "catalog.api.BookViewSet".into(),
            site: Some("catalog/api.py:48".into()),
            model: Some("catalog.Book".into()),
            library: false,
            declares: Declares {
                queryset: Some(Declared {
                    site: Some("catalog/api.py:49".into()),
                    source: Some("Book.objects.all()".into()),
                }),
                ..Default::default()
            },
        };
        let (fix, site) = owned_fix(&owner, &chain(r#"prefetch_related("tags")"#));
        assert_eq!(fix, r#"queryset = Book.objects.prefetch_related("tags")"#);
        assert_eq!(site.as_deref(), Some("catalog/api.py:49"));
    }
}
