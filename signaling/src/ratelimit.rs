//! Counts failures per key (a client address, a username) in a fixed one-minute window, so
//! invitation tokens, resume tokens and passwords cannot be guessed by brute force; and paces
//! what one signaling connection may send.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Keys tracked at most. When full, windows that ended are forgotten first, then the oldest
/// ones: an attacker rotating keys cannot grow the map, only shorten the memory of the others.
const MAX_TRACKED: usize = 10_000;

pub struct FailureLimiter<K = IpAddr> {
    limit: u32,
    failures: Mutex<HashMap<K, (Instant, u32)>>,
}

/// The key an address is counted under: an IPv6 host usually holds a whole /64, so it is
/// counted as one; an IPv4 address as itself.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    pub fn new(limit: u32) -> FailureLimiter<K> {
        FailureLimiter {
            limit,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` has used up its failures for the current window.
    pub fn is_blocked(&self, key: &K, now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.get(key).is_some_and(|(since, count)| {
            now.duration_since(*since) < WINDOW && *count >= self.limit
        })
    }

    pub fn record_failure(&self, key: &K, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED && !failures.contains_key(key) {
            failures.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
            if failures.len() >= MAX_TRACKED {
                let mut ages: Vec<Instant> = failures.values().map(|(since, _)| *since).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 10];
                failures.retain(|_, (since, _)| *since > cut);
            }
        }
        let entry = failures.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.failures.lock().map(|f| f.len()).unwrap_or(0)
    }
}

/// A token bucket for one connection's messages: a burst (joining sends an offer and a dozen
/// candidates at once) and then a steady rate, far above what a page sends and far below what
/// it takes to keep the room's task busy with one client's offers, candidates and mutes.
#[derive(Debug, Clone)]
pub struct MessageBudget {
    burst: f64,
    per_second: f64,
    left: f64,
    at: Instant,
}

impl MessageBudget {
    pub fn new(burst: u32, per_second: u32, now: Instant) -> MessageBudget {
        MessageBudget {
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            left: f64::from(burst),
            at: now,
        }
    }

    /// Takes one message from the budget; false when it is spent.
    pub fn take(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * self.per_second;
        self.left = (self.left + earned).min(self.burst);
        self.at = now;
        if self.left < 1.0 {
            return false;
        }
        self.left -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_budget_allows_a_burst_then_its_rate() {
        let start = Instant::now();
        let mut budget = MessageBudget::new(10, 5, start);
        assert_eq!((0..20).filter(|_| budget.take(start)).count(), 10);
        let later = start + Duration::from_secs(1);
        assert_eq!((0..20).filter(|_| budget.take(later)).count(), 5);
        let much_later = start + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| budget.take(much_later)).count(), 10);
    }

    #[test]
    fn blocks_after_limit_and_forgets_after_a_minute() {
        let limiter = FailureLimiter::new(3);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let start = Instant::now();
        for _ in 0..3 {
            assert!(!limiter.is_blocked(&ip, start));
            limiter.record_failure(&ip, start);
        }
        assert!(limiter.is_blocked(&ip, start));
        assert!(!limiter.is_blocked(&"192.0.2.2".parse().expect("ip"), start));
        assert!(!limiter.is_blocked(&ip, start + WINDOW));
    }

    #[test]
    fn an_ipv6_host_rotating_addresses_in_its_64_is_one_client() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:eeee:dddd:cccc".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(
            address_key(mapped),
            "192.0.2.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn the_map_stays_bounded_when_every_key_is_new_and_live() {
        let limiter = FailureLimiter::<u32>::new(3);
        let start = Instant::now();
        for key in 0..(MAX_TRACKED as u32 + 5_000) {
            limiter.record_failure(&key, start + Duration::from_micros(u64::from(key)));
        }
        assert!(limiter.tracked() <= MAX_TRACKED, "{}", limiter.tracked());
        // The newest are still remembered.
        let last = MAX_TRACKED as u32 + 4_999;
        for _ in 0..2 {
            limiter.record_failure(&last, start + Duration::from_secs(1));
        }
        assert!(limiter.is_blocked(&last, start + Duration::from_secs(1)));
    }
}
