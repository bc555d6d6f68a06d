//! Every password check costs the same, whichever login it names.
//!
//! Configured users may carry Dex's bcrypt hashes until their first login upgrades them, and one
//! bcrypt check at cost 10 takes several argon2id checks' time: a miss that spent one argon2id
//! told whoever timed it which logins exist. So every check does one argon2id verification and,
//! while any bcrypt hash is known, as much bcrypt work as one check at the highest known cost.
//! The check of the real hash counts toward both; dummy work makes up the rest. bcrypt's work
//! doubles with each cost step, so the difference between two costs is a sum of cheaper
//! checks, and a user at cost 10 is padded to cost 12 by one check at 10 and one at 11.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use argon2::password_hash::phc::PasswordHash;

use super::{Verified, argon2_matches, verify_counting};

/// bcrypt's lowest cost; nothing cheaper can be spent.
const MIN_BCRYPT_COST: u32 = 4;

/// The work one check did: argon2id verifications, and bcrypt work in rounds (2^cost each).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    pub argon2id: u32,
    pub bcrypt_rounds: u64,
}

#[derive(Debug)]
pub struct EqualCost {
    /// 0 while no bcrypt hash is known.
    max_bcrypt_cost: AtomicU32,
    /// An argon2id hash of a random secret, checked when the login has no argon2id hash.
    dummy: String,
}

/// The cost of a bcrypt hash, if it is one.
pub fn bcrypt_cost(hash: &str) -> Option<u32> {
    let mut parts = hash.split('$');
    let (Some(""), Some("2a" | "2b" | "2y")) = (parts.next(), parts.next()) else {
        return None;
    };
    parts
        .next()?
        .parse()
        .ok()
        .filter(|c| (MIN_BCRYPT_COST..=31).contains(c))
}

impl EqualCost {
    /// `known`: the hashes checks may meet (the config's); the database's are learnt as met.
    pub fn new<'a>(known: impl IntoIterator<Item = &'a str>) -> EqualCost {
        let max = known.into_iter().filter_map(bcrypt_cost).max().unwrap_or(0);
        EqualCost {
            max_bcrypt_cost: AtomicU32::new(max),
            dummy: super::hash(&crate::secret::random_token(16)).unwrap_or_default(),
        }
    }

    /// Check `password` against `stored` (`None`: no such user, or one who may not log in),
    /// spending the same work either way.
    pub fn check(&self, password: &str, stored: Option<&str>) -> (Verified, Work) {
        let mut work = Work::default();
        if let Some(c) = stored.and_then(bcrypt_cost) {
            self.max_bcrypt_cost.fetch_max(c, Ordering::Relaxed);
        }
        let verdict = match stored {
            Some(h) => verify_counting(password, h, &mut work),
            None => Verified::Wrong,
        };
        if work.argon2id == 0 {
            // The verdict of the dummy check is ignored; only its cost matters.
            if let Ok(h) = PasswordHash::new(&self.dummy) {
                let _ = argon2_matches(password.as_bytes(), &h);
            }
            work.argon2id += 1;
        }
        let target = match self.max_bcrypt_cost.load(Ordering::Relaxed) {
            0 => 0,
            c => 1u64 << c,
        };
        let mut missing = target.saturating_sub(work.bcrypt_rounds);
        while missing >= 1 << MIN_BCRYPT_COST {
            let cost = missing.ilog2();
            let _ = bcrypt::hash_with_salt(password.as_bytes(), cost, [0; 16]);
            work.bcrypt_rounds += 1 << cost;
            missing -= 1 << cost;
        }
        (verdict, work)
    }

    /// `check` on the blocking pool.
    pub async fn check_async(
        self: Arc<Self>,
        password: String,
        stored: Option<String>,
    ) -> Verified {
        tokio::task::spawn_blocking(move || self.check(&password, stored.as_deref()).0)
            .await
            .unwrap_or(Verified::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bcrypt_at(cost: u32, password: &str) -> String {
        bcrypt::hash(password, cost).unwrap_or_default()
    }

    #[test]
    fn every_outcome_costs_one_argon2id_and_one_bcrypt_at_the_highest_cost() {
        let low = bcrypt_at(4, "right");
        let high = bcrypt_at(6, "right");
        let argon = super::super::hash("right").unwrap_or_default();
        let eq = EqualCost::new([low.as_str(), high.as_str(), argon.as_str()]);
        let expected = Work {
            argon2id: 1,
            bcrypt_rounds: 1 << 6,
        };
        for (stored, password) in [
            (None, "anything"),
            (None, ""),
            (Some(&low), "wrong"),
            (Some(&high), "wrong"),
            (Some(&argon), "wrong"),
            (Some(&low), ""),
        ] {
            let (verdict, work) = eq.check(password, stored.map(String::as_str));
            assert_eq!(verdict, Verified::Wrong, "{stored:?}");
            assert_eq!(work, expected, "{stored:?} {password:?}");
        }
        // The right password passes, at the same cost (and asks for an argon2id rehash of bcrypt).
        let (verdict, work) = eq.check("right", Some(&low));
        assert!(matches!(verdict, Verified::OkRehash(_)), "{verdict:?}");
        assert_eq!(work, expected);
        assert_eq!(eq.check("right", Some(&argon)), (Verified::Ok, expected));
    }

    #[test]
    fn without_bcrypt_a_check_is_one_argon2id() {
        let argon = super::super::hash("right").unwrap_or_default();
        let eq = EqualCost::new([argon.as_str()]);
        let one = Work {
            argon2id: 1,
            bcrypt_rounds: 0,
        };
        assert_eq!(eq.check("x", None).1, one);
        assert_eq!(eq.check("x", Some(&argon)).1, one);
    }

    #[test]
    fn a_costlier_bcrypt_hash_met_later_raises_the_cost_of_every_check_after_it() {
        let eq = EqualCost::new(["$2b$04$abcdefghijklmnopqrstuuJ7lJ2sVd2Y8lBbT9Nq1GdNl6Cq0yM1e"]);
        assert_eq!(eq.check("x", None).1.bcrypt_rounds, 1 << 4);
        let later = bcrypt_at(5, "right");
        assert_eq!(eq.check("x", Some(&later)).1.bcrypt_rounds, 1 << 5);
        assert_eq!(eq.check("x", None).1.bcrypt_rounds, 1 << 5);
    }

    #[test]
    fn bcrypt_costs_are_read_only_from_bcrypt_hashes() {
        assert_eq!(
            bcrypt_cost("$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"),
            Some(10)
        );
        assert_eq!(bcrypt_cost("$2y$31$x"), Some(31));
        assert_eq!(bcrypt_cost("$2y$32$x"), None);
        assert_eq!(bcrypt_cost("$2b$03$x"), None);
        assert_eq!(bcrypt_cost("$argon2id$v=19$m=19456,t=2,p=1$x$y"), None);
        assert_eq!(bcrypt_cost("2a$10$x"), None);
    }
}
