//! Matching an event's context against an agent's triggers. Every field is
//! optional; fields AND, values within a list OR. A filter on a field the
//! event does not have fails (an issue with no labels never matches a label
//! filter). Pure code: [`check`] names the first filter that failed.

use hookline_core::catalog::TriggerSpec;
use hookline_proto::WebhookContext;

/// The first filter an event failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The event came through another source.
    Source,
    /// Its event name is not listed.
    Event,
    /// Its action is not listed.
    Action,
    /// None of its labels is listed.
    Label,
    /// Its repository is not listed.
    Repo,
}

fn any_of(wanted: &[String], value: &str) -> bool {
    wanted.is_empty() || wanted.iter().any(|w| w.eq_ignore_ascii_case(value))
}

/// Ok when `ctx` passes every filter of `trigger`.
pub fn check(trigger: &TriggerSpec, ctx: &WebhookContext) -> Result<(), Mismatch> {
    if trigger.source != ctx.source {
        return Err(Mismatch::Source);
    }
    if !any_of(&trigger.events, &ctx.event) {
        return Err(Mismatch::Event);
    }
    if !any_of(&trigger.actions, &ctx.action) {
        return Err(Mismatch::Action);
    }
    if !trigger.labels.is_empty() && !ctx.labels.iter().any(|l| any_of(&trigger.labels, l)) {
        return Err(Mismatch::Label);
    }
    if !any_of(&trigger.repos, &ctx.repo) {
        return Err(Mismatch::Repo);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> WebhookContext {
        WebhookContext {
            source: "gh".into(),
            event: "issues".into(),
            action: "labeled".into(),
            repo: "acme/api".into(),
            labels: vec!["bug".into(), "agent".into()],
            ..Default::default()
        }
    }

    fn trigger(f: impl FnOnce(&mut TriggerSpec)) -> TriggerSpec {
        let mut t = TriggerSpec {
            source: "gh".into(),
            ..Default::default()
        };
        f(&mut t);
        t
    }

    #[test]
    fn filters_and_across_fields_or_within_lists() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let rows: Vec<(TriggerSpec, WebhookContext, Result<(), Mismatch>, &str)> = vec![
            (
                trigger(|_| {}),
                ctx(),
                Ok(()),
                "no filters match everything from the source",
            ),
            (
                trigger(|t| t.source = "other".into()),
                ctx(),
                Err(Mismatch::Source),
                "other source",
            ),
            (
                trigger(|t| t.events = s(&["push", "issues"])),
                ctx(),
                Ok(()),
                "any of the events",
            ),
            (
                trigger(|t| t.events = s(&["push"])),
                ctx(),
                Err(Mismatch::Event),
                "event not listed",
            ),
            (
                trigger(|t| t.actions = s(&["opened"])),
                ctx(),
                Err(Mismatch::Action),
                "action not listed",
            ),
            (
                trigger(|t| t.labels = s(&["agent"])),
                ctx(),
                Ok(()),
                "one label of several",
            ),
            (
                trigger(|t| t.labels = s(&["docs"])),
                ctx(),
                Err(Mismatch::Label),
                "no label listed",
            ),
            (
                trigger(|t| t.labels = s(&["bug"])),
                WebhookContext {
                    labels: vec![],
                    ..ctx()
                },
                Err(Mismatch::Label),
                "missing labels fail a label filter",
            ),
            (
                trigger(|t| t.actions = s(&["labeled"])),
                WebhookContext {
                    action: String::new(),
                    ..ctx()
                },
                Err(Mismatch::Action),
                "missing action fails an action filter",
            ),
            (
                trigger(|t| t.repos = s(&["ACME/api"])),
                ctx(),
                Ok(()),
                "case-insensitive",
            ),
            (
                trigger(|t| {
                    t.events = s(&["issues"]);
                    t.actions = s(&["labeled"]);
                    t.repos = s(&["acme/web"]);
                }),
                ctx(),
                Err(Mismatch::Repo),
                "AND: one failing field fails",
            ),
        ];
        for (trigger, ctx, expected, why) in rows {
            assert_eq!(check(&trigger, &ctx), expected, "{why}");
        }
    }
}
