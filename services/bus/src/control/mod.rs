//! Operations on a running installation that go through NATS alone, so the
//! CLI and the admin API can perform them without depending on a service:
//! cancelling a run (answered by the executor that has it) and replaying
//! dead letters.

pub mod replay;

use std::time::Duration;

use bytes::Bytes;

use crate::nats::Nats;

/// Cancels a run wherever it runs: `Ok(true)` when an executor had it and
/// killed its process group, `Ok(false)` when none answered in `timeout`.
pub async fn cancel_run(nats: &Nats, run_id: &str, timeout: Duration) -> Result<bool, async_nats::RequestError> {
    let request = async_nats::Request::new()
        .payload(Bytes::from(run_id.to_owned()))
        .timeout(Some(timeout));
    match nats.client.send_request(nats.subjects.control_cancel(), request).await {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                async_nats::RequestErrorKind::TimedOut | async_nats::RequestErrorKind::NoResponders
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
