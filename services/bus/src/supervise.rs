//! One consumer task per configured item (an agent, a subscription), kept in
//! step with the live catalog: started when an item appears, restarted when
//! its consumer settings change, stopped when it goes.

use std::collections::BTreeMap;
use std::future::Future;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::store::CatalogView;
use hookline_model::catalog::Catalog;

/// Runs `start(id, settings, stop)` for every `(id, settings)` that `wanted`
/// reads from the catalog, until `shutdown`; then waits for them all.
pub async fn per_item<S, W, F, Fut>(mut catalog: CatalogView, shutdown: CancellationToken, wanted: W, start: F)
where
    S: PartialEq + Clone,
    W: Fn(&Catalog) -> BTreeMap<String, S>,
    F: Fn(String, S, CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut running: BTreeMap<String, (S, CancellationToken)> = BTreeMap::new();
    let mut tasks = JoinSet::new();
    loop {
        let items = wanted(&catalog.borrow_and_update());
        running.retain(|id, (settings, stop)| {
            let keep = items.get(id) == Some(settings);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for (id, settings) in items {
            if running.contains_key(&id) {
                continue;
            }
            let stop = shutdown.child_token();
            running.insert(id.clone(), (settings.clone(), stop.clone()));
            tasks.spawn(start(id, settings, stop));
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = catalog.changed() => if changed.is_err() { break },
            // Reap finished tasks so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}
