//! Latency samples summarised: count, elapsed wall time, percentiles, rate.

use std::time::Duration;

use serde::Serialize;

/// Operations timed one by one: how many, how long all of them took, and their latencies'
/// percentiles (nearest rank over the sorted samples).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Operations timed.
    pub count: usize,
    /// Wall time from the first operation's start to the last one's end.
    #[serde(rename = "elapsed_us", serialize_with = "micros")]
    pub elapsed: Duration,
    #[serde(rename = "p50_us", serialize_with = "micros")]
    pub p50: Duration,
    #[serde(rename = "p99_us", serialize_with = "micros")]
    pub p99: Duration,
    #[serde(rename = "max_us", serialize_with = "micros")]
    pub max: Duration,
    /// Operations per second of wall time.
    pub rate_per_s: f64,
}

impl Latency {
    /// Summarises `samples`, taken over `elapsed` of wall time. Panics on no samples: a
    /// measurement of nothing is a bug in the caller.
    pub fn from_samples(mut samples: Vec<Duration>, elapsed: Duration) -> Latency {
        assert!(!samples.is_empty(), "a measurement has at least one sample");
        samples.sort_unstable();
        let count = samples.len();
        // A zero elapsed time (a coarse clock) still gives a finite, positive rate.
        let elapsed_s = elapsed.as_secs_f64().max(1e-9);
        Latency {
            count,
            elapsed,
            p50: percentile(&samples, 50),
            p99: percentile(&samples, 99),
            max: samples[count - 1],
            rate_per_s: count as f64 / elapsed_s,
        }
    }
}

/// The `pct`th percentile of non-empty `sorted` samples by nearest rank: the smallest sample
/// with at least `pct`% of the samples at or below it.
pub fn percentile(sorted: &[Duration], pct: u32) -> Duration {
    assert!(!sorted.is_empty(), "percentile of no samples");
    assert!(
        (1..=100).contains(&pct),
        "percentile {pct} is not in 1..=100"
    );
    let rank = (sorted.len() * pct as usize).div_ceil(100);
    sorted[rank.max(1) - 1]
}

pub(crate) fn micros<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_of_a_hundred_samples() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99), Duration::from_millis(99));
        assert_eq!(percentile(&samples, 100), Duration::from_millis(100));
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let samples = ms(&[7]);
        assert_eq!(percentile(&samples, 1), Duration::from_millis(7));
        assert_eq!(percentile(&samples, 99), Duration::from_millis(7));
    }

    #[test]
    fn summary_sorts_samples_and_counts_rate_over_wall_time() {
        let latency = Latency::from_samples(ms(&[30, 10, 20, 40]), Duration::from_secs(2));
        assert_eq!(latency.count, 4);
        assert_eq!(latency.p50, Duration::from_millis(20));
        assert_eq!(latency.p99, Duration::from_millis(40));
        assert_eq!(latency.max, Duration::from_millis(40));
        assert_eq!(latency.rate_per_s, 2.0);
    }
}
