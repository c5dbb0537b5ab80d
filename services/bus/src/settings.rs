//! Where a service finds NATS and how it lays out its streams: the
//! settings every service reads.

use std::time::Duration;

use hookline_model::settings::Reader;

/// Where a service finds NATS and how it lays out its streams.
#[derive(Clone, Debug)]
pub struct NatsSettings {
    /// `HOOKLINE_NATS_URL`, default `nats://127.0.0.1:4222`: one server or
    /// a comma-separated list of a cluster's servers (any one may be down).
    pub url: String,
    /// `HOOKLINE_PREFIX`, default `hookline`.
    pub prefix: String,
    /// `HOOKLINE_REPLICAS`: 1 alone, 3 in a cluster.
    pub replicas: usize,
    /// `HOOKLINE_STORAGE`: `file` (default) or `memory`.
    pub memory_storage: bool,
    /// `HOOKLINE_DEDUPE_WINDOW` for inbound delivery ids, default 24h.
    pub dedupe_window: Duration,
    /// `HOOKLINE_RETENTION`, default 7 days: how long run logs and run
    /// artifacts are kept.
    pub retention: Duration,
    /// `HOOKLINE_STARTUP_TIMEOUT`, default 60s: how long a service waits at
    /// start for NATS to lay out every stream and bucket before it gives up
    /// (and says which one it could not set up).
    pub startup_timeout: Duration,
}

impl NatsSettings {
    /// Reads the NATS settings every service shares.
    pub fn read(r: &mut Reader<'_>) -> Self {
        let prefix = r.string("HOOKLINE_PREFIX", "hookline");
        if hookline_model::ids::Id::parse(&prefix).is_err() {
            r.problem(format!("HOOKLINE_PREFIX={prefix:?}: use 1-64 of a-z, 0-9, '_' and '-'"));
        }
        let replicas = r.parse("HOOKLINE_REPLICAS", 1usize);
        if !(1..=5).contains(&replicas) {
            r.problem(format!("HOOKLINE_REPLICAS={replicas}: use 1 to 5"));
        }
        let storage = r.string("HOOKLINE_STORAGE", "file");
        if storage != "file" && storage != "memory" {
            r.problem(format!("HOOKLINE_STORAGE={storage:?}: use file or memory"));
        }
        let url = r.string("HOOKLINE_NATS_URL", "nats://127.0.0.1:4222");
        if let Err(e) = nats_servers(&url) {
            r.problem(format!("HOOKLINE_NATS_URL: {e}"));
        }
        Self {
            url,
            prefix,
            replicas,
            memory_storage: storage == "memory",
            dedupe_window: r.duration("HOOKLINE_DEDUPE_WINDOW", Duration::from_secs(24 * 3600)),
            retention: r.duration("HOOKLINE_RETENTION", Duration::from_secs(7 * 24 * 3600)),
            startup_timeout: r.duration("HOOKLINE_STARTUP_TIMEOUT", Duration::from_secs(60)),
        }
    }

    /// Where streams and buckets keep their data.
    pub fn storage_type(&self) -> async_nats::jetstream::stream::StorageType {
        if self.memory_storage {
            async_nats::jetstream::stream::StorageType::Memory
        } else {
            async_nats::jetstream::stream::StorageType::File
        }
    }

    /// Settings for a given URL with every other value at its default.
    pub fn for_url(url: &str) -> Self {
        let url = url.to_owned();
        let lookup = move |k: &str| (k == "HOOKLINE_NATS_URL").then(|| url.clone());
        Self::read(&mut Reader::new(&lookup))
    }
}

/// The servers in a `HOOKLINE_NATS_URL`: one URL, or several separated by
/// commas (as every NATS client accepts).
pub fn nats_servers(text: &str) -> Result<Vec<async_nats::ServerAddr>, String> {
    let servers: Vec<async_nats::ServerAddr> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|e| format!("`{s}` is not a NATS server URL: {e}")))
        .collect::<Result<_, _>>()?;
    if servers.is_empty() {
        return Err("give at least one NATS server URL".to_owned());
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_urls_are_one_server_or_a_list() {
        assert_eq!(nats_servers("nats://127.0.0.1:4222").map(|s| s.len()), Ok(1));
        let cluster = nats_servers("nats://a:4222, nats://b:4223,nats://c:4224").expect("a list");
        assert_eq!(cluster.len(), 3);
        assert!(nats_servers("").is_err());
        assert!(nats_servers("nats://a:notaport").is_err());
    }

    #[test]
    fn every_bad_setting_is_reported_at_once() {
        let lookup = |k: &str| match k {
            "HOOKLINE_PREFIX" => Some("Bad Prefix".to_owned()),
            "HOOKLINE_REPLICAS" => Some("three".to_owned()),
            "HOOKLINE_DEDUPE_WINDOW" => Some("forever".to_owned()),
            _ => None,
        };
        let mut reader = Reader::new(&lookup);
        NatsSettings::read(&mut reader);
        let err = reader.finish().expect_err("three problems");
        assert_eq!(err.0.len(), 3, "{err}");
    }
}
