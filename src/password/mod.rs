//! Password hashing: argon2id for everything Gantry writes; bcrypt accepted from Dex configs.
//!
//! Hashing is CPU-heavy: callers on async paths go through `EqualCost::check_async`/`hash_async`, which
//! run on the blocking pool so one login never stalls the runtime.
//!
//! And memory-heavy: argon2id with the default parameters works in 19 MiB. Left to allocate per
//! call, a burst of logins grew the process to 600 MB that the allocator kept (200 logins, four
//! at a time). So at most one computation per core runs at once, each in a reused buffer: a burst
//! waits its turn, and memory stays at cores x 19 MiB.

mod equal_cost;

use std::sync::{Condvar, LazyLock, Mutex};

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};

pub use equal_cost::{EqualCost, Work};

/// The reusable argon2 work areas; taking one is the permit to run.
struct Slots {
    free: Mutex<Vec<Vec<Block>>>,
    returned: Condvar,
}

static SLOTS: LazyLock<Slots> = LazyLock::new(|| {
    let n = std::thread::available_parallelism().map_or(2, |n| n.get());
    Slots {
        free: Mutex::new(vec![Vec::new(); n]),
        returned: Condvar::new(),
    }
});

/// Run `f` with a work area, waiting for one if all are in use.
fn with_slot<T>(f: impl FnOnce(&mut Vec<Block>) -> T) -> Option<T> {
    let mut buf = {
        let mut free = SLOTS.free.lock().ok()?;
        loop {
            if let Some(b) = free.pop() {
                break b;
            }
            free = SLOTS.returned.wait(free).ok()?;
        }
    };
    let out = f(&mut buf);
    if let Ok(mut free) = SLOTS.free.lock() {
        free.push(buf);
    }
    SLOTS.returned.notify_one();
    Some(out)
}

/// Check a password against an argon2 PHC hash, in a reused work area.
fn argon2_matches(password: &[u8], h: &PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&h.salt, &h.hash) else {
        return false;
    };
    let (Ok(params), Ok(alg)) = (
        Params::try_from(h),
        Algorithm::try_from(h.algorithm.as_str()),
    ) else {
        return false;
    };
    let version = match h.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let blocks = params.block_count();
    let argon = Argon2::new(alg, version, params);
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    with_slot(|buf| {
        if buf.len() < blocks {
            buf.resize(blocks, Block::new());
        }
        argon
            .hash_password_into_with_memory(password, salt, &mut out, &mut buf[..blocks])
            .is_ok()
            && crate::secret::ct_eq_bytes(&out, expected)
    })
    .unwrap_or(false)
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    /// Correct, and the stored hash is current.
    Ok,
    /// Correct, but stored as bcrypt: the caller should store this argon2id hash instead.
    OkRehash(String),
    Wrong,
}

/// Whether `hash` is a format Gantry can verify.
pub fn is_supported_hash(hash: &str) -> bool {
    hash_problem(hash).is_none()
}

/// bcrypt above this cost is refused, as Dex refuses it (server/passwords): each login, and
/// each refused one for an unknown name, would wait on it.
const MAX_BCRYPT_COST: u32 = 16;
/// argon2id parameters past these are refused for the same reason: one login of a user with
/// `m=2097152` takes 2 GiB and seconds.
const MAX_ARGON2_KIB: u32 = 256 * 1024;
const MAX_ARGON2_TIME: u32 = 10;
const MAX_ARGON2_LANES: u32 = 8;

/// Why a stored hash cannot be used, if it cannot.
pub fn hash_problem(hash: &str) -> Option<String> {
    if let Some(cost) = equal_cost::bcrypt_cost(hash) {
        return (cost > MAX_BCRYPT_COST).then(|| {
            format!(
                "bcrypt cost {cost} is above {MAX_BCRYPT_COST} (Dex's bound too): every login \
                 would wait on it; hash again with cost 10 to 12"
            )
        });
    }
    let Ok(h) = PasswordHash::new(hash) else {
        return Some("hash is neither bcrypt nor argon2id".into());
    };
    if h.algorithm.as_str() != "argon2id" {
        return Some("hash is neither bcrypt nor argon2id".into());
    }
    let param = |name: &str| h.params.get_decimal(name).unwrap_or(0);
    let (m, t, p) = (param("m"), param("t"), param("p"));
    (m > MAX_ARGON2_KIB || t > MAX_ARGON2_TIME || p > MAX_ARGON2_LANES).then(|| {
        format!(
            "argon2id m={m},t={t},p={p} is past m={MAX_ARGON2_KIB},t={MAX_ARGON2_TIME},\
             p={MAX_ARGON2_LANES}: every login would wait on it (`gantry hash-password` \
             makes one that fits)"
        )
    })
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("{0}")]
    Hash(argon2::password_hash::Error),
    /// The pool of hashing memory is poisoned.
    #[error("password hashing is unavailable")]
    Unavailable,
    /// The blocking task that hashes did not finish.
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Hash a password as an argon2id PHC string.
/// `hash` off the async threads: argon2id is slow on purpose.
pub async fn hash_async(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash(&password)).await?
}

pub fn hash(password: &str) -> Result<String, PasswordError> {
    // Rare (new users, upgrades from bcrypt): it allocates its own memory, but waits its turn.
    with_slot(|_| {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(PasswordError::Hash)
    })
    .unwrap_or(Err(PasswordError::Unavailable))
}

/// Check a password; an empty password never matches.
pub fn verify(password: &str, stored: &str) -> Verified {
    verify_counting(password, stored, &mut Work::default())
}

/// `verify`, adding the work it did to `work`.
fn verify_counting(password: &str, stored: &str, work: &mut Work) -> Verified {
    if password.is_empty() {
        return Verified::Wrong;
    }
    if let Some(cost) = equal_cost::bcrypt_cost(stored) {
        work.bcrypt_rounds += 1 << cost;
        return match bcrypt::verify(password, stored) {
            Ok(true) => match hash(password) {
                Ok(h) => Verified::OkRehash(h),
                Err(_) => Verified::Ok,
            },
            _ => Verified::Wrong,
        };
    }
    match PasswordHash::new(stored) {
        Ok(h) => {
            work.argon2id += 1;
            if argon2_matches(password.as_bytes(), &h) {
                Verified::Ok
            } else {
                Verified::Wrong
            }
        }
        Err(_) => Verified::Wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash("hunter2").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(is_supported_hash(&h));
        assert_eq!(verify("hunter2", &h), Verified::Ok);
        assert_eq!(verify("hunter3", &h), Verified::Wrong);
        assert_eq!(verify("", &h), Verified::Wrong);
    }

    #[test]
    fn hashes_with_other_parameters_verify_in_the_shared_work_areas() {
        let params = Params::new(8192, 1, 1, None).unwrap_or_default();
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"s3cret pass")
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(other.contains("m=8192"), "{other}");
        // Bigger and smaller work areas one after the other reuse the same buffers.
        let default = hash("s3cret pass").unwrap_or_default();
        for _ in 0..3 {
            assert_eq!(verify("s3cret pass", &other), Verified::Ok);
            assert_eq!(verify("s3cret pass", &default), Verified::Ok);
            assert_eq!(verify("s3cret pasz", &other), Verified::Wrong);
        }
        // A hash whose output was altered never matches.
        let mut tampered = default.clone();
        let last = tampered
            .pop()
            .map_or('A', |c| if c == 'A' { 'B' } else { 'A' });
        tampered.push(last);
        assert_eq!(verify("s3cret pass", &tampered), Verified::Wrong);
    }

    #[test]
    fn bcrypt_from_dex_verifies_and_asks_for_rehash() {
        // Dex's example hash for "password".
        let h = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";
        assert!(is_supported_hash(h));
        assert!(
            matches!(verify("password", h), Verified::OkRehash(n) if n.starts_with("$argon2id$"))
        );
        assert_eq!(verify("wrong", h), Verified::Wrong);
    }

    #[test]
    fn unknown_hash_formats_and_costs_past_bounds_are_refused() {
        assert!(!is_supported_hash("plaintext"));
        assert!(!is_supported_hash("$1$abc$def"));
        let costly = "$2y$17$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";
        assert!(
            hash_problem(costly)
                .unwrap()
                .contains("bcrypt cost 17 is above 16")
        );
        let big = "$argon2id$v=19$m=2097152,t=3,p=1$c2FsdHNhbHQ$qLml5cbqFAO6YxVHhrSBHP0UWdxrIxkNcM8aMX3blzU";
        assert!(
            hash_problem(big).unwrap().contains("m=2097152"),
            "{:?}",
            hash_problem(big)
        );
    }
}
