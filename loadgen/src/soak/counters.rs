//! What the churn did, counted as it happens (the rooms run concurrently) and read at the end
//! or for a progress line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// Failures quoted in the report; the rest are only counted.
const FAILURES_KEPT: usize = 20;

#[derive(Debug, Default)]
pub(super) struct ChurnCounters {
    pub sessions_opened: AtomicU64,
    pub sessions_ended: AtomicU64,
    pub joins: AtomicU64,
    pub leaves: AtomicU64,
    pub reconnects: AtomicU64,
    pub drops_seen: AtomicU64,
    pub recordings_started: AtomicU64,
    pub recordings_stopped: AtomicU64,
    pub media_bytes_received: AtomicU64,
    failures: AtomicU64,
    first_failures: Mutex<Vec<String>>,
}

pub(super) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl ChurnCounters {
    /// Counts a step that failed and keeps the first few descriptions.
    pub(super) fn failed(&self, what: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut kept) = self.first_failures.lock() {
            if kept.len() < FAILURES_KEPT {
                kept.push(what);
            }
        }
    }

    pub(super) fn snapshot(&self) -> ChurnCounts {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ChurnCounts {
            sessions_opened: read(&self.sessions_opened),
            sessions_ended: read(&self.sessions_ended),
            joins: read(&self.joins),
            leaves: read(&self.leaves),
            reconnects: read(&self.reconnects),
            drops_seen: read(&self.drops_seen),
            recordings_started: read(&self.recordings_started),
            recordings_stopped: read(&self.recordings_stopped),
            media_bytes_received: read(&self.media_bytes_received),
            failures: read(&self.failures),
            first_failures: self
                .first_failures
                .lock()
                .map(|kept| kept.clone())
                .unwrap_or_default(),
        }
    }
}

/// What the churn did over a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChurnCounts {
    pub sessions_opened: u64,
    pub sessions_ended: u64,
    /// Parties that joined and connected their media (rejoins included).
    pub joins: u64,
    pub leaves: u64,
    /// Seats resumed after a dropped connection, media flowing again.
    pub reconnects: u64,
    /// `participant_reconnecting` messages the hosts received: the drops the server saw.
    pub drops_seen: u64,
    pub recordings_started: u64,
    /// Recordings stopped and filed (the state back to `off`).
    pub recordings_stopped: u64,
    /// Media the parties received, counted as each one left.
    pub media_bytes_received: u64,
    /// Steps that failed, and the first few of them.
    pub failures: u64,
    pub first_failures: Vec<String>,
}

impl ChurnCounts {
    /// One line: what happened.
    pub fn line(&self) -> String {
        format!(
            "{} sessions opened, {} ended; {} joins, {} leaves, {} reconnects ({} drops seen by \
             the hosts); {} recordings started, {} stopped; {:.1} MB of media received; {} \
             failures",
            self.sessions_opened,
            self.sessions_ended,
            self.joins,
            self.leaves,
            self.reconnects,
            self.drops_seen,
            self.recordings_started,
            self.recordings_stopped,
            self.media_bytes_received as f64 / 1e6,
            self.failures
        )
    }
}
