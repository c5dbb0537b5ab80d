//! Cron schedules. Every router copy watches every scheduled agent and fires
//! each tick it sees come due; `Nats-Msg-Id = schedule/<agent>/<tick>` makes
//! JetStream keep one run per tick however many copies fired it. A copy
//! starts counting from when it starts, so a tick missed while no router ran
//! is not fired late, unless the agent says `catch_up = true`: then the most
//! recent missed tick is fired once, judged by the last tick recorded in the
//! `hookline_state` bucket.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_bus::nats::Nats;
use hookline_bus::runs::{self, Records};
use hookline_bus::state::State;
use hookline_bus::store::CatalogView;
use hookline_model::catalog::Catalog;
use hookline_model::catalog::CronSchedule as Schedule;
use hookline_model::clock;
use hookline_model::subjects::msg_id;
use hookline_proto::{RunRequest, Trigger, WebhookContext};
use hookline_runtime::shutdown::CancellationToken;
use hookline_runtime::telemetry::TraceParent;

/// The ticks of `schedule` in `(after, until]`, oldest first, at most 100.
pub fn due_ticks(schedule: &Schedule, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    schedule.after(&after).take_while(|t| *t <= until).take(100).collect()
}

/// The latest tick of `schedule` at or before `now`, within a year.
pub fn previous_tick(schedule: &Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let year_ago = now - chrono::Duration::days(366);
    // The cron crate iterates forwards; walk from a day back, then further.
    for days in [1, 7, 31, 366] {
        let from = (now - chrono::Duration::days(days)).max(year_ago);
        if let Some(last) = schedule.after(&from).take_while(|t| *t <= now).last() {
            return Some(last);
        }
    }
    None
}

/// The catalog's schedule, as read with the catalog (parsed once there).
type Written = hookline_model::written::Written<Schedule>;

fn scheduled(catalog: &Catalog) -> HashMap<String, (Written, bool)> {
    catalog
        .agents
        .iter()
        .filter(|(_, a)| a.enabled)
        .filter_map(|(id, a)| a.schedule.clone().map(|s| (id.clone(), (s, a.catch_up))))
        .collect()
}

async fn fire(nats: &Nats, records: &Records, agent: &str, tick: DateTime<Utc>) -> Result<(), runs::RequestError> {
    let tick_text = tick.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let run = RunRequest {
        forge_trust: None,
        run_id: runs::schedule_run_id(agent, tick.timestamp_millis()),
        agent: agent.to_owned(),
        trigger: Trigger::Schedule as i32,
        event: None,
        context: Some(WebhookContext {
            event: "schedule".into(),
            action: tick_text.clone(),
            ..Default::default()
        }),
        requested_at_ms: clock::now_ms(),
        follow_up: None,
        preview: false,
    };
    let request = runs::Request {
        run,
        msg_id: msg_id::schedule(agent, &tick_text),
    };
    let trace = TraceParent::new_root().to_string();
    let fresh = runs::request(nats, records, vec![request], None, &trace).await?;
    if fresh.first().copied().unwrap_or(false) {
        tracing::info!(agent, tick = %tick_text, "Scheduled run requested.");
    }
    State::new(nats).set_last_tick(agent, tick.timestamp()).await;
    Ok(())
}

async fn last_recorded_tick(nats: &Nats, agent: &str) -> Option<i64> {
    State::new(nats).last_tick(agent).await.ok()?
}

/// Fires scheduled agents' ticks until `shutdown`.
pub async fn run(nats: Nats, records: Records, catalog: CatalogView, shutdown: CancellationToken) {
    // Per agent: the expression and the last instant already considered.
    let mut watched: HashMap<String, (Written, DateTime<Utc>)> = HashMap::new();
    loop {
        let now = Utc::now();
        let wanted = scheduled(&catalog.borrow());
        watched.retain(|agent, (expr, _)| wanted.get(agent).is_some_and(|(e, _)| e == expr));
        for (agent, (expr, catch_up)) in &wanted {
            if watched.contains_key(agent) {
                continue;
            }
            let mut from = now;
            if *catch_up
                && let Some(previous) = previous_tick(expr.get(), now)
                && last_recorded_tick(&nats, agent)
                    .await
                    .is_none_or(|last| last < previous.timestamp())
            {
                // Fire the missed tick once (below), nothing older.
                from = previous - chrono::Duration::seconds(1);
            }
            watched.insert(agent.clone(), (expr.clone(), from));
        }
        for (agent, (expr, considered)) in watched.iter_mut() {
            for tick in due_ticks(expr.get(), *considered, now) {
                match fire(&nats, &records, agent, tick).await {
                    Ok(()) => *considered = tick,
                    Err(e) => {
                        tracing::warn!(agent, error = %e, "Scheduled run not requested; retrying.");
                        break;
                    }
                }
            }
        }
        // Wake for the next due tick, or within a second for config changes.
        let next = watched
            .values()
            .filter_map(|(expr, considered)| expr.get().after(considered).next())
            .min()
            .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(next + Duration::from_millis(5)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
    }

    fn cron(text: &str) -> Schedule {
        hookline_model::catalog::parse_cron(text).expect("a schedule")
    }

    #[test]
    fn ticks_in_a_window() {
        let ticks = due_ticks(
            &cron("*/15 * * * *"),
            at("2026-01-01T10:00:00Z"),
            at("2026-01-01T10:45:00Z"),
        );
        let expected = [
            at("2026-01-01T10:15:00Z"),
            at("2026-01-01T10:30:00Z"),
            at("2026-01-01T10:45:00Z"),
        ];
        assert_eq!(ticks, expected, "after is exclusive, until inclusive");
        assert!(
            hookline_model::catalog::parse_cron("not cron").is_err(),
            "a bad schedule never reaches the scheduler: the catalog refuses it"
        );
        assert_eq!(
            due_ticks(
                &cron("*/1 * * * * *"),
                at("2026-01-01T10:00:00Z"),
                at("2026-01-01T10:00:03Z")
            )
            .len(),
            3,
            "seconds field"
        );
    }

    #[test]
    fn the_previous_tick_is_found() {
        let now = at("2026-01-01T10:07:00Z");
        assert_eq!(previous_tick(&cron("0 * * * *"), now), Some(at("2026-01-01T10:00:00Z")));
        assert_eq!(
            previous_tick(&cron("0 9 * * 1"), now),
            Some(at("2025-12-29T09:00:00Z")),
            "a weekly schedule"
        );
    }
}
