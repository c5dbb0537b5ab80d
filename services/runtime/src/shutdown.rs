//! Shutdown is a token passed in, never a global. `main` cancels it on
//! SIGINT or SIGTERM; tests cancel it directly.

use std::time::Duration;

pub use tokio_util::sync::CancellationToken;

/// How long a service may take to finish work in hand after shutdown.
pub const GRACE: Duration = Duration::from_secs(30);

/// Resolves on SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// A token cancelled on the first SIGINT or SIGTERM.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        signal().await;
        tracing::info!("Shutdown requested; finishing work in hand.");
        cancel.cancel();
    });
    token
}
