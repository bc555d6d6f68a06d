//! Request rate limits per client address, for the endpoints that take credentials or store
//! something for anyone who asks: the login form, `/token`, introspection and revocation, the
//! device endpoints and the registry's token endpoint.
//!
//! Budgets count what an attacker spends: a confidential client that authenticated spends
//! only its own quota (`perClient`, off by default), so a busy service behind one NAT address
//! gets its tokens; everyone else spends the address's budget. Failed credentials are counted
//! apart, by [`crate::throttle`]. A user name is never a budget key: that would let anyone
//! lock anyone out.
//!
//! Each (endpoint, key) pair has its own budget, a generic cell rate algorithm: one request
//! every `60 / perMinute` seconds on average, up to `burst` at once. In memory, per replica:
//! N replicas allow N times the budget, which still turns a flood into a trickle. The answer
//! to a request over budget is 429 with `Retry-After`, in each endpoint's own error format.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use serde::Deserialize;

/// More keys than this and new ones are refused until old budgets refill: a flood from
/// ever-new addresses cannot grow memory without bound.
const MAX_KEYS: usize = 200_000;

/// The endpoints that are limited; each has its own budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Login,
    Token,
    Introspect,
    Revoke,
    /// `/device/code`: each call stores a pending device request.
    DeviceCode,
    /// The form where people type a device's user code.
    Device,
    Registry,
    /// Refused admin API calls: each is an audit row, so a flood of them is cut off.
    AdminRefusal,
    /// A connection over `connectionsPerAddress`, closed as it was accepted.
    Connection,
}

impl Endpoint {
    pub const ALL: [Endpoint; 9] = [
        Endpoint::Login,
        Endpoint::Token,
        Endpoint::Introspect,
        Endpoint::Revoke,
        Endpoint::DeviceCode,
        Endpoint::Device,
        Endpoint::Registry,
        Endpoint::AdminRefusal,
        Endpoint::Connection,
    ];

    /// The name the metrics label it with (as first shipped: the variant's name).
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Login => "Login",
            Endpoint::Token => "Token",
            Endpoint::Introspect => "Introspect",
            Endpoint::Revoke => "Revoke",
            Endpoint::DeviceCode => "DeviceCode",
            Endpoint::Device => "Device",
            Endpoint::Registry => "Registry",
            Endpoint::AdminRefusal => "AdminRefusal",
            Endpoint::Connection => "Connection",
        }
    }
}

/// One budget: `per_minute` requests a minute on average, `burst` at once; 0 turns it off.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Budget {
    pub per_minute: u32,
    pub burst: u32,
}

/// `rateLimits` in the config file (Gantry's own section).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimitsConfig {
    /// Per client address (an IPv6 client counts by its /64).
    #[serde(default = "default_per_address")]
    pub per_address: Budget,
    /// Per authenticated confidential client, on `/token`, introspection and revocation; off
    /// (0) by default.
    #[serde(default = "default_per_client")]
    pub per_client: Budget,
    /// No longer used: a budget per user name let anyone lock a user out. Failed logins per
    /// user name now slow down instead (see `throttle`). Accepted, with a warning.
    #[serde(default)]
    pub per_user: Option<Budget>,
    /// Proxies whose `X-Forwarded-For` names the client (CIDRs or addresses); without them
    /// the connection's peer address is the client's.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Connections one address may hold open at once (trusted proxies: no limit); 0 turns it off.
    #[serde(default = "default_connections_per_address")]
    pub connections_per_address: u32,
    /// Logins one address may have started and not finished (within `expiry.authRequests`);
    /// 0 turns it off.
    #[serde(default = "default_pending_logins_per_address")]
    pub pending_logins_per_address: u32,
}

// Each unfinished login is a stored row until it expires: this bounds what one address can
// make Gantry keep, far above what an office behind one NAT leaves open in a day.
fn default_pending_logins_per_address() -> u32 {
    1000
}

// A browser opens six per host; a NAT in front of a whole office opens many more.
fn default_connections_per_address() -> u32 {
    512
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            per_address: default_per_address(),
            per_client: default_per_client(),
            per_user: None,
            trusted_proxies: Vec::new(),
            connections_per_address: default_connections_per_address(),
            pending_logins_per_address: default_pending_logins_per_address(),
        }
    }
}

// Generous for people and CI (docker asks one token per repository it touches), small for
// password guessing and floods.
fn default_per_address() -> Budget {
    Budget {
        per_minute: 1200,
        burst: 200,
    }
}

fn default_per_client() -> Budget {
    Budget {
        per_minute: 0,
        burst: 0,
    }
}

/// A network and its prefix length, for `trustedProxies`.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a.parse::<IpAddr>().ok()?, b.parse::<u8>().ok()?),
            None => {
                let a = s.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Cidr { net: addr, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                prefix(u128::from(u32::from(n)) << 96, self.bits)
                    == prefix(u128::from(u32::from(a)) << 96, self.bits)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix(u128::from(n), self.bits) == prefix(u128::from(a), self.bits)
            }
            _ => false,
        }
    }
}

fn prefix(v: u128, bits: u8) -> u128 {
    if bits == 0 {
        0
    } else {
        v >> (128 - u32::from(bits))
    }
}

/// What counts as one client address: an IPv4 address, an IPv6 /64 (one IPv6 client usually
/// holds a whole /64).
pub fn address_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a) >> 64 << 64,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Address(u128),
    Client(u64),
}

/// One warning line per (endpoint, address) and minute, however many requests are refused.
const LOG_EVERY: f64 = 60.0;

/// Budgets in force; answers how long to wait when one is spent.
#[derive(Debug)]
pub struct RateLimits {
    per_address: Budget,
    per_client: Budget,
    proxies: Vec<Cidr>,
    connections_per_address: u32,
    pending_logins_per_address: u32,
    start: Instant,
    /// Theoretical arrival time of the next request per key, in seconds since `start`.
    cells: Mutex<HashMap<(Endpoint, Who), f64>>,
    /// When a refusal was last logged per (endpoint, address), and how many went unlogged since.
    logged: Mutex<HashMap<(Endpoint, u128), (f64, u64)>>,
    /// Keys client ids per process.
    client_key: keyed::Key,
}

/// A `rateLimits` setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("rateLimits.trustedProxies: {0:?} is not an address or CIDR")]
    NotACidr(String),
    #[error("rateLimits.{0}.burst must be at least 1")]
    NoBurst(&'static str),
}

impl RateLimits {
    pub fn new(cfg: &RateLimitsConfig) -> Result<RateLimits, RateLimitError> {
        let proxies = cfg
            .trusted_proxies
            .iter()
            .map(|p| Cidr::parse(p).ok_or_else(|| RateLimitError::NotACidr(p.clone())))
            .collect::<Result<_, _>>()?;
        for (name, b) in [
            ("perAddress", cfg.per_address),
            ("perClient", cfg.per_client),
        ] {
            if b.per_minute > 0 && b.burst == 0 {
                return Err(RateLimitError::NoBurst(name));
            }
        }
        Ok(RateLimits {
            per_address: cfg.per_address,
            per_client: cfg.per_client,
            proxies,
            connections_per_address: cfg.connections_per_address,
            pending_logins_per_address: cfg.pending_logins_per_address,
            start: Instant::now(),
            cells: Mutex::default(),
            logged: Mutex::default(),
            client_key: keyed::Key::random(),
        })
    }

    pub fn connections_per_address(&self) -> u32 {
        self.connections_per_address
    }

    pub fn pending_logins_per_address(&self) -> u32 {
        self.pending_logins_per_address
    }

    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|c| c.contains(ip))
    }

    /// The client's address: the peer, or the last address a trusted proxy chain names.
    pub fn client_address(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.is_trusted_proxy(peer) {
            return peer;
        }
        let Some(chain) = forwarded_for else {
            return peer;
        };
        // Rightmost first: each trusted proxy appended the address it saw.
        let mut client = peer;
        for hop in chain.rsplit(',') {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !self.is_trusted_proxy(ip) {
                break;
            }
        }
        client
    }

    /// `Err(seconds to wait)` when the address's budget for this endpoint is spent.
    pub fn check_address(&self, ep: Endpoint, ip: IpAddr) -> Result<(), u64> {
        self.check(ep, Who::Address(address_key(ip)), self.per_address)
    }

    /// `Err(seconds to wait)` when an authenticated client's own quota is spent.
    pub fn check_client(&self, ep: Endpoint, client_id: &str) -> Result<(), u64> {
        let key = self.client_key.hash(client_id.as_bytes());
        self.check(ep, Who::Client(key), self.per_client)
    }

    /// Whether a refusal for this address should be logged now: `Some(refusals not logged
    /// since the last line)`, at most once a minute per endpoint and address.
    pub fn log_due(&self, ep: Endpoint, ip: IpAddr) -> Option<u64> {
        let now = self.start.elapsed().as_secs_f64();
        let mut logged = self.logged.lock().ok()?;
        let key = (ep, address_key(ip));
        if let Some((at, quiet)) = logged.get_mut(&key) {
            if now - *at < LOG_EVERY {
                *quiet += 1;
                return None;
            }
            let n = *quiet;
            *at = now;
            *quiet = 0;
            return Some(n);
        }
        if logged.len() >= MAX_KEYS {
            logged.retain(|_, (at, _)| now - *at < LOG_EVERY);
            if logged.len() >= MAX_KEYS {
                return None;
            }
        }
        logged.insert(key, (now, 0));
        Some(0)
    }

    fn check(&self, ep: Endpoint, who: Who, b: Budget) -> Result<(), u64> {
        if b.per_minute == 0 {
            return Ok(());
        }
        let interval = 60.0 / f64::from(b.per_minute);
        let tolerance = interval * f64::from(b.burst);
        let now = self.start.elapsed().as_secs_f64();
        // A poisoned lock means a panic elsewhere mid-update: refuse rather than guess.
        let Ok(mut cells) = self.cells.lock() else {
            return Err(1);
        };
        if cells.len() >= MAX_KEYS && !cells.contains_key(&(ep, who)) {
            cells.retain(|_, tat| *tat > now);
            if cells.len() >= MAX_KEYS {
                return Err(interval.ceil().max(1.0) as u64);
            }
        }
        let tat = cells.get(&(ep, who)).copied().unwrap_or(now).max(now);
        let next = tat + interval;
        if next - now > tolerance {
            let wait = next - now - tolerance;
            return Err(wait.ceil().max(1.0) as u64);
        }
        cells.insert((ep, who), next);
        Ok(())
    }
}

/// A keyed 64-bit hash of user names (SipHash-1-3 from std with a random key).
mod keyed {
    use std::hash::{BuildHasher, Hasher};

    #[derive(Debug)]
    pub struct Key(std::collections::hash_map::RandomState);

    impl Key {
        pub fn random() -> Key {
            Key(std::collections::hash_map::RandomState::new())
        }
        pub fn hash(&self, v: &[u8]) -> u64 {
            let mut h = self.0.build_hasher();
            h.write(v);
            h.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, burst: u32, proxies: &[&str]) -> RateLimits {
        RateLimits::new(&RateLimitsConfig {
            per_address: Budget { per_minute, burst },
            per_client: Budget { per_minute, burst },
            trusted_proxies: proxies.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_burst_passes_then_the_next_waits_about_one_interval() {
        let l = limits(60, 3, &[]);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(l.check_address(Endpoint::Token, ip), Ok(()));
        }
        assert_eq!(l.check_address(Endpoint::Token, ip), Err(1));
        // Budgets are per endpoint and per key.
        assert_eq!(l.check_address(Endpoint::Login, ip), Ok(()));
        assert_eq!(
            l.check_address(Endpoint::Token, "192.0.2.2".parse().unwrap()),
            Ok(())
        );
    }

    #[test]
    fn clients_count_apart_and_zero_turns_a_budget_off() {
        let l = limits(1, 1, &[]);
        assert_eq!(l.check_client(Endpoint::Token, "ci"), Ok(()));
        assert_eq!(l.check_client(Endpoint::Token, "ci"), Err(60));
        assert_eq!(l.check_client(Endpoint::Token, "other"), Ok(()));
        let off = limits(0, 0, &[]);
        for _ in 0..1000 {
            assert_eq!(off.check_client(Endpoint::Token, "ci"), Ok(()));
        }
        // The default: no quota for an authenticated client.
        let d = RateLimits::new(&RateLimitsConfig::default()).unwrap();
        for _ in 0..10_000 {
            assert_eq!(d.check_client(Endpoint::Token, "ci"), Ok(()));
        }
    }

    #[test]
    fn refusals_are_logged_once_a_minute_per_address() {
        let l = limits(1, 1, &[]);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        assert_eq!(l.log_due(Endpoint::Token, a), Some(0));
        for _ in 0..1000 {
            assert_eq!(l.log_due(Endpoint::Token, a), None);
        }
        assert_eq!(l.log_due(Endpoint::Token, b), Some(0));
        assert_eq!(l.log_due(Endpoint::Login, a), Some(0));
        // A minute later the next line says how many went unlogged.
        l.logged
            .lock()
            .unwrap()
            .get_mut(&(Endpoint::Token, address_key(a)))
            .unwrap()
            .0 -= LOG_EVERY;
        assert_eq!(l.log_due(Endpoint::Token, a), Some(1000));
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let l = limits(1, 1, &[]);
        assert!(
            l.check_address(Endpoint::Token, "2001:db8::1".parse().unwrap())
                .is_ok()
        );
        assert!(
            l.check_address(Endpoint::Token, "2001:db8::ffff".parse().unwrap())
                .is_err()
        );
        assert!(
            l.check_address(Endpoint::Token, "2001:db8:0:1::1".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let l = limits(1, 1, &["10.0.0.0/8", "192.0.2.7"]);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let xff = Some("203.0.113.9, 198.51.100.4, 10.9.9.9");
        // The rightmost untrusted hop is the client; what it claims before that is not believed.
        assert_eq!(
            l.client_address(proxy, xff),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            l.client_address("192.0.2.7".parse().unwrap(), Some("198.51.100.5")),
            "198.51.100.5".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(l.client_address(stranger, xff), stranger);
        assert_eq!(l.client_address(proxy, Some("not an address")), proxy);
    }

    #[test]
    fn bad_settings_are_refused() {
        let cfg = RateLimitsConfig {
            trusted_proxies: vec!["10.0.0.0/33".into()],
            ..Default::default()
        };
        assert!(RateLimits::new(&cfg).is_err());
        let cfg = RateLimitsConfig {
            per_client: Budget {
                per_minute: 10,
                burst: 0,
            },
            ..Default::default()
        };
        assert!(RateLimits::new(&cfg).is_err());
    }

    #[test]
    fn the_key_table_is_bounded() {
        let l = limits(1, 1, &[]);
        for i in 0..MAX_KEYS as u32 {
            let _ = l.check_address(Endpoint::Token, IpAddr::from(i.to_be_bytes()));
        }
        // Full of budgets still spent: a new address is refused, and the table grows no more.
        assert!(
            l.check_address(Endpoint::Token, "255.255.255.255".parse().unwrap())
                .is_err()
        );
        assert_eq!(l.cells.lock().unwrap().len(), MAX_KEYS);
    }
}
