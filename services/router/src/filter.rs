//! Matching an event against an agent's triggers. Triggers are compiled once
//! per catalog change (lowercased lists, branch globs and regexes built), so
//! matching an event against many agents is cheap. Pure code: [`Trigger::check`]
//! names the first filter that failed.
//!
//! Rules (also in docs/configuration.md): every field optional; fields AND,
//! values within a list OR; text compares ignoring case; a filter on a field
//! the event lacks fails; `where` predicates read the JSON payload by pointer
//! and a missing value fails `eq`, `in`, `regex` and `exists`.

use hookline_model::catalog::{Predicate, TriggerSpec, glob_to_regex};
use hookline_proto::WebhookContext;
use regex::Regex;
use serde_json::Value;

/// The first filter an event failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// Another source.
    Source,
    /// `events`.
    Event,
    /// `actions`.
    Action,
    /// `labels`.
    Label,
    /// `repos`.
    Repo,
    /// `orgs`.
    Org,
    /// `assignees`.
    Assignee,
    /// `authors`.
    Author,
    /// `branches`.
    Branch,
    /// `conclusions`.
    Conclusion,
    /// `resources`.
    Resource,
    /// `organizations`.
    Organization,
    /// `projects`.
    Project,
    /// `merged`.
    Merged,
    /// `where`.
    Where,
}

impl Mismatch {
    /// The configuration field that failed.
    pub fn field(self) -> &'static str {
        match self {
            Mismatch::Source => "source",
            Mismatch::Event => "events",
            Mismatch::Action => "actions",
            Mismatch::Label => "labels",
            Mismatch::Repo => "repos",
            Mismatch::Org => "orgs",
            Mismatch::Assignee => "assignees",
            Mismatch::Author => "authors",
            Mismatch::Branch => "branches",
            Mismatch::Conclusion => "conclusions",
            Mismatch::Resource => "resources",
            Mismatch::Organization => "organizations",
            Mismatch::Project => "projects",
            Mismatch::Merged => "merged",
            Mismatch::Where => "where",
        }
    }
}

enum Compiled {
    Eq(String, Value),
    In(String, Vec<Value>),
    Regex(String, Regex),
    Exists(String),
    And(Vec<Compiled>),
    Or(Vec<Compiled>),
    Not(Box<Compiled>),
}

fn compile(p: &Predicate) -> Result<Compiled, String> {
    Ok(match p {
        Predicate::Eq { path, value } => Compiled::Eq(path.clone(), value.clone()),
        Predicate::In { path, values } => Compiled::In(path.clone(), values.clone()),
        Predicate::Regex { path, pattern } => Compiled::Regex(
            path.clone(),
            Regex::new(pattern).map_err(|e| format!("regex `{pattern}`: {e}"))?,
        ),
        Predicate::Exists(path) => Compiled::Exists(path.clone()),
        Predicate::And(all) => Compiled::And(all.iter().map(compile).collect::<Result<_, _>>()?),
        Predicate::Or(any) => Compiled::Or(any.iter().map(compile).collect::<Result<_, _>>()?),
        Predicate::Not(inner) => Compiled::Not(Box::new(compile(inner)?)),
    })
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}

fn holds(p: &Compiled, body: &Value) -> bool {
    let at = |path: &str| body.pointer(path).filter(|v| !v.is_null());
    match p {
        Compiled::Eq(path, value) => at(path).is_some_and(|v| same(v, value)),
        Compiled::In(path, values) => at(path).is_some_and(|v| values.iter().any(|w| same(v, w))),
        Compiled::Regex(path, re) => at(path).and_then(Value::as_str).is_some_and(|s| re.is_match(s)),
        Compiled::Exists(path) => at(path).is_some(),
        Compiled::And(all) => all.iter().all(|p| holds(p, body)),
        Compiled::Or(any) => any.iter().any(|p| holds(p, body)),
        Compiled::Not(inner) => !holds(inner, body),
    }
}

fn lower(values: &[String]) -> Vec<String> {
    values.iter().map(|v| v.to_ascii_lowercase()).collect()
}

/// Whether `value` passes a list filter: no list passes; an empty value fails.
fn any_of(wanted: &[String], value: &str) -> bool {
    wanted.is_empty() || (!value.is_empty() && wanted.iter().any(|w| w.eq_ignore_ascii_case(value)))
}

/// One compiled trigger.
pub struct Trigger {
    source: String,
    /// The list filters that are set, in checking order.
    lists: Vec<(Mismatch, Vec<String>)>,
    labels: Vec<String>,
    branches: Vec<Regex>,
    merged: Option<bool>,
    predicate: Option<Compiled>,
}

impl Trigger {
    /// Compiles a trigger's globs and regexes.
    pub fn compile(spec: &TriggerSpec) -> Result<Self, String> {
        let branches = spec
            .branches
            .iter()
            .map(|g| Regex::new(&glob_to_regex(g)).map_err(|e| format!("branch glob `{g}`: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            source: spec.source.clone(),
            lists: [
                (Mismatch::Event, lower(&spec.events)),
                (Mismatch::Action, lower(&spec.actions)),
                (Mismatch::Repo, lower(&spec.repos)),
                (Mismatch::Org, lower(&spec.orgs)),
                (Mismatch::Assignee, lower(&spec.assignees)),
                (Mismatch::Author, lower(&spec.authors)),
                (Mismatch::Conclusion, lower(&spec.conclusions)),
                (Mismatch::Resource, lower(&spec.resources)),
                (Mismatch::Organization, lower(&spec.organizations)),
                (Mismatch::Project, lower(&spec.projects)),
            ]
            .into_iter()
            .filter(|(_, wanted)| !wanted.is_empty())
            .collect(),
            labels: lower(&spec.labels),
            branches,
            merged: spec.merged,
            predicate: spec.predicate.as_ref().map(compile).transpose()?,
        })
    }

    /// The source this trigger listens to.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Ok when the event passes every filter, else the first that failed.
    pub fn check(&self, ctx: &WebhookContext, body: &Value) -> Result<(), Mismatch> {
        if self.source != ctx.source {
            return Err(Mismatch::Source);
        }
        for (kind, wanted) in &self.lists {
            let value = match kind {
                Mismatch::Event => &ctx.event,
                Mismatch::Action => &ctx.action,
                Mismatch::Repo => &ctx.repo,
                Mismatch::Org => &ctx.org,
                Mismatch::Assignee => &ctx.assignee,
                Mismatch::Author => &ctx.author,
                Mismatch::Conclusion => &ctx.conclusion,
                Mismatch::Resource => &ctx.resource,
                Mismatch::Organization => &ctx.organization,
                Mismatch::Project => &ctx.project,
                _ => continue,
            };
            if !any_of(wanted, value) {
                return Err(*kind);
            }
        }
        if !self.labels.is_empty() && !ctx.labels.iter().any(|l| any_of(&self.labels, l)) {
            return Err(Mismatch::Label);
        }
        if !self.branches.is_empty()
            && (ctx.branch.is_empty() || !self.branches.iter().any(|re| re.is_match(&ctx.branch)))
        {
            return Err(Mismatch::Branch);
        }
        if self.merged.is_some_and(|m| m != ctx.merged) {
            return Err(Mismatch::Merged);
        }
        if self.predicate.as_ref().is_some_and(|p| !holds(p, body)) {
            return Err(Mismatch::Where);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
