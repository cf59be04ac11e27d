//! Each participant's connection quality in a live session: the latest report, for the marks
//! everyone sees, and a running summary filed with the session's events when they leave, so the
//! case file shows whether a party could actually hear and be heard.

use std::time::{Duration, Instant};

use concord_sfu::{QualityLevel, QualityReport};
use serde::Serialize;

use super::protocol::QualityEntry;

/// A gap between reports longer than this (the media connection was down) is not counted as
/// time at any level.
const LONGEST_INTERVAL: Duration = Duration::from_secs(10);

/// What the case file keeps of one participant's link.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NetworkSummary {
    pub good_ms: u64,
    pub fair_ms: u64,
    pub poor_ms: u64,
    pub worst_loss_pct: f32,
    pub worst_rtt_ms: Option<u32>,
    pub lowest_downlink_kbps: Option<u32>,
    pub layer_switches: u32,
    pub video_paused_ms: u64,
}

struct Entry {
    id: String,
    latest: QualityReport,
    /// When `latest` arrived.
    at: Instant,
    summary: NetworkSummary,
}

#[derive(Default)]
pub struct NetworkLedger {
    entries: Vec<Entry>,
    /// Something worth telling the room arrived since the last `quality` messages.
    changed: bool,
}

impl NetworkLedger {
    pub fn update(&mut self, id: &str, report: QualityReport, now: Instant) {
        let index = match self.entries.iter().position(|e| e.id == id) {
            Some(index) => index,
            None => {
                self.entries.push(Entry {
                    id: id.to_owned(),
                    latest: report.clone(),
                    at: now,
                    summary: NetworkSummary {
                        good_ms: 0,
                        fair_ms: 0,
                        poor_ms: 0,
                        worst_loss_pct: 0.0,
                        worst_rtt_ms: None,
                        lowest_downlink_kbps: None,
                        layer_switches: 0,
                        video_paused_ms: 0,
                    },
                });
                self.changed = true;
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[index];
        let held = now.saturating_duration_since(entry.at);
        if held <= LONGEST_INTERVAL {
            let ms = u64::try_from(held.as_millis()).unwrap_or(u64::MAX);
            match entry.latest.level {
                QualityLevel::Good => entry.summary.good_ms += ms,
                QualityLevel::Fair => entry.summary.fair_ms += ms,
                QualityLevel::Poor => entry.summary.poor_ms += ms,
            }
        }
        let summary = &mut entry.summary;
        summary.worst_loss_pct = summary.worst_loss_pct.max(report.loss_pct);
        summary.worst_rtt_ms = summary.worst_rtt_ms.max(report.rtt_ms);
        summary.lowest_downlink_kbps = match (summary.lowest_downlink_kbps, report.downlink_kbps) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        summary.layer_switches = report.layer_switches;
        summary.video_paused_ms = report.paused_ms;
        self.changed |= entry.latest != report;
        entry.latest = report;
        entry.at = now;
    }

    /// The summary of a participant who leaves; they are forgotten.
    pub fn take(&mut self, id: &str, now: Instant) -> Option<NetworkSummary> {
        let index = self.entries.iter().position(|e| e.id == id)?;
        let latest = self.entries[index].latest.clone();
        // The last level held until now.
        self.update(id, latest, now);
        self.changed = true;
        Some(self.entries.remove(index).summary)
    }

    /// Whether the room should be told, once; clears the mark.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The `quality` entries for one recipient: every level, and details for their own entry
    /// (or every entry, for the host).
    pub fn entries_for(&self, recipient: &str, is_host: bool) -> Vec<QualityEntry> {
        self.entries
            .iter()
            .map(|e| {
                let detailed = is_host || e.id == recipient;
                let report = &e.latest;
                QualityEntry {
                    participant_id: e.id.clone(),
                    level: report.level.as_str(),
                    loss_pct: detailed.then_some((report.loss_pct * 10.0).round() / 10.0),
                    rtt_ms: report.rtt_ms.filter(|_| detailed),
                    downlink_kbps: report.downlink_kbps.filter(|_| detailed),
                    videos_paused: detailed.then_some(report.videos_paused),
                    layer_switches: detailed.then_some(report.layer_switches),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(level: QualityLevel, loss_pct: f32) -> QualityReport {
        QualityReport {
            level,
            loss_pct,
            rtt_ms: Some(80),
            downlink_kbps: Some(900),
            videos_paused: 0,
            layer_switches: 3,
            paused_ms: 1_500,
        }
    }

    #[test]
    fn time_at_each_level_and_the_worst_loss_are_kept_until_leaving() {
        let start = Instant::now();
        let at = |s| start + Duration::from_secs(s);
        let mut ledger = NetworkLedger::default();
        ledger.update("p1", report(QualityLevel::Good, 0.5), at(0));
        ledger.update("p1", report(QualityLevel::Poor, 22.0), at(4));
        ledger.update("p1", report(QualityLevel::Fair, 4.0), at(6));
        // A 30 s hole (media down) counts nowhere.
        ledger.update("p1", report(QualityLevel::Fair, 4.0), at(36));
        let summary = ledger.take("p1", at(38)).expect("a summary");
        assert_eq!(summary.good_ms, 4_000);
        assert_eq!(summary.poor_ms, 2_000);
        assert_eq!(summary.fair_ms, 2_000);
        assert_eq!(summary.worst_loss_pct, 22.0);
        assert_eq!(summary.layer_switches, 3);
        assert_eq!(summary.video_paused_ms, 1_500);
        assert!(ledger.take("p1", at(40)).is_none());
    }

    #[test]
    fn details_go_to_the_participant_and_the_host_only() {
        let now = Instant::now();
        let mut ledger = NetworkLedger::default();
        ledger.update("a", report(QualityLevel::Good, 1.0), now);
        ledger.update("b", report(QualityLevel::Poor, 15.0), now);
        assert!(ledger.take_changed());
        assert!(!ledger.take_changed());
        let for_a = ledger.entries_for("a", false);
        assert_eq!(for_a[0].downlink_kbps, Some(900));
        assert_eq!(for_a[1].level, "poor");
        assert_eq!(for_a[1].loss_pct, None);
        let for_host = ledger.entries_for("h", true);
        assert_eq!(for_host[1].loss_pct, Some(15.0));
    }
}
