//! `djtop check`: a CI gate over a recording. Exit 0 when clean, 1 when a finding or a query
//! budget is violated (each violation printed on one line), 2 on bad usage or input.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::report::Report;

/// Query budgets, from a TOML file:
///
/// ```toml
/// default = 50              # any request (optional)
/// [routes]
/// "articles/" = 10          # by resolver route, as the report shows it
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub default: Option<usize>,
    #[serde(default)]
    pub routes: BTreeMap<String, usize>,
}

impl Budget {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read budget {}", path.display()))?;
        toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a budget: expected `default = N` and a [routes] table of \"route\" = N",
                path.display()
            )
        })
    }

    fn limit(&self, route: Option<&str>) -> Option<usize> {
        route
            .and_then(|r| self.routes.get(r).copied())
            .or(self.default)
    }
}

/// Every violation, one line each.
pub fn violations(report: &Report, budget: &Budget, include_libraries: bool) -> Vec<String> {
    let mut out = Vec::new();
    for r in &report.requests {
        let what = match &r.method {
            Some(m) => format!("{m} {}", r.path),
            None => r.path.clone(),
        };
        // A loop inside a library is not the user's to fix: reported, not failing, unless asked.
        for f in r
            .findings
            .iter()
            .filter(|f| include_libraries || f.library.is_none())
        {
            out.push(format!(
                "{what}: {} ({}){} — fix: {}",
                f.title,
                f.kind,
                f.callsite
                    .as_ref()
                    .map(|c| format!(" at {c}"))
                    .unwrap_or_default(),
                f.fix
            ));
        }
        if r.method.is_some() {
            if let Some(limit) = budget.limit(r.route.as_deref()) {
                if r.query_count > limit {
                    out.push(format!(
                        "{what}: {} queries, over the budget of {limit} for route {}",
                        r.query_count,
                        r.route.as_deref().unwrap_or("(default)")
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_by_route_then_default() {
        let b: Budget = toml::from_str("default = 5\n[routes]\n\"articles/\" = 1\n").unwrap();
        assert_eq!(b.limit(Some("articles/")), Some(1));
        assert_eq!(b.limit(Some("other/")), Some(5));
        assert_eq!(b.limit(None), Some(5));
        assert!(
            toml::from_str::<Budget>("defualt = 5").is_err(),
            "typos are errors"
        );
    }
}
