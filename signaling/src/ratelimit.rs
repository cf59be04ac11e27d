//! Counts failed token look-ups per client address in a sliding one-minute window, so
//! invitation tokens cannot be guessed by brute force.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Forget addresses beyond this many (oldest first) so an attacker cannot grow the map.
const MAX_TRACKED: usize = 10_000;

pub struct FailureLimiter {
    limit: u32,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    pub fn new(limit: u32) -> FailureLimiter {
        FailureLimiter {
            limit,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this address has used up its failures for the current window.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.get(&ip).is_some_and(|(since, count)| {
            now.duration_since(*since) < WINDOW && *count >= self.limit
        })
    }

    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
        }
        let entry = failures.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_and_forgets_after_a_minute() {
        let limiter = FailureLimiter::new(3);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let start = Instant::now();
        for _ in 0..3 {
            assert!(!limiter.is_blocked(ip, start));
            limiter.record_failure(ip, start);
        }
        assert!(limiter.is_blocked(ip, start));
        assert!(!limiter.is_blocked("192.0.2.2".parse().expect("ip"), start));
        assert!(!limiter.is_blocked(ip, start + WINDOW));
    }
}
