//! Crashes while runs are in flight: a real nats-server killed with SIGKILL
//! and restarted on the same store, each service process killed with
//! SIGKILL mid-stream, and a node of a three-node JetStream cluster killed
//! under load. At the end every accepted webhook has exactly one run, every
//! run record is final, no run was executed by two processes at once (the
//! test agent holds a lock per run and records every start), each run's
//! `run.completed` has one event id, and the subscriber got every event at
//! least once. A few dozen webhooks in CI; `HOOKLINE_CRASH_EVENTS=600` for
//! more. Both print their figures.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use super::crash_records::*;
use super::crash_setup::*;
use hookline_bus::nats::{self};
use hookline_bus::runs::RunStatus;
use hookline_bus::settings::NatsSettings;
use hookline_bus::store;
use hookline_tests::{NatsCluster, NatsServer, free_port};
use hookline_tests::{Receiver, ServiceProcess, script};

pub(crate) const SECRET: &str = "crash-test-github-secret";
pub(crate) const SUB_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// How long the webhooks are spread over (the crashes happen inside it).
pub(crate) const LOAD: Duration = Duration::from_secs(10);
/// How long everything may take to settle after the last webhook.
pub(crate) const CONVERGE: Duration = Duration::from_secs(150);

pub(crate) fn event_count() -> usize {
    std::env::var("HOOKLINE_CRASH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// The services as processes; two executor copies.
pub(crate) struct Services {
    ingest: ServiceProcess,
    router: ServiceProcess,
    executors: Vec<ServiceProcess>,
    notifier: ServiceProcess,
}

impl Services {
    fn start(env: &HashMap<String, String>, logs: &Path) -> Self {
        let executor = |copy: usize| {
            let mut env = env.clone();
            let work = logs.join(format!("work-{copy}"));
            std::fs::create_dir_all(&work).expect("workdir");
            env.insert("HOOKLINE_EXECUTOR_WORKDIR".into(), work.display().to_string());
            ServiceProcess::start("hookline-executor", &env, logs)
        };
        Self {
            ingest: ServiceProcess::start("hookline-ingest", env, logs),
            router: ServiceProcess::start("hookline-router", env, logs),
            executors: vec![executor(0), executor(1)],
            notifier: ServiceProcess::start("hookline-notifier", env, logs),
        }
    }
}

/// A crash to cause at a moment of the load.
pub(crate) enum Crash {
    /// Kill nats-server (node `n` of a cluster), restart it after a pause.
    Nats(usize, Duration),
    Ingest,
    Router,
    Executor,
    Notifier,
}

/// What a scenario saw.
pub(crate) struct Figures {
    accepted: usize,
    runs: usize,
    executions: usize,
    overlapping: usize,
    events: usize,
    deliveries: usize,
    duplicate_deliveries: usize,
    converged_after: Duration,
}

pub(crate) async fn scenario(
    name: &str,
    mut nodes: Vec<NatsServer>,
    replicas: usize,
    crashes: Vec<(Duration, Crash)>,
) -> Figures {
    let dir = tempfile::tempdir().expect("dir");
    let receiver = Receiver::start(|_, _| 200).await;
    let agent = write_agent(dir.path());
    let url = nodes.iter().map(NatsServer::url).collect::<Vec<_>>().join(",");
    let mut settings = NatsSettings::for_url(&url);
    settings.replicas = replicas;
    let nats = nats::connect(&settings, "crash-test").await.expect("connect");
    store::apply(&nats, &catalog(&agent, dir.path(), &receiver.url()), false)
        .await
        .expect("apply");
    let ingest_port = free_port();
    let env: HashMap<String, String> = [
        ("HOOKLINE_NATS_URL", url.clone()),
        ("HOOKLINE_REPLICAS", replicas.to_string()),
        ("HOOKLINE_INGEST_LISTEN", format!("127.0.0.1:{ingest_port}")),
        ("HOOKLINE_EXECUTOR_ACK_WAIT", "3s".to_owned()),
        ("HOOKLINE_DELIVERY_TIMEOUT", "2s".to_owned()),
        ("HOOKLINE_DELIVERY_ALLOW", "127.0.0.1".to_owned()),
        ("HOOKLINE_GRACE", "1s".to_owned()),
        ("HOOKLINE_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut services = Services::start(&env, dir.path());

    // The load: webhooks spread over LOAD, each retried until accepted.
    let count = event_count();
    let webhook_url = format!("http://127.0.0.1:{ingest_port}/webhooks/github");
    let started = Instant::now();
    let senders: Vec<_> = (0..count)
        .map(|n| {
            let url = webhook_url.clone();
            let at = LOAD.mul_f64(n as f64 / count as f64);
            tokio::spawn(async move {
                tokio::time::sleep_until((started + at).into()).await;
                send_until_accepted(url, n).await
            })
        })
        .collect();

    // The crashes, at their moments.
    for (at, crash) in crashes {
        tokio::time::sleep_until((started + at).into()).await;
        match crash {
            Crash::Nats(node, down) => {
                nodes[node].stop();
                tokio::time::sleep(down).await;
                nodes[node].restart();
            }
            Crash::Ingest => services.ingest.restart(),
            Crash::Router => services.router.restart(),
            Crash::Executor => services.executors[0].restart(),
            Crash::Notifier => services.notifier.restart(),
        }
    }
    let mut accepted = HashSet::new();
    for sender in senders {
        accepted.insert(sender.await.expect("sender"));
    }
    let loaded = Instant::now();

    // Everything settles: every accepted webhook has a final run record and
    // every run event reached the subscriber.
    let deadline = loaded + CONVERGE;
    let (records, events) = loop {
        let seen = settled(&nats, &accepted, &receiver).await;
        match seen {
            Ok(done) => break done,
            Err(why) if Instant::now() > deadline => {
                let logs: String = services.executors.iter().map(ServiceProcess::output).collect();
                panic!(
                    "{name}: not settled after {CONVERGE:?}: {why}\nexecutor logs (tail):\n{}",
                    tail(&logs, 60)
                );
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    let converged_after = loaded.elapsed();

    // Exactly one run per accepted webhook.
    let mut runs_per_event: HashMap<&str, usize> = HashMap::new();
    for record in &records {
        *runs_per_event.entry(record.event_id.as_str()).or_default() += 1;
    }
    for event_id in &accepted {
        assert_eq!(
            runs_per_event.get(event_id.as_str()),
            Some(&1),
            "{name}: runs of event {event_id}"
        );
    }
    assert_eq!(records.len(), accepted.len(), "{name}: a run for nothing accepted");
    for record in &records {
        assert_eq!(record.status, RunStatus::Succeeded, "{name}: run {}", record.run_id);
    }

    // No two processes of one run at once.
    let read = |file: &str| std::fs::read_to_string(dir.path().join(file)).unwrap_or_default();
    let overlaps = read("overlaps");
    let executions = read("starts").lines().count();

    // One run.completed id per run, and every event delivered.
    let mut completed_ids: HashMap<String, HashSet<String>> = HashMap::new();
    for event in &events {
        if event.r#type == "run.completed" {
            completed_ids
                .entry(event.run_id.clone())
                .or_default()
                .insert(event.id.clone());
        }
    }
    for record in &records {
        let ids = completed_ids.get(&record.run_id).map_or(0, HashSet::len);
        assert_eq!(ids, 1, "{name}: run.completed ids of run {}", record.run_id);
    }
    let received: Vec<String> = receiver.received().iter().map(|r| r.header("webhook-id")).collect();
    let distinct: HashSet<&String> = received.iter().collect();
    let figures = Figures {
        accepted: accepted.len(),
        runs: records.len(),
        executions,
        overlapping: overlaps.lines().count(),
        events: events.len(),
        deliveries: received.len(),
        duplicate_deliveries: received.len() - distinct.len(),
        converged_after,
    };
    println!("crash scenario `{name}`: {figures}");
    assert!(overlaps.is_empty(), "{name}: runs executed twice at once:\n{overlaps}");
    figures
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} webhooks accepted, {} runs, {} agent executions ({} taken over), {} overlapping, \
             {} events, {} deliveries ({} duplicates), settled {:.1} s after the last webhook",
            self.accepted,
            self.runs,
            self.executions,
            self.executions.saturating_sub(self.runs),
            self.overlapping,
            self.events,
            self.deliveries,
            self.duplicate_deliveries,
            self.converged_after.as_secs_f64()
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_nats_server_and_every_service_mid_stream_leaves_one_final_run_per_webhook() {
    let s = Duration::from_millis;
    let crashes = vec![
        (s(1500), Crash::Nats(0, s(1500))),
        (s(4000), Crash::Executor),
        (s(5000), Crash::Router),
        (s(6000), Crash::Notifier),
        (s(7000), Crash::Ingest),
        (s(8000), Crash::Nats(0, s(1000))),
    ];
    let figures = scenario("one nats-server", vec![NatsServer::start()], 1, crashes).await;
    assert!(figures.executions >= figures.runs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_one_node_of_a_three_node_cluster_leaves_one_final_run_per_webhook() {
    let s = Duration::from_millis;
    let crashes = vec![(s(3000), Crash::Nats(1, s(4000)))];
    let figures = scenario("three-node cluster, R3", NatsCluster::start(3).nodes, 3, crashes).await;
    assert!(figures.executions >= figures.runs);
}

/// An attempt whose agent finished while nats-server was away (killed for
/// longer than the lease) keeps its result: the executor that holds it
/// writes the final record once NATS is back, and no copy starts the agent
/// again (another copy only gives notice when it finds the lease expired,
/// and the live holder writes over the notice).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_that_finished_while_nats_was_away_is_not_run_again() {
    const RUNS: usize = 3;
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path();
    // Each run says it finished, then waits for the test to let it exit.
    let agent = script(
        out,
        "agent.sh",
        r#"echo "$HOOKLINE_RUN_ID $HOOKLINE_ATTEMPT" >> "$OUT_DIR/starts"
touch "$OUT_DIR/finished-$HOOKLINE_RUN_ID"
while [ ! -e "$OUT_DIR/go" ]; do sleep 0.05; done"#,
    );
    let mut server = NatsServer::start();
    let receiver = Receiver::start(|_, _| 200).await;
    let nats = nats::connect(&server.settings(), "crash-test").await.expect("connect");
    store::apply(&nats, &catalog(&agent, out, &receiver.url()), false)
        .await
        .expect("apply");
    let ingest_port = free_port();
    let env: HashMap<String, String> = [
        ("HOOKLINE_NATS_URL", server.url()),
        ("HOOKLINE_INGEST_LISTEN", format!("127.0.0.1:{ingest_port}")),
        ("HOOKLINE_EXECUTOR_ACK_WAIT", "3s".to_owned()),
        ("HOOKLINE_GRACE", "1s".to_owned()),
        ("HOOKLINE_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let services = Services::start(&env, out);
    let url = format!("http://127.0.0.1:{ingest_port}/webhooks/github");
    let mut accepted = HashSet::new();
    for n in 0..RUNS {
        accepted.insert(send_until_accepted(url.clone(), n).await);
    }
    hookline_tests::eventually("every agent to finish its work", || async {
        let finished = std::fs::read_dir(out)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("finished-"))
                    .count()
            })
            .unwrap_or(0);
        if finished == RUNS {
            Ok(())
        } else {
            Err(format!("{finished} finished"))
        }
    })
    .await;
    // NATS goes away, the agents exit, and NATS stays away past the lease.
    server.stop();
    std::fs::write(out.join("go"), "").expect("go");
    tokio::time::sleep(Duration::from_secs(8)).await;
    server.restart();

    let deadline = Instant::now() + CONVERGE;
    let records = loop {
        match run_records(&nats).await {
            Ok(records) if records.len() == RUNS && records.iter().all(|r| r.is_done() && r.outbox.is_empty()) => {
                break records;
            }
            other if Instant::now() > deadline => {
                let logs: String = services.executors.iter().map(ServiceProcess::output).collect();
                panic!("not settled: {other:?}\nexecutor logs (tail):\n{}", tail(&logs, 60));
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    // Past any takeover notice: a copy that would start the agent again
    // would have by now.
    tokio::time::sleep(hookline_executor::attempt::lease::TAKEOVER_GRACE + Duration::from_secs(3)).await;
    let starts = std::fs::read_to_string(out.join("starts")).unwrap_or_default();
    for record in &records {
        assert_eq!(
            (record.status, record.attempt),
            (RunStatus::Succeeded, 1),
            "run {}: {starts}",
            record.run_id
        );
    }
    assert_eq!(starts.lines().count(), RUNS, "no agent started twice:\n{starts}");
}
