//! The listen addresses (`web.http`, `web.https`, `telemetry.http`): each must be a host:port
//! that resolves, and no two may take the same port. Binding is asked for (`--bind`), not done
//! by default: checked beside the server it is about to restart, every address of that server
//! is in use, and on a CI machine the server's addresses are not there at all.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::config::Config;

pub fn problems(cfg: &Config, bind: bool) -> Vec<String> {
    let listeners: Vec<(&str, &str)> = [
        ("web.http", &cfg.web.http),
        ("web.https", &cfg.web.https),
        ("telemetry.http", &cfg.telemetry.http),
    ]
    .into_iter()
    .filter_map(|(setting, addr)| addr.as_deref().map(|a| (setting, a)))
    .collect();
    let mut out = Vec::new();
    let mut resolved: Vec<(&str, &str, Vec<SocketAddr>)> = Vec::new();
    for (setting, addr) in listeners {
        match resolve(addr) {
            Ok(a) => resolved.push((setting, addr, a)),
            Err(e) => out.push(format!("{setting} `{addr}`: {e}")),
        }
    }
    for (i, (s1, a1, r1)) in resolved.iter().enumerate() {
        for (s2, a2, r2) in &resolved[i + 1..] {
            if r1.iter().any(|x| r2.iter().any(|y| overlap(x, y))) {
                out.push(format!(
                    "{s1} {a1} and {s2} {a2}: both would listen on port {}",
                    r1[0].port()
                ));
            }
        }
    }
    if bind {
        for (setting, addr, _) in &resolved {
            // As the server binds it; closed again at once.
            if let Err(e) = crate::http::listen::bind(addr) {
                out.push(format!("{setting} {addr}: cannot listen: {e}{}", why(&e)));
            }
        }
    }
    out
}

/// The addresses `addr` stands for, as the server will bind it.
fn resolve(addr: &str) -> Result<Vec<SocketAddr>, String> {
    // Go's `:5556`, every address, as the server binds it.
    let candidates = crate::http::listen::bind_candidates(addr);
    let addr = candidates[0].as_str();
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| format!("not a host:port that resolves ({e})"))?
        .collect();
    if addrs.is_empty() {
        return Err("the host resolves to no address".into());
    }
    Ok(addrs)
}

/// Whether two listeners would want the same socket: the same port, on the same address or
/// one of them on every address ([::] takes IPv4 as well, as Linux binds it by default).
fn overlap(a: &SocketAddr, b: &SocketAddr) -> bool {
    if a.port() != b.port() || a.port() == 0 {
        return false;
    }
    let covers = |x: &SocketAddr, y: &SocketAddr| {
        x.ip().is_unspecified() && (x.is_ipv6() || x.is_ipv4() == y.is_ipv4())
    };
    a.ip() == b.ip() || covers(a, b) || covers(b, a)
}

fn why(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => " (another program, or a running Gantry, has it)",
        std::io::ErrorKind::PermissionDenied => {
            " (a port below 1024 needs root or CAP_NET_BIND_SERVICE)"
        }
        std::io::ErrorKind::AddrNotAvailable => " (not an address of this machine)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn listeners_overlap_on_one_port_of_one_address_or_of_every_address() {
        assert!(overlap(&addr("127.0.0.1:80"), &addr("127.0.0.1:80")));
        assert!(overlap(&addr("0.0.0.0:80"), &addr("127.0.0.1:80")));
        assert!(overlap(&addr("[::1]:80"), &addr("[::]:80")));
        assert!(overlap(&addr("[::]:80"), &addr("10.1.2.3:80")));
        assert!(!overlap(&addr("0.0.0.0:80"), &addr("[::1]:80")));
        assert!(!overlap(&addr("127.0.0.1:80"), &addr("127.0.0.2:80")));
        assert!(!overlap(&addr("127.0.0.1:80"), &addr("127.0.0.1:81")));
        assert!(!overlap(&addr("127.0.0.1:0"), &addr("127.0.0.1:0")));
    }

    #[test]
    fn go_s_port_only_form_means_every_address_and_a_bad_one_is_named() {
        // Dex's files write `:5556`, as Go reads it: every address.
        assert_eq!(resolve(":5556").unwrap(), [addr("[::]:5556")]);
        assert!(overlap(
            &resolve(":5556").unwrap()[0],
            &addr("127.0.0.1:5556")
        ));
        assert!(resolve(":").is_err());
        assert!(resolve(":http").is_err());
        assert!(resolve("127.0.0.1").is_err());
        assert!(resolve("127.0.0.1:99999").is_err());
        assert_eq!(resolve("127.0.0.1:5556").unwrap(), [addr("127.0.0.1:5556")]);
    }
}
