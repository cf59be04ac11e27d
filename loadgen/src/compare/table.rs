//! The comparison tables: one per scenario (a row per figure, a column per server, and the
//! ratios ours/Janus and, with recording, recorded/unrecorded), and Markdown summaries of every
//! scenario for `docs/benchmarks.md`.

use super::{Metrics, Outcome, CONCORD_RECORDED};

/// A figure of the table: its label, how to read it, its decimals.
struct Row {
    label: &'static str,
    value: fn(&Metrics) -> Option<f64>,
    decimals: usize,
}

const ROWS: &[Row] = &[
    Row {
        label: "server CPU, % of one core",
        value: |m| Some(m.server_cpu_pct),
        decimals: 1,
    },
    Row {
        label: "CPU per forwarded packet, µs",
        value: |m| m.cpu_us_per_packet,
        decimals: 1,
    },
    Row {
        label: "forwarded packets per CPU-second",
        value: |m| m.packets_per_cpu_s,
        decimals: 0,
    },
    Row {
        label: "forwarded packets/s",
        value: |m| Some(m.forwarded_packets_per_s),
        decimals: 0,
    },
    Row {
        label: "RSS at the end, MB",
        value: |m| Some(m.rss_mb),
        decimals: 1,
    },
    Row {
        label: "RSS per participant, MB",
        value: |m| Some(m.rss_per_seat_mb),
        decimals: 2,
    },
    Row {
        label: "delivered, Mbit/s",
        value: |m| Some(m.mbit_per_s),
        decimals: 2,
    },
    Row {
        label: "loss, %",
        value: |m| Some(m.loss_pct),
        decimals: 2,
    },
    Row {
        label: "whole frames, %",
        value: |m| m.frame_delivery_pct,
        decimals: 1,
    },
    Row {
        label: "freezes",
        value: |m| Some(m.freezes as f64),
        decimals: 0,
    },
    Row {
        label: "delay p50, ms",
        value: |m| m.delay_p50_ms,
        decimals: 2,
    },
    Row {
        label: "delay p99, ms",
        value: |m| m.delay_p99_ms,
        decimals: 2,
    },
    Row {
        label: "generator CPU, % of one core",
        value: |m| Some(m.generator_cpu_pct),
        decimals: 1,
    },
    Row {
        label: "storage writes, MB/s",
        value: |m| m.storage_write_mb_per_s,
        decimals: 3,
    },
    Row {
        label: "recorded files, MB",
        value: |m| m.recorded_mb,
        decimals: 1,
    },
];

/// The ratio columns and rows: a label and the two servers divided.
const RATIOS: &[(&str, &str, &str)] = &[
    ("ours/janus", "concord", "janus"),
    ("rec/unrec", CONCORD_RECORDED, "concord"),
];

/// ours / theirs, when both exist and the division means something.
pub fn ratio(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    match (ours, theirs) {
        (Some(a), Some(b)) if b.abs() > f64::EPSILON && a.is_finite() && b.is_finite() => {
            Some(a / b)
        }
        _ => None,
    }
}

fn fmt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

fn find<'a>(outcomes: &'a [&Outcome], server: &str) -> Option<&'a Outcome> {
    outcomes.iter().copied().find(|o| o.server == server)
}

/// The table of one scenario: `outcomes` are that scenario's, one per server.
pub fn scenario_table(outcomes: &[&Outcome]) -> String {
    let Some(first) = outcomes.first() else {
        return String::new();
    };
    let mut out = first.scenario.clone();
    if let Some(m) = outcomes.iter().find_map(|o| o.metrics.as_ref()) {
        out += &format!(" — {} participants, {:.1} s measured", m.seats, m.seconds);
    }
    out.push('\n');
    // The ratios whose two servers both ran: label, numerator's and denominator's metrics.
    let ratios: Vec<(&str, Option<&Metrics>, Option<&Metrics>)> = RATIOS
        .iter()
        .filter_map(|&(label, ours, theirs)| {
            let ours = find(outcomes, ours)?;
            let theirs = find(outcomes, theirs)?;
            Some((label, ours.metrics.as_ref(), theirs.metrics.as_ref()))
        })
        .collect();
    out += &format!("{:<34}", "");
    for o in outcomes {
        out += &format!("{:>12}", o.server);
    }
    for (label, _, _) in &ratios {
        out += &format!("{label:>12}");
    }
    out.push('\n');
    for row in ROWS {
        let values: Vec<Option<f64>> = outcomes
            .iter()
            .map(|o| o.metrics.as_ref().and_then(row.value))
            .collect();
        if values.iter().all(Option::is_none) {
            continue;
        }
        out += &format!("{:<34}", row.label);
        for v in values {
            out += &format!("{:>12}", fmt(v, row.decimals));
        }
        for (_, ours, theirs) in &ratios {
            let r = ratio(ours.and_then(row.value), theirs.and_then(row.value));
            out += &format!("{:>12}", fmt(r, 2));
        }
        out.push('\n');
    }
    for o in outcomes {
        if let Some(err) = &o.error {
            out += &format!("{} failed: {err}\n", o.server);
        }
    }
    out
}

/// Every scenario in one Markdown table, rows grouped by scenario, with a ratio row where both
/// servers ran.
pub fn markdown_summary(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| scenario | server | server CPU (% of a core) | CPU µs / fwd packet | fwd packets / CPU-s \
         | RSS MB (per participant) | delivered Mbit/s | loss % | delay p50 / p99 ms |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut scenarios: Vec<&str> = Vec::new();
    for o in outcomes {
        if !scenarios.contains(&o.scenario.as_str()) {
            scenarios.push(&o.scenario);
        }
    }
    for scenario in scenarios {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.scenario == scenario).collect();
        for o in &mine {
            let Some(m) = &o.metrics else {
                out += &format!("| {scenario} | {} | failed | | | | | | |\n", o.server);
                continue;
            };
            out += &format!(
                "| {scenario} | {} | {:.1} | {} | {} | {:.1} ({:.2}) | {:.2} | {:.2} | {} / {} |\n",
                o.server,
                m.server_cpu_pct,
                fmt(m.cpu_us_per_packet, 1),
                fmt(m.packets_per_cpu_s, 0),
                m.rss_mb,
                m.rss_per_seat_mb,
                m.mbit_per_s,
                m.loss_pct,
                fmt(m.delay_p50_ms, 2),
                fmt(m.delay_p99_ms, 2),
            );
        }
        for &(label, ours, theirs) in RATIOS {
            let ours = find(&mine, ours).and_then(|o| o.metrics.as_ref());
            let theirs = find(&mine, theirs).and_then(|o| o.metrics.as_ref());
            let (Some(c), Some(j)) = (ours, theirs) else {
                continue;
            };
            let label = if label == "rec/unrec" {
                "recorded/unrecorded"
            } else {
                label
            };
            let r = |f: fn(&Metrics) -> Option<f64>| fmt(ratio(f(c), f(j)), 2);
            out += &format!(
                "| {scenario} | {label} | {} | {} | {} | {} ({}) | {} | {} | {} / {} |\n",
                r(|m| Some(m.server_cpu_pct)),
                r(|m| m.cpu_us_per_packet),
                r(|m| m.packets_per_cpu_s),
                r(|m| Some(m.rss_mb)),
                r(|m| Some(m.rss_per_seat_mb)),
                r(|m| Some(m.mbit_per_s)),
                r(|m| Some(m.loss_pct)),
                r(|m| m.delay_p50_ms),
                r(|m| m.delay_p99_ms),
            );
        }
    }
    out
}

/// What recording cost, one row per scenario with both Concord runs: server CPU unrecorded and
/// recorded and their ratio, CPU per forwarded packet likewise, RSS at the end likewise, the
/// storage writes of both, and the size of what was recorded. Empty without recorded runs.
pub fn recording_summary(outcomes: &[Outcome]) -> String {
    let mut rows = String::new();
    let mut scenarios: Vec<&str> = Vec::new();
    for o in outcomes {
        if !scenarios.contains(&o.scenario.as_str()) {
            scenarios.push(&o.scenario);
        }
    }
    for scenario in scenarios {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.scenario == scenario).collect();
        let plain = find(&mine, "concord").and_then(|o| o.metrics.as_ref());
        let Some(recorded) = find(&mine, CONCORD_RECORDED) else {
            continue;
        };
        let (Some(p), Some(r)) = (plain, recorded.metrics.as_ref()) else {
            rows += &format!("| {scenario} | failed | | | | |\n");
            continue;
        };
        let both = |f: fn(&Metrics) -> Option<f64>, decimals: usize| {
            format!(
                "{} → {} ({})",
                fmt(f(p), decimals),
                fmt(f(r), decimals),
                fmt(ratio(f(r), f(p)), 2)
            )
        };
        rows += &format!(
            "| {scenario} | {} | {} | {} | {} → {} | {} |\n",
            both(|m| Some(m.server_cpu_pct), 1),
            both(|m| m.cpu_us_per_packet, 1),
            both(|m| Some(m.rss_mb), 1),
            fmt(p.storage_write_mb_per_s, 3),
            fmt(r.storage_write_mb_per_s, 3),
            fmt(r.recorded_mb, 1),
        );
    }
    if rows.is_empty() {
        return rows;
    }
    String::from(
        "| scenario | server CPU, % of a core: unrecorded → recorded (ratio) | CPU µs / fwd packet \
         | RSS MB | storage writes MB/s | recorded files MB |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    ) + &rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(cpu_us: f64, rss: f64) -> Metrics {
        Metrics {
            seats: 21,
            seconds: 20.0,
            forwarded_packets: 40_000,
            forwarded_packets_per_s: 2000.0,
            server_cpu_pct: cpu_us * 2000.0 / 1e4,
            cpu_us_per_packet: Some(cpu_us),
            packets_per_cpu_s: Some(1e6 / cpu_us),
            rss_mb: rss,
            rss_idle_mb: 10.0,
            rss_peak_mb: rss,
            rss_per_seat_mb: (rss - 10.0) / 21.0,
            mbit_per_s: 11.0,
            loss_pct: 0.0,
            frame_delivery_pct: Some(100.0),
            freezes: 0,
            delay_p50_ms: Some(1.0),
            delay_p99_ms: Some(4.0),
            generator_cpu_pct: 8.0,
            storage_write_mb_per_s: Some(0.001),
            recorded_mb: None,
        }
    }

    fn recorded(cpu_us: f64, rss: f64) -> Metrics {
        Metrics {
            storage_write_mb_per_s: Some(0.15),
            recorded_mb: Some(3.2),
            ..metrics(cpu_us, rss)
        }
    }

    fn outcome(server: &str, m: Option<Metrics>) -> Outcome {
        Outcome {
            server: server.to_owned(),
            scenario: "fanout, 1 → 20".to_owned(),
            error: m.is_none().then(|| "it broke".to_owned()),
            metrics: m,
            report: None,
        }
    }

    #[test]
    fn ratios_are_ours_over_theirs_and_skip_zero() {
        assert_eq!(ratio(Some(10.0), Some(40.0)), Some(0.25));
        assert_eq!(ratio(Some(0.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
    }

    #[test]
    fn the_scenario_table_has_a_ratio_column() {
        let c = outcome("concord", Some(metrics(10.0, 31.0)));
        let j = outcome("janus", Some(metrics(40.0, 52.0)));
        let table = scenario_table(&[&c, &j]);
        let line = table
            .lines()
            .find(|l| l.starts_with("CPU per forwarded packet"))
            .expect("a CPU row");
        let cells: Vec<&str> = line.split_whitespace().rev().take(3).collect();
        assert_eq!(cells, ["0.25", "40.0", "10.0"]);
        // Loss is 0 on both: no ratio.
        let loss = table.lines().find(|l| l.starts_with("loss")).expect("loss");
        assert!(loss.trim_end().ends_with('-'), "{loss}");
    }

    #[test]
    fn a_failed_server_is_shown_not_dropped() {
        let c = outcome("concord", Some(metrics(10.0, 31.0)));
        let j = outcome("janus", None);
        let table = scenario_table(&[&c, &j]);
        assert!(table.contains("janus failed: it broke"), "{table}");
        let summary = markdown_summary(&[c, j]);
        assert!(summary.contains("| janus | failed |"), "{summary}");
        assert!(
            !summary.contains("ours/janus |"),
            "no ratio row without both"
        );
    }

    #[test]
    fn the_summary_has_a_ratio_row_per_scenario() {
        let c = outcome("concord", Some(metrics(10.0, 31.0)));
        let j = outcome("janus", Some(metrics(40.0, 52.0)));
        let summary = markdown_summary(&[c, j]);
        let row = summary
            .lines()
            .find(|l| l.contains("| ours/janus |"))
            .expect("a ratio row");
        // CPU µs per packet 10 / 40, packets per CPU-second 100000 / 25000.
        assert!(row.contains("| 0.25 | 4.00 |"), "{row}");
        assert!(recording_summary(&[]).is_empty());
    }

    #[test]
    fn recorded_runs_get_a_ratio_over_the_unrecorded_one() {
        let c = outcome("concord", Some(metrics(10.0, 31.0)));
        let r = outcome(CONCORD_RECORDED, Some(recorded(10.5, 34.1)));
        let j = outcome("janus", Some(metrics(40.0, 52.0)));
        let table = scenario_table(&[&c, &r, &j]);
        let header = table.lines().nth(1).expect("a header");
        assert!(
            header.contains("ours/janus") && header.contains("rec/unrec"),
            "{header}"
        );
        let line = table
            .lines()
            .find(|l| l.starts_with("CPU per forwarded packet"))
            .expect("a CPU row");
        let cells: Vec<&str> = line.split_whitespace().rev().take(2).collect();
        // rec/unrec 10.5 / 10, then ours/janus 10 / 40.
        assert_eq!(cells, ["1.05", "0.25"]);
        let summary = markdown_summary(&[c.clone(), r.clone(), j]);
        let row = summary
            .lines()
            .find(|l| l.contains("| recorded/unrecorded |"))
            .expect("a recorded/unrecorded row");
        assert!(row.contains("| 1.05 | 1.05 | 0.95 | 1.10 ("), "{row}");
        let costs = recording_summary(&[c, r]);
        assert!(
            costs.contains("| fanout, 1 → 20 | 2.0 → 2.1 (1.05) | 10.0 → 10.5 (1.05) |"),
            "{costs}"
        );
        assert!(costs.contains("| 0.001 → 0.150 | 3.2 |"), "{costs}");
    }
}
