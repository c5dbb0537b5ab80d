//! The event types Hookline emits itself, one constant each, so no file
//! spells one: the executor (`run.*`, `code.generated`,
//! `pull_request.opened`), the router (`pull_request.merged` and
//! `.closed`, from the forge's webhook), the approval gate
//! (`run.awaiting_approval`) and the notifier (`subscription.disabled`). Each is catalogued with its
//! schema in `events/` (a test holds the two together).

/// A run's attempt started.
pub const RUN_STARTED: &str = "run.started";
/// A run's attempt succeeded.
pub const RUN_COMPLETED: &str = "run.completed";
/// A run's attempt did not.
pub const RUN_FAILED: &str = "run.failed";
/// A run waits for a person's approval.
pub const RUN_AWAITING_APPROVAL: &str = "run.awaiting_approval";
/// A run committed (and pushed) work.
pub const CODE_GENERATED: &str = "code.generated";
/// A run opened a pull request.
pub const PULL_REQUEST_OPENED: &str = "pull_request.opened";
/// A run's pull request was merged.
pub const PULL_REQUEST_MERGED: &str = "pull_request.merged";
/// A run's pull request was closed unmerged.
pub const PULL_REQUEST_CLOSED: &str = "pull_request.closed";
/// A subscription that only failed was disabled.
pub const SUBSCRIPTION_DISABLED: &str = "subscription.disabled";

/// Every type Hookline emits itself.
pub const EMITTED: [&str; 9] = [
    RUN_STARTED,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_AWAITING_APPROVAL,
    CODE_GENERATED,
    PULL_REQUEST_OPENED,
    PULL_REQUEST_MERGED,
    PULL_REQUEST_CLOSED,
    SUBSCRIPTION_DISABLED,
];

#[cfg(test)]
mod tests {
    use super::EMITTED;
    use crate::event_catalog::EventCatalog;

    #[test]
    fn every_type_hookline_emits_is_catalogued_with_its_schema() {
        let catalog = EventCatalog::builtin();
        for event_type in EMITTED {
            assert!(catalog.get(event_type).is_some(), "{event_type} has no file in events/");
        }
    }
}
