//! The server's mark that it is running, written every few seconds, so that a start after a
//! stop nobody saw coming (a crash, `kill -9`) knows about when it was. The seats of members
//! who were connected then are held for the grace period from that moment, as if their
//! connections had dropped with it: clients that reconnect within it take their seats back.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::secrets::now_ms;
use crate::store::{Store, StoreResult};

/// How often the mark is written for a grace period of `grace`: often enough that the time it
/// may lag behind the stop is small beside the grace.
pub fn mark_every(grace: Duration) -> Duration {
    (grace / 4).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

/// At start, before anyone connects: the seats of the last run's connected members are held
/// for `grace` from its last mark (plus the time it may have run on after it). Returns how many
/// seats are held.
pub async fn hold_seats_of_last_run(store: &Store, grace: Duration) -> StoreResult<u64> {
    let now = now_ms();
    let every = mark_every(grace);
    // No mark: no run of this version has written seats yet.
    let stopped_at = store.last_alive().await?.unwrap_or(now);
    let slack = i64::try_from((grace + every).as_millis()).unwrap_or(i64::MAX);
    store
        .hold_seats_of_stopped_run(stopped_at, stopped_at.saturating_add(slack), now)
        .await
}

/// The task writing the mark; [`Liveness::stop`] writes a last one and ends it.
pub struct Liveness {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Liveness {
    /// Writes the mark now and every `every`.
    pub fn start(store: Store, every: Duration) -> Liveness {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => mark(&store).await,
                    _ = &mut stopped => break,
                }
            }
            // A graceful stop: the seats are held from this moment.
            mark(&store).await;
        });
        Liveness { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the liveness task failed");
        }
    }
}

async fn mark(store: &Store) {
    if let Err(error) = store.mark_alive(now_ms()).await {
        // A missed mark only shortens how long seats are held after a crash.
        tracing::warn!(%error, "could not write the liveness mark");
    }
}
