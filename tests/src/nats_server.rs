//! A real nats-server for tests: JetStream on, a free port, a temporary
//! store, killed on drop. It can be stopped and started again on the same
//! port and store, to test what happens while NATS is away. A
//! [`NatsCluster`] is three (or more) of them routed into one JetStream
//! cluster.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hookline_bus::settings::NatsSettings;

/// The workspace root, where the project-local nats-server is installed.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A running nats-server owned by one test.
pub struct NatsServer {
    bin: PathBuf,
    port: u16,
    store: tempfile::TempDir,
    /// Cluster flags, when it is a cluster's node.
    extra: Vec<String>,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a server with JetStream on a free port.
    pub fn start() -> Self {
        let mut server = Self::new(free_port(), Vec::new());
        server.spawn();
        server
    }

    fn new(port: u16, extra: Vec<String>) -> Self {
        let bin = hookline::nats_server::find_or_install(&workspace_root())
            .unwrap_or_else(|e| panic!("nats-server for tests: {e}"));
        let store = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        Self {
            bin,
            port,
            store,
            extra,
            child: None,
        }
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.store.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Settings pointing at this server, every other value at its default.
    pub fn settings(&self) -> NatsSettings {
        NatsSettings::for_url(&self.url())
    }

    /// Kills the server (SIGKILL, as a crash); its store stays for
    /// [`NatsServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A JetStream cluster of real nats-servers on loopback, each with its own
/// store; any node can be killed and started again.
pub struct NatsCluster {
    /// Its nodes.
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` nodes routed to each other.
    pub fn start(size: usize) -> Self {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let mut nodes: Vec<NatsServer> = ports
            .iter()
            .enumerate()
            .map(|(i, (port, route))| {
                let routes: Vec<String> = ports
                    .iter()
                    .filter(|(p, _)| p != port)
                    .map(|(_, r)| format!("nats://127.0.0.1:{r}"))
                    .collect();
                let extra = vec![
                    "--name".to_owned(),
                    format!("node-{i}"),
                    "--cluster_name".to_owned(),
                    "hookline-test".to_owned(),
                    "--cluster".to_owned(),
                    format!("nats://127.0.0.1:{route}"),
                    "--routes".to_owned(),
                    routes.join(","),
                ];
                NatsServer::new(*port, extra)
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        Self { nodes }
    }

    /// Every node's URL, comma-separated, as `HOOKLINE_NATS_URL` takes them.
    pub fn url(&self) -> String {
        self.nodes.iter().map(NatsServer::url).collect::<Vec<_>>().join(",")
    }
}
