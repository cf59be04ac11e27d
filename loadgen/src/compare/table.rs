//! The comparison tables: one per scenario (a row per figure, a column per server, and the
//! ratio ours/Janus), and a Markdown summary of every scenario for `docs/benchmarks.md`.

use super::{Metrics, Outcome};

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
    let concord = find(outcomes, "concord").and_then(|o| o.metrics.as_ref());
    let janus = find(outcomes, "janus").and_then(|o| o.metrics.as_ref());
    let both = find(outcomes, "concord").is_some() && find(outcomes, "janus").is_some();
    out += &format!("{:<34}", "");
    for o in outcomes {
        out += &format!("{:>12}", o.server);
    }
    if both {
        out += &format!("{:>12}", "ours/janus");
    }
    out.push('\n');
    for row in ROWS {
        out += &format!("{:<34}", row.label);
        for o in outcomes {
            let v = o.metrics.as_ref().and_then(row.value);
            out += &format!("{:>12}", fmt(v, row.decimals));
        }
        if both {
            let r = ratio(concord.and_then(row.value), janus.and_then(row.value));
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
        let concord = find(&mine, "concord").and_then(|o| o.metrics.as_ref());
        let janus = find(&mine, "janus").and_then(|o| o.metrics.as_ref());
        if let (Some(c), Some(j)) = (concord, janus) {
            let r = |f: fn(&Metrics) -> Option<f64>| fmt(ratio(f(c), f(j)), 2);
            out += &format!(
                "| {scenario} | ours/janus | {} | {} | {} | {} ({}) | {} | {} | {} / {} |\n",
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
    }
}
