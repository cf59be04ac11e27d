//! Whether a series of readings drifts: the least-squares slope of a series sampled over a long
//! run, per hour, after a warm-up that is left out (an allocator filling its arenas and caches
//! filling up at the start grow memory once; counted in, that growth would read as a leak).
//!
//! A leak shows as a slope that stays positive in both halves of the measured part; growth that
//! levels off shows a slope in the whole that fades in the second half. So each summary gives
//! both.

use serde::Serialize;

const SECONDS_PER_HOUR: f64 = 3600.0;

/// The least-squares slope of `y` over `x` (`points` are `(x, y)`); `None` with fewer than two
/// distinct `x`.
pub fn least_squares_slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (x, y) in points {
        covariance += (x - mean_x) * (y - mean_y);
        variance += (x - mean_x) * (x - mean_x);
    }
    // Every x equal (or a span too short to hold a float's difference): no line to fit.
    (variance > f64::EPSILON).then(|| covariance / variance)
}

/// One series over the measured part of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSummary {
    pub name: String,
    pub unit: String,
    pub samples: usize,
    /// The first and last readings of the measured part, its lowest and highest.
    pub start: f64,
    pub end: f64,
    pub min: f64,
    pub max: f64,
    /// Least-squares slope, units per hour, over the measured part and over its second half.
    pub slope_per_hour: Option<f64>,
    pub second_half_slope_per_hour: Option<f64>,
}

/// Summarizes `points` (`(seconds since the start, reading)`, in time order), leaving out those
/// before `measured_from` seconds; `None` when nothing is left.
pub fn summarize(
    name: &str,
    unit: &str,
    points: &[(f64, f64)],
    measured_from: f64,
) -> Option<SeriesSummary> {
    let measured: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(t, _)| *t >= measured_from)
        .collect();
    let (&(_, start), &(_, end)) = (measured.first()?, measured.last()?);
    let per_hour = |points: &[(f64, f64)]| {
        let in_hours: Vec<(f64, f64)> = points
            .iter()
            .map(|(t, y)| (t / SECONDS_PER_HOUR, *y))
            .collect();
        least_squares_slope(&in_hours)
    };
    let second_half = &measured[measured.len() / 2..];
    Some(SeriesSummary {
        name: name.to_owned(),
        unit: unit.to_owned(),
        samples: measured.len(),
        start,
        end,
        min: measured
            .iter()
            .map(|(_, y)| *y)
            .fold(f64::INFINITY, f64::min),
        max: measured
            .iter()
            .map(|(_, y)| *y)
            .fold(f64::NEG_INFINITY, f64::max),
        slope_per_hour: per_hour(&measured),
        second_half_slope_per_hour: per_hour(second_half),
    })
}

/// The summaries as a table: one row per series.
pub fn table(series: &[SeriesSummary]) -> String {
    let slope = |s: Option<f64>| s.map_or("-".to_owned(), |s| format!("{s:+.2}"));
    let mut out = format!(
        "{:<16} {:>10} {:>10} {:>10} {:>10} {:>12} {:>20}\n",
        "series", "start", "end", "min", "max", "slope/hour", "2nd half slope/hour"
    );
    for s in series {
        out += &format!(
            "{:<16} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>12} {:>20}\n",
            format!("{} ({})", s.name, s.unit),
            s.start,
            s.end,
            s.min,
            s.max,
            slope(s.slope_per_hour),
            slope(s.second_half_slope_per_hour),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_straight_line_gives_its_slope() {
        let points: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 3.0 * f64::from(i) + 7.0))
            .collect();
        let slope = least_squares_slope(&points).expect("a slope");
        assert!((slope - 3.0).abs() < 1e-9, "{slope}");
    }

    #[test]
    fn noise_around_a_level_has_no_slope_to_speak_of() {
        // Up and down by the same amounts, symmetric in time.
        let points = [
            (0.0, 10.0),
            (1.0, 12.0),
            (2.0, 8.0),
            (3.0, 8.0),
            (4.0, 12.0),
            (5.0, 10.0),
        ];
        let slope = least_squares_slope(&points).expect("a slope");
        assert!(slope.abs() < 1e-9, "{slope}");
    }

    #[test]
    fn one_point_or_one_instant_has_no_slope() {
        assert_eq!(least_squares_slope(&[]), None);
        assert_eq!(least_squares_slope(&[(1.0, 5.0)]), None);
        assert_eq!(least_squares_slope(&[(1.0, 5.0), (1.0, 9.0)]), None);
    }

    #[test]
    fn the_warm_up_is_left_out_and_slopes_are_per_hour() {
        // A jump during the first minute, then 60 units over the next hour: 60 per hour.
        let mut points = vec![(0.0, 0.0), (30.0, 500.0)];
        points.extend((0..=60).map(|m| (60.0 + f64::from(m) * 60.0, 1000.0 + f64::from(m))));
        let summary = summarize("rss", "MB", &points, 60.0).expect("a summary");
        assert_eq!(summary.samples, 61);
        assert_eq!((summary.start, summary.end), (1000.0, 1060.0));
        assert_eq!((summary.min, summary.max), (1000.0, 1060.0));
        let slope = summary.slope_per_hour.expect("a slope");
        assert!((slope - 60.0).abs() < 1e-6, "{slope}");
        let second = summary.second_half_slope_per_hour.expect("a slope");
        assert!((second - 60.0).abs() < 1e-6, "{second}");

        // Counted in, the warm-up's jump would have read as a steep climb.
        let with_warm_up = summarize("rss", "MB", &points, 0.0).expect("a summary");
        assert!(with_warm_up.slope_per_hour.expect("a slope") > 60.0);
    }

    #[test]
    fn growth_that_levels_off_fades_in_the_second_half() {
        // Climbs for the first quarter, flat after.
        let points: Vec<(f64, f64)> = (0..=100)
            .map(|i| (f64::from(i) * 36.0, f64::from(i.min(25))))
            .collect();
        let summary = summarize("fds", "count", &points, 0.0).expect("a summary");
        assert!(summary.slope_per_hour.expect("a slope") > 1.0);
        assert_eq!(summary.second_half_slope_per_hour, Some(0.0));
    }

    #[test]
    fn nothing_after_the_warm_up_gives_no_summary() {
        assert_eq!(summarize("x", "count", &[(1.0, 1.0)], 5.0), None);
    }
}
