//! Where connectors may not connect: `connectorNetwork.denyNetworks`. Checked on the address a
//! connection is actually made to, after DNS, so that a name resolving into a denied network
//! (from the start, or after a rebinding between two lookups) is refused like an address
//! written in the config. Every outbound connector call goes through here: the HTTP client of
//! `upstream` (OIDC, OAuth2, SAML metadata) through [`Resolver`] and [`DenyList::check_url`],
//! LDAP through [`DenyList::resolve`].
//!
//! Never connects to a denied address: a name with no allowed address fails, and of a name
//! with both kinds only the allowed ones are used. An empty list (the default) denies nothing.
//!
//! Also says how far a failed connection got ([`Reach`]), in the few words the admin's Test
//! may use, without the remote host's own words.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// The config key, for messages.
pub const SETTING: &str = "connectorNetwork.denyNetworks";

/// The networks no connector may connect into.
#[derive(Debug, Clone, Default)]
pub struct DenyList {
    nets: Arc<[IpNet]>,
}

/// A connection refused because its address is in a denied network.
#[derive(Debug, Clone, thiserror::Error)]
#[error("address {0} is in a denied network ({SETTING})")]
pub struct Denied(pub IpAddr);

/// Why a name gave no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum Unresolved {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("cannot resolve {host}: {source}")]
    Lookup {
        host: String,
        source: std::io::Error,
    },
}

/// An entry of `connectorNetwork.denyNetworks` that is not a network, named by its index.
#[derive(Debug, thiserror::Error)]
pub enum DenyListError {
    #[error(
        "{setting}[{index}] `{entry}`: not a network (CIDR such as 10.0.0.0/8 or \
         fd00::/8, or a single address)",
        setting = SETTING
    )]
    NotANetwork { index: usize, entry: String },
    #[error(
        "{setting}[{index}] `{entry}`: has bits set past the /{prefix}; the network is `{network}`",
        setting = SETTING,
        prefix = network.prefix_len()
    )]
    HostBits {
        index: usize,
        entry: String,
        network: IpNet,
    },
}

impl DenyList {
    /// Parse `connectorNetwork.denyNetworks`: CIDRs (`10.0.0.0/8`, `fd00::/8`) or single
    /// addresses. A network with bits set past its prefix is refused rather than guessed at.
    pub fn parse(list: &[String]) -> Result<DenyList, DenyListError> {
        let mut nets = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            let s = s.trim();
            let net = match s.parse::<IpNet>() {
                Ok(n) => n,
                Err(_) => match s.parse::<IpAddr>() {
                    Ok(a) => IpNet::from(a),
                    Err(_) => {
                        return Err(DenyListError::NotANetwork {
                            index: i,
                            entry: s.to_string(),
                        });
                    }
                },
            };
            if net.trunc() != net {
                return Err(DenyListError::HostBits {
                    index: i,
                    entry: s.to_string(),
                    network: net.trunc(),
                });
            }
            nets.push(net);
        }
        Ok(DenyList { nets: nets.into() })
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether a connection to `ip` would reach a denied network. An IPv4 address is also
    /// matched in its IPv4-mapped IPv6 form and the other way round (`::ffff:127.0.0.1` is
    /// 127.0.0.1 on the wire); the unspecified address counts as loopback too, as connecting
    /// to it reaches this machine.
    pub fn denies(&self, ip: IpAddr) -> bool {
        if self.nets.is_empty() {
            return false;
        }
        let v4 = match ip {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        };
        let mut forms = vec![ip];
        if let Some(a) = v4 {
            forms.push(IpAddr::V4(a));
            forms.push(IpAddr::V6(a.to_ipv6_mapped()));
        }
        if v4.is_some_and(|a| a.is_unspecified()) {
            forms.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
            forms.push(IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()));
        }
        if ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
            forms.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
        }
        self.nets
            .iter()
            .any(|n| forms.iter().any(|f| n.contains(f)))
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), Denied> {
        if self.denies(ip) {
            Err(Denied(ip))
        } else {
            Ok(())
        }
    }

    /// Refuses a URL whose host is an address in a denied network. Needed before every HTTP
    /// request: the client connects to an address literal without asking the resolver.
    pub fn check_url(&self, u: &url::Url) -> Result<(), Denied> {
        match u.host() {
            Some(url::Host::Ipv4(a)) => self.check(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => self.check(IpAddr::V6(a)),
            _ => Ok(()),
        }
    }

    /// The addresses of `host` (a name or an address literal) that may be connected to, in
    /// the resolver's order.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Unresolved> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| Unresolved::Lookup {
                host: host.to_string(),
                source,
            })?
            .collect();
        let allowed: Vec<SocketAddr> = found
            .iter()
            .filter(|a| !self.denies(a.ip()))
            .copied()
            .collect();
        match (allowed.is_empty(), found.first()) {
            (true, Some(first)) => Err(Denied(first.ip()).into()),
            _ => Ok(allowed),
        }
    }
}

/// The HTTP client's resolver: the system's, less the denied addresses.
#[derive(Debug, Clone)]
pub struct Resolver(pub DenyList);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let deny = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            match deny.resolve(&host, 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                // The `Denied` itself, so that [`reach_of`] finds it in the error's chain.
                Err(Unresolved::Denied(d)) => Err(Box::new(d) as _),
                Err(e) => Err(Box::new(e) as _),
            }
        })
    }
}

/// How far a failed attempt to reach a host got, as the admin's Test may say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Its address is in a denied network: nothing was sent.
    Denied,
    /// A TLS server answered and the handshake failed on its certificate or its terms.
    Tls,
    /// Nothing usable answered: refused, timed out, an unknown name, another protocol. One
    /// word for all of these, so that Test cannot tell a closed port from an open one.
    NoAnswer,
}

/// How far the attempt that failed with `e` got, from the causes in its chain.
pub fn reach_of(e: &(dyn StdError + 'static)) -> Reach {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<Denied>() {
            return Reach::Denied;
        }
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return tls_reach(t);
        }
        // An io::Error's `source()` skips the error it wraps (often another io::Error around
        // the TLS error): step into it instead.
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    Reach::NoAnswer
}

/// A TLS error is the server's certificate or terms only when a TLS server really answered;
/// a plain-text service on the port fails the handshake as "no answer", like a closed one.
pub fn tls_reach(e: &rustls::Error) -> Reach {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(_)
        | E::NoCertificatesPresented
        | E::UnsupportedNameType
        | E::AlertReceived(_)
        | E::PeerIncompatible(_) => Reach::Tls,
        _ => Reach::NoAnswer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(nets: &[&str]) -> DenyList {
        DenyList::parse(&nets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_networks_match_their_addresses_only() {
        let d = list(&["10.0.0.0/8", "169.254.169.254/32", "192.168.1.7"]);
        for denied in [
            "10.0.0.1",
            "10.255.255.255",
            "169.254.169.254",
            "192.168.1.7",
        ] {
            assert!(d.denies(ip(denied)), "{denied}");
        }
        for allowed in [
            "11.0.0.1",
            "9.255.255.255",
            "169.254.169.253",
            "192.168.1.8",
            "::1",
        ] {
            assert!(!d.denies(ip(allowed)), "{allowed}");
        }
    }

    #[test]
    fn ipv6_networks_match_their_addresses_only() {
        let d = list(&["fd00::/8", "::1/128", "fe80::/10"]);
        for denied in ["fd12:3456::1", "::1", "fe80::1", "febf::1"] {
            assert!(d.denies(ip(denied)), "{denied}");
        }
        for allowed in ["fc00::1", "::2", "fec0::1", "2001:db8::1", "127.0.0.1"] {
            assert!(!d.denies(ip(allowed)), "{allowed}");
        }
    }

    #[test]
    fn an_ipv4_address_written_as_ipv6_is_the_same_address() {
        let d = list(&["127.0.0.0/8"]);
        assert!(d.denies(ip("::ffff:127.0.0.1")));
        assert!(d.denies(ip("::ffff:127.9.8.7")));
        assert!(!d.denies(ip("::ffff:128.0.0.1")));
        // A rule written in the mapped form covers the plain address too.
        let mapped = list(&["::ffff:10.0.0.0/104"]);
        assert!(mapped.denies(ip("10.1.2.3")));
        assert!(mapped.denies(ip("::ffff:10.1.2.3")));
        assert!(!mapped.denies(ip("11.1.2.3")));
    }

    #[test]
    fn the_unspecified_address_counts_as_this_machine() {
        let d = list(&["127.0.0.0/8", "::1/128"]);
        assert!(d.denies(ip("0.0.0.0")));
        assert!(d.denies(ip("::")));
        assert!(d.denies(ip("::ffff:0.0.0.0")));
        assert!(!list(&["10.0.0.0/8"]).denies(ip("0.0.0.0")));
    }

    #[test]
    fn an_empty_list_denies_nothing() {
        let d = DenyList::default();
        assert!(d.is_empty());
        assert!(!d.denies(ip("127.0.0.1")));
        assert!(!d.denies(ip("::")));
    }

    #[test]
    fn what_is_not_a_network_is_refused_with_its_index() {
        let bad = |s: &str| {
            DenyList::parse(&["10.0.0.0/8".into(), s.into()])
                .unwrap_err()
                .to_string()
        };
        for s in ["10.0.0.0/33", "banana", "10.0.0/8", "fd00::/129", ""] {
            let e = bad(s);
            assert!(
                e.contains("connectorNetwork.denyNetworks[1]") && e.contains("not a network"),
                "{s}: {e}"
            );
        }
        let e = bad("10.1.2.3/8");
        assert!(e.contains("`10.0.0.0/8`"), "{e}");
        let e = bad("fd00::1/8");
        assert!(e.contains("`fd00::/8`"), "{e}");
    }

    #[test]
    fn urls_naming_a_denied_address_are_refused_before_any_lookup() {
        let d = list(&["127.0.0.0/8", "::1/128"]);
        let check = |u: &str| d.check_url(&url::Url::parse(u).unwrap()).is_err();
        assert!(check("http://127.0.0.1:8080/x"));
        assert!(check("https://[::1]/"));
        assert!(check("http://[::ffff:127.0.0.1]/"));
        // WHATWG URL parsing reads these as 127.0.0.1 too.
        assert!(check("http://2130706433/"));
        assert!(check("http://0x7f.1/"));
        assert!(check("http://0.0.0.0/"));
        // Names are the resolver's to check.
        assert!(!check("http://localhost/"));
        assert!(!check("http://10.0.0.1/"));
    }

    #[tokio::test]
    async fn a_name_whose_addresses_are_all_denied_resolves_to_nothing() {
        let d = list(&["127.0.0.0/8", "::1/128"]);
        match d.resolve("localhost", 389).await {
            Err(Unresolved::Denied(Denied(a))) => assert!(a.is_loopback(), "{a}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            d.resolve("127.0.0.1", 389).await,
            Err(Unresolved::Denied(_))
        ));
        // Of a name with both kinds, only the allowed addresses are used.
        let v6_only = list(&["::1/128"]);
        let left = v6_only.resolve("localhost", 389).await.unwrap();
        assert!(left.iter().all(|a| !a.ip().is_ipv6()), "{left:?}");
        assert!(!left.is_empty());
        let open = DenyList::default().resolve("127.0.0.1", 389).await.unwrap();
        assert_eq!(open, vec!["127.0.0.1:389".parse().unwrap()]);
    }

    #[test]
    fn only_a_tls_server_that_answered_reads_as_a_tls_failure() {
        use rustls::{CertificateError, Error as E};
        let wrap = |e: E| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let cert = wrap(E::InvalidCertificate(CertificateError::UnknownIssuer));
        assert_eq!(reach_of(&cert), Reach::Tls);
        // As the HTTP client reports it: an io::Error around the io::Error around it.
        let twice = std::io::Error::other(wrap(E::InvalidCertificate(CertificateError::Expired)));
        assert_eq!(reach_of(&twice), Reach::Tls);
        let garbage = wrap(E::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert_eq!(reach_of(&garbage), Reach::NoAnswer);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(reach_of(&refused), Reach::NoAnswer);
        let denied =
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, Denied(ip("10.0.0.1")));
        assert_eq!(reach_of(&denied), Reach::Denied);
    }
}
