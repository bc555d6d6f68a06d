//! Throttling of failed logins, per user and per client address, in memory.
//!
//! Per replica: N replicas allow N times the budget, which still stops online guessing.

use std::collections::HashMap;
use std::sync::Mutex;

const WINDOW: i64 = 300;
const PER_USER: usize = 5;
const PER_ADDR: usize = 20;
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

impl LoginThrottle {
    /// Whether another attempt for this user from this address may be checked now.
    pub fn allowed(&self, now: i64, user: &str, addr: &str) -> bool {
        let Ok(mut m) = self.failures.lock() else {
            return false;
        };
        let count = |m: &mut HashMap<String, Vec<i64>>, k: &str| {
            m.get_mut(k).map_or(0, |v| {
                v.retain(|t| now - t < WINDOW);
                v.len()
            })
        };
        count(&mut m, &user_key(user)) < PER_USER && count(&mut m, &addr_key(addr)) < PER_ADDR
    }

    pub fn failed(&self, now: i64, user: &str, addr: &str) {
        let Ok(mut m) = self.failures.lock() else {
            return;
        };
        if m.len() >= MAX_KEYS {
            m.retain(|_, v| v.iter().any(|t| now - t < WINDOW));
        }
        for k in [user_key(user), addr_key(addr)] {
            m.entry(k).or_default().push(now);
        }
    }

    pub fn succeeded(&self, user: &str) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(&user_key(user));
        }
    }
}

fn user_key(u: &str) -> String {
    format!("u:{}", u.to_lowercase())
}
fn addr_key(a: &str) -> String {
    format!("a:{a}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_a_user_after_five_failures_and_frees_after_the_window() {
        let t = LoginThrottle::default();
        for _ in 0..5 {
            assert!(t.allowed(100, "bob", "1.2.3.4"));
            t.failed(100, "bob", "1.2.3.4");
        }
        assert!(!t.allowed(101, "BOB", "5.6.7.8"));
        assert!(t.allowed(101, "alice", "1.2.3.4"));
        assert!(t.allowed(100 + WINDOW, "bob", "1.2.3.4"));
    }

    #[test]
    fn locks_an_address_across_users() {
        let t = LoginThrottle::default();
        for i in 0..PER_ADDR {
            t.failed(0, &format!("user{i}"), "9.9.9.9");
        }
        assert!(!t.allowed(1, "fresh", "9.9.9.9"));
        assert!(t.allowed(1, "fresh", "8.8.8.8"));
    }
}
