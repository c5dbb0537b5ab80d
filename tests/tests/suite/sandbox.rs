//! A hostile agent in the real bubblewrap sandbox: each escape it tries
//! fails (the host's files, another run's folder, the executor's settings
//! and NATS URL, writing outside its folder, the network), and a fork bomb
//! or a memory hog ends the run `resource_limit` with which limit. An agent
//! with `sandbox = "none"` says so in its log; a host without bubblewrap
//! fails sandboxed runs `sandbox_unavailable`.

use std::path::Path;

use hookline_bus::runs::{Records, RunRecord, RunStatus};
use hookline_model::catalog::Catalog;
use hookline_tests::{Pipeline, Service, ServiceProcess, eventually, script};
use serde_json::{Value, json};

fn catalog(agent: &str, out: &Path, secret: &Path, extra: &str) -> Catalog {
    let text = format!(
        r#"
[profiles.p]
env = {{ HOST_SECRET = "{secret}", OUT = "{out}" }}
secrets = {{ GIT_TOKEN = "git-scoped-value-123", AGENT_TOKEN = {{ secret = "agent-scoped-value-456", scope = "agent" }} }}

[agents.hostile]
prompt = "x"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "p"
{extra}
"#,
        secret = secret.display(),
        out = out.display()
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

/// Starts a manual run of `hostile` and waits for its final record.
pub(crate) async fn run_once(pipeline: &Pipeline) -> (RunRecord, Vec<String>) {
    let (status, manual) = pipeline.admin("POST", "/v1/agents/hostile/run", json!({})).await;
    assert_eq!(status, 202, "{manual}");
    let run_id = manual["run_id"].as_str().expect("run id").to_owned();
    let records = Records::new(&pipeline.nats);
    let record = eventually("the run to end", || async {
        match records.get(&run_id).await {
            Ok(Some(r)) if r.is_done() => Ok(r),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{run_id}/log"), Value::Null)
        .await;
    let lines = log["lines"]
        .as_array()
        .map(|l| l.iter().map(|x| x["line"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default();
    (record, lines)
}

const ESCAPES: &str = r#"set +e
try() { if sh -c "$2" >/dev/null 2>&1; then echo "ESCAPED $1"; else echo "contained $1"; fi; }
try host_file 'cat "$HOST_SECRET"'
try executor_home 'ls -A /root | grep -q .'
try shadow 'cat /etc/shadow'
try other_run 'ls "$WORK_ROOT" | grep -q decoy'
try nats_url 'cat /proc/*/environ /proc/*/cmdline 2>/dev/null | od -An -tx1 | tr -d " \n" | grep -q "$NATS_HEX"'
try host_processes '[ "$(ls /proc | grep -c "^[0-9]")" -gt 12 ]'
try settings 'env | grep -q "^HOOKLINE_NATS\|^HOOKLINE_EXECUTOR"'
# Joined at run time, so this script (visible in the sandbox) never holds it.
export NEEDLE="$(printf 'git-scoped-%s' 'value-123')"
try git_secret 'env | grep -v "^NEEDLE=" | grep -q "$NEEDLE" || grep -rqs "$NEEDLE" "$HOOKLINE_WORKSPACE/.." /tmp "$HOME"'
try git_push 'cd "$HOOKLINE_WORKSPACE" && git init -q pushme && cd pushme && git -c user.name=x -c user.email=x@x commit -q --allow-empty -m x && git push -q "$REMOTE" HEAD:main'
try write_system 'touch /usr/hookline-escape'
try write_outside 'touch "$OUT/escaped"'
try network 'python3 -c "import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=2)"'
echo "agent token ${AGENT_TOKEN:-missing}"
touch "$HOOKLINE_WORKSPACE/inside" && echo "wrote inside""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_agent_cannot_leave_its_sandbox() {
    let dir = tempfile::tempdir().expect("dir");
    let (out, work) = (dir.path().join("out"), dir.path().join("work"));
    std::fs::create_dir_all(work.join("run-decoy-folder")).expect("decoy");
    std::fs::create_dir_all(&out).expect("out");
    let secret = dir.path().join("host-secret.txt");
    std::fs::write(&secret, "hunter2").expect("secret");
    let bin = dir.path().join("bin").tap_mkdir();
    let agent = bin.join("hostile.sh").display().to_string();
    let pipeline = Pipeline::start_services(&catalog(&agent, &out, &secret, ""), &[], &[Service::Admin]).await;
    // Written now that the executor's NATS URL is known; as hex, so the
    // check itself never spells it.
    let needle = hex::encode(pipeline.server.url().as_bytes());
    // A repository on the host the agent would push to by itself.
    let remote = dir.path().join("remote.git");
    let made = std::process::Command::new("git")
        .args(["init", "--bare", "-q"])
        .arg(&remote)
        .status()
        .expect("git");
    assert!(made.success());
    script(
        &bin,
        "hostile.sh",
        &format!(
            "export WORK_ROOT={}\nexport NATS_HEX={needle}\nexport REMOTE={}\n{ESCAPES}",
            work.display(),
            remote.display()
        ),
    );
    // The executor as a real process, its settings in its environment as
    // in a deployment: what a leak would expose.
    let env: std::collections::HashMap<String, String> = [
        ("HOOKLINE_NATS_URL", pipeline.server.url()),
        ("HOOKLINE_EXECUTOR_WORKDIR", work.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let _executor = ServiceProcess::start("hookline-executor", &env, dir.path());
    let (record, lines) = run_once(&pipeline).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{lines:?}");
    let escaped: Vec<&String> = lines.iter().filter(|l| l.starts_with("ESCAPED")).collect();
    assert!(escaped.is_empty(), "escapes: {escaped:?}\n{lines:?}");
    for what in [
        "host_file",
        "executor_home",
        "other_run",
        "nats_url",
        "settings",
        "write_system",
        "write_outside",
        "network",
        "host_processes",
        "git_secret",
        "shadow",
        "git_push",
    ] {
        assert!(
            lines.contains(&format!("contained {what}")),
            "{what} not tried: {lines:?}"
        );
    }
    assert!(lines.contains(&"wrote inside".to_owned()), "{lines:?}");
    // An agent-scoped secret is there; the output shows it only because
    // this test prints it.
    assert!(
        lines.contains(&"agent token agent-scoped-value-456".to_owned()),
        "{lines:?}"
    );
    assert!(!out.join("escaped").exists());
}

trait Mkdir {
    fn tap_mkdir(self) -> Self;
}

impl Mkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).expect("mkdir");
        self
    }
}

async fn ends_with_limit(body: &str, limits: &str, expected: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(dir.path(), "agent.sh", body);
    let extra = format!("limits = {{ {limits} }}");
    let catalog = catalog(&agent, dir.path(), dir.path(), &extra);
    let pipeline = Pipeline::start_services(&catalog, &[], &[Service::Admin, Service::Executor]).await;
    let (record, lines) = run_once(&pipeline).await;
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::Failed, "resource_limit"),
        "{lines:?}"
    );
    assert!(lines.contains(&format!("resource limit hit: {expected}")), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fork_bomb_ends_the_run_at_its_process_limit() {
    ends_with_limit(
        "i=0; while [ $i -lt 200 ]; do sleep 5 & i=$((i+1)); done; wait",
        "processes = 32",
        "processes",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_memory_hog_ends_the_run_at_its_memory_limit() {
    ends_with_limit(
        "python3 -c 'x = bytearray(512 * 1024 * 1024); print(len(x))'",
        "memory = \"64M\"",
        "memory",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_bubblewrap_sandboxed_runs_fail_and_unsandboxed_ones_say_so() {
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(dir.path(), "agent.sh", "echo ran");
    let catalog = catalog(&agent, dir.path(), dir.path(), "");
    let settings = [("HOOKLINE_BWRAP", "/nonexistent/bwrap")];
    let pipeline = Pipeline::start_services(&catalog, &settings, &[Service::Admin, Service::Executor]).await;
    let (record, lines) = run_once(&pipeline).await;
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::Failed, "sandbox_unavailable"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("install the `bubblewrap` package")),
        "{lines:?}"
    );

    let none = crate::sandbox::catalog(&agent, dir.path(), dir.path(), "sandbox = \"none\"");
    let pipeline = Pipeline::start_services(&none, &settings, &[Service::Admin, Service::Executor]).await;
    let (record, lines) = run_once(&pipeline).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("WARNING: sandbox = \"none\"")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_egress_proxy_lets_a_run_reach_only_its_allowed_hosts() {
    use hookline_model::subjects::StreamKind;
    use hookline_proto::{Event, Message as _};
    let allowed = hookline_tests::Receiver::start(|_, _| 200).await;
    let port = allowed
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .expect("port")
        .to_owned();
    let dir = tempfile::tempdir().expect("dir");
    // Speaks to the proxy by hand, so no client library's proxy rules
    // (NO_PROXY for localhost) get in the way of what is tested.
    let body = format!(
        r#"python3 - <<'PY'
import socket
def ask(line):
    s = socket.create_connection(("127.0.0.1", 3128), timeout=5)
    s.sendall(line.encode())
    print("PROXY", s.recv(4096).decode(errors="replace").split("\r\n")[0])
ask("GET http://localhost:{port}/hello HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n")
ask("CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n")
PY"#
    );
    let agent = script(dir.path(), "agent.sh", &body);
    let text = format!(
        r#"
[profiles.p]
egress = ["localhost:{port}"]

[agents.hostile]
prompt = "x"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "p"
"#
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    let settings = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1,::1")];
    let pipeline = Pipeline::start_services(&catalog, &settings, &[Service::Admin, Service::Executor]).await;
    let (record, lines) = run_once(&pipeline).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{lines:?}");
    assert!(lines.contains(&"PROXY HTTP/1.1 200 OK".to_owned()), "{lines:?}");
    assert!(lines.contains(&"PROXY HTTP/1.1 403 Forbidden".to_owned()), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("egress refused: evil.example:443")),
        "{lines:?}"
    );
    assert_eq!(allowed.received().len(), 1, "the allowed host was reached once");
    let completed = pipeline
        .stream_messages(StreamKind::Events)
        .await
        .iter()
        .filter_map(|m| Event::decode(m.payload.as_ref()).ok())
        .find(|e| e.r#type == "run.completed" && e.run_id == record.run_id)
        .expect("run.completed");
    let data: Value = serde_json::from_slice(&completed.data_json).expect("data");
    assert_eq!(data["blocked_hosts"], json!(["evil.example:443"]));
}

/// An agent CLI installed from npm is a link in `node_modules/.bin` to a
/// script inside its package, next to its dependencies: the sandbox shows
/// that package read-only, so the link runs; a program that is not there
/// fails at once with `agent_not_found`, naming where it was looked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_npm_installed_agent_runs_and_a_missing_one_is_named() {
    use std::os::unix::fs::PermissionsExt as _;
    let tools = tempfile::tempdir().expect("tools");
    let modules = tools.path().join("node_modules");
    let package = modules.join("@acme/agent-cli");
    std::fs::create_dir_all(package.join("lib")).expect("package");
    std::fs::create_dir_all(modules.join("left-pad")).expect("dependency");
    std::fs::write(modules.join("left-pad/index.txt"), "a dependency").expect("dependency file");
    let cli = package.join("cli.sh");
    std::fs::write(
        &cli,
        "#!/bin/sh\nhere=$(dirname \"$(readlink -f \"$0\")\")\necho \"CLI RAN from $here\"\ncat \"$here/../../left-pad/index.txt\"; echo\n",
    )
    .expect("cli");
    std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::create_dir_all(modules.join(".bin")).expect(".bin");
    std::os::unix::fs::symlink("../@acme/agent-cli/cli.sh", modules.join(".bin/agent-cli")).expect("link");
    let link = modules.join(".bin/agent-cli");
    let out = tempfile::tempdir().expect("out");
    let catalog = catalog(&link.display().to_string(), out.path(), out.path(), "");
    let pipeline = Pipeline::start_services(&catalog, &[], &[Service::Admin, Service::Executor]).await;
    let (record, lines) = run_once(&pipeline).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("CLI RAN from") && l.ends_with("@acme/agent-cli")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"a dependency".to_owned()),
        "its dependencies are there too: {lines:?}"
    );

    std::fs::remove_file(&cli).expect("uninstall");
    let (record, lines) = run_once(&pipeline).await;
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::Failed, "agent_not_found"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("looked at {}", link.display()))),
        "{lines:?}"
    );
}

/// A run has no network but loopback: a name lookup gets "no such name"
/// at once from the sandbox's own name server (glibc's EAI_NONAME, not the
/// EAI_AGAIN of a server that never answers), and so does a resolver that
/// queries the name server itself over an unconnected socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_name_lookup_in_the_sandbox_is_answered_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(
        dir.path(),
        "agent.sh",
        r#"python3 - <<'PY'
import socket
try:
    socket.getaddrinfo("example.com", 443)
    print("RESOLVED")
except socket.gaierror as e:
    print("LOOKUP", "no such name" if e.errno == socket.EAI_NONAME else f"other {e}")
server = [l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver")][0]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
query = bytes.fromhex("beef01000001000000000000") + b"\x07example\x03com\x00\x00\x01\x00\x01"
s.sendto(query, (server, 53))
try:
    answer = s.recv(512)
    print("RAW", "id", answer[:2].hex(), "rcode", answer[3] & 15)
except OSError as e:
    print("RAW no answer", e)
PY"#,
    );
    let catalog = catalog(&agent, dir.path(), dir.path(), "");
    let pipeline = Pipeline::start_services(&catalog, &[], &[Service::Admin, Service::Executor]).await;
    let (record, lines) = run_once(&pipeline).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{lines:?}");
    assert!(lines.contains(&"LOOKUP no such name".to_owned()), "{lines:?}");
    assert!(lines.contains(&"RAW id beef rcode 3".to_owned()), "{lines:?}");
}
