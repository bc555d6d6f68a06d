//! Throttling of failed credential checks, in memory, keyed on what an attacker spends from:
//! the real client address (behind `trustedProxies`), and a user name tried from that address.
//!
//! - An address with many failures (any users) is locked for the window: that is the guesser.
//! - A user name with several failures from one address is locked there, and only there.
//! - A user name with failures from many addresses (a spread-out guess) is slowed down, never
//!   locked: a correct password from an address that has not failed still gets in, after a
//!   short wait. Locking on the name alone would let anyone lock anyone out.
//!
//! Client authentication (`client:ID` names, at `/token`, introspection and revocation) keeps an
//! address budget of its own: behind one NAT, users mistyping passwords or second-factor codes
//! must not lock a backend's confidential client out of `/token`, nor the reverse.
//!
//! Per replica: N replicas allow N times the budget, which still stops online guessing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::ratelimit::address_key;

const WINDOW: i64 = 300;
/// Failures for one user name from one address before that pair is locked.
const PER_USER_AT_ADDRESS: usize = 5;
/// Failures from one address (any user names) before the address is locked.
const PER_ADDRESS: usize = 20;
/// Failures for a user name from anywhere before its attempts are slowed.
const PER_USER: usize = 5;
/// Each failure past `PER_USER` adds this much wait, up to `MAX_WAIT`.
const STEP: Duration = Duration::from_millis(250);
const MAX_WAIT: Duration = Duration::from_secs(3);
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    UserAt(String, u128),
    Address(u128),
    /// The address's budget for client authentication.
    ClientAddress(u128),
}

/// The address budget `name` spends from.
fn address_budget(name: &str, a: u128) -> Key {
    if name.starts_with("client:") {
        Key::ClientAddress(a)
    } else {
        Key::Address(a)
    }
}

/// What to do with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the credentials now.
    Go,
    /// Check them after this wait (the user name is being guessed from elsewhere).
    Slow(Duration),
    /// Refuse without checking: this address has failed too often.
    Locked,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<Key, Vec<i64>>>,
}

fn user(u: &str) -> String {
    u.trim().to_lowercase()
}

impl LoginThrottle {
    /// May an attempt for `name` from `addr` be checked now?
    pub fn check(&self, now: i64, name: &str, addr: IpAddr) -> Verdict {
        // A poisoned lock means a panic elsewhere mid-update: refuse rather than guess.
        let Ok(mut m) = self.failures.lock() else {
            return Verdict::Locked;
        };
        let mut count = |k: Key| {
            m.get_mut(&k).map_or(0, |v| {
                v.retain(|t| now - t < WINDOW);
                v.len()
            })
        };
        let a = address_key(addr);
        let u = user(name);
        if count(address_budget(name, a)) >= PER_ADDRESS
            || count(Key::UserAt(u.clone(), a)) >= PER_USER_AT_ADDRESS
        {
            return Verdict::Locked;
        }
        let spread = count(Key::User(u));
        if spread >= PER_USER {
            let steps = (spread - PER_USER + 1) as u32;
            return Verdict::Slow(STEP.saturating_mul(steps).min(MAX_WAIT));
        }
        Verdict::Go
    }

    pub fn failed(&self, now: i64, name: &str, addr: IpAddr) {
        let Ok(mut m) = self.failures.lock() else {
            return;
        };
        if m.len() >= MAX_KEYS {
            m.retain(|_, v| v.iter().any(|t| now - t < WINDOW));
        }
        let (u, a) = (user(name), address_key(addr));
        for k in [
            Key::User(u.clone()),
            Key::UserAt(u, a),
            address_budget(name, a),
        ] {
            m.entry(k).or_default().push(now);
        }
    }

    /// A correct password: the failures of this name at this address are forgiven. Those from
    /// other addresses stay: the owner logging in does not reset a guesser's slow-down.
    pub fn succeeded(&self, name: &str, addr: IpAddr) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(&Key::UserAt(user(name), address_key(addr)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_name_is_locked_only_at_the_address_that_failed() {
        let t = LoginThrottle::default();
        for _ in 0..PER_USER_AT_ADDRESS {
            assert_ne!(t.check(100, "bob", ip("192.0.2.1")), Verdict::Locked);
            t.failed(100, "bob", ip("192.0.2.1"));
        }
        assert_eq!(t.check(101, "BOB", ip("192.0.2.1")), Verdict::Locked);
        // Elsewhere bob is slowed, not refused; other names are untouched.
        assert!(matches!(
            t.check(101, "bob", ip("198.51.100.7")),
            Verdict::Slow(_)
        ));
        assert_eq!(t.check(101, "alice", ip("192.0.2.1")), Verdict::Go);
        assert_eq!(t.check(100 + WINDOW, "bob", ip("192.0.2.1")), Verdict::Go);
    }

    #[test]
    fn a_spread_out_guess_slows_the_name_down_boundedly() {
        let t = LoginThrottle::default();
        for i in 0..100u8 {
            t.failed(0, "carol", IpAddr::from([203, 0, 113, i]));
        }
        assert_eq!(
            t.check(1, "carol", ip("192.0.2.50")),
            Verdict::Slow(MAX_WAIT)
        );
        assert_eq!(t.check(1, "dave", ip("192.0.2.50")), Verdict::Go);
    }

    #[test]
    fn an_address_that_fails_for_many_names_is_locked_for_all() {
        let t = LoginThrottle::default();
        for i in 0..PER_ADDRESS {
            t.failed(0, &format!("user{i}"), ip("192.0.2.9"));
        }
        assert_eq!(t.check(1, "fresh", ip("192.0.2.9")), Verdict::Locked);
        assert_eq!(t.check(1, "fresh", ip("192.0.2.8")), Verdict::Go);
    }

    #[test]
    fn client_authentication_and_logins_spend_separate_address_budgets() {
        let t = LoginThrottle::default();
        for i in 0..PER_ADDRESS {
            t.failed(0, &format!("user{i}"), ip("192.0.2.9"));
        }
        assert_eq!(t.check(1, "fresh", ip("192.0.2.9")), Verdict::Locked);
        assert_eq!(
            t.check(1, "client:backend", ip("192.0.2.9")),
            Verdict::Go,
            "the backend behind the same NAT still authenticates"
        );
        for i in 0..PER_ADDRESS {
            t.failed(0, &format!("client:c{i}"), ip("192.0.2.7"));
        }
        assert_eq!(t.check(1, "client:other", ip("192.0.2.7")), Verdict::Locked);
        assert_eq!(t.check(1, "fresh", ip("192.0.2.7")), Verdict::Go);
    }

    #[test]
    fn success_forgives_only_its_own_address() {
        let t = LoginThrottle::default();
        for _ in 0..4 {
            t.failed(0, "erin", ip("192.0.2.1"));
            t.failed(0, "erin", ip("192.0.2.2"));
        }
        t.succeeded("erin", ip("192.0.2.1"));
        assert!(matches!(
            t.check(1, "erin", ip("192.0.2.1")),
            Verdict::Slow(_)
        ));
        t.failed(1, "erin", ip("192.0.2.2"));
        assert_eq!(t.check(1, "erin", ip("192.0.2.2")), Verdict::Locked);
    }
}
