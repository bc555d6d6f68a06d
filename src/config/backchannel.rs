//! A client's `backchannelLogoutURI` (Dex master's key), as OpenID Connect Back-Channel
//! Logout 1.0 section 2.2 allows it: an absolute https URI, or http for a confidential client
//! (the spec lets the OP allow that), never with a fragment. The config check and the admin API
//! judge it here, so both refuse the same URIs.

/// What is wrong with `uri` as the back-channel logout URI of a client that is `public` or not;
/// `None` when it may be used.
pub fn backchannel_logout_uri_problem(uri: &str, public: bool) -> Option<String> {
    let shown: String = uri.chars().take(80).collect();
    let Ok(u) = url::Url::parse(uri) else {
        return Some(format!("`{shown}` is not an absolute URL"));
    };
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Some(format!("`{shown}` is not an http(s) URL"));
    }
    if u.fragment().is_some() {
        return Some(format!(
            "`{shown}` has a fragment, which a back-channel logout URI must not have"
        ));
    }
    // What the URI holds is shown in the admin pages and in the audit trail.
    if !u.username().is_empty() || u.password().is_some() {
        return Some(format!(
            "`{shown}` carries a user or password; the URI is shown to admins and in the audit \
             trail"
        ));
    }
    if public && in_clear(&u) {
        return Some(format!(
            "`{shown}`: a public client's back-channel logout URI must be https (http only on \
             this machine)"
        ));
    }
    None
}

/// Whether logout tokens sent to `uri` would cross a network unencrypted: http to another
/// machine (worth a warning for a confidential client, refused for a public one).
pub fn backchannel_logout_uri_in_clear(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| in_clear(&u))
}

fn in_clear(u: &url::Url) -> bool {
    u.scheme() == "http"
        && !match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_on_loopback_are_accepted() {
        for ok in [
            "https://app.example.com/backchannel-logout",
            "https://app.example.com:8443/logout?tenant=a",
            "http://127.0.0.1:5555/backchannel-logout",
            "http://localhost:8080/logout",
            "http://[::1]:9000/bcl",
        ] {
            assert_eq!(backchannel_logout_uri_problem(ok, true), None, "{ok}");
            assert_eq!(backchannel_logout_uri_problem(ok, false), None, "{ok}");
            assert!(!backchannel_logout_uri_in_clear(ok), "{ok}");
        }
    }

    #[test]
    fn http_to_another_machine_is_for_confidential_clients_only() {
        let uri = "http://app.internal:8080/logout";
        assert_eq!(backchannel_logout_uri_problem(uri, false), None);
        assert!(backchannel_logout_uri_in_clear(uri));
        let m = backchannel_logout_uri_problem(uri, true).unwrap_or_default();
        assert!(m.contains("public client") && m.contains("https"), "{m}");
    }

    #[test]
    fn relative_fragment_userinfo_and_other_schemes_are_refused() {
        for (bad, says) in [
            ("/backchannel-logout", "not an absolute URL"),
            ("app.example.com/logout", "not an absolute URL"),
            ("", "not an absolute URL"),
            ("ftp://app.example.com/logout", "not an http(s) URL"),
            ("javascript:alert(1)", "not an http(s) URL"),
            ("https://app.example.com/logout#x", "fragment"),
            ("https://app.example.com/logout#", "fragment"),
            ("https://user:pw@app.example.com/logout", "user or password"),
            ("https://user@app.example.com/logout", "user or password"),
        ] {
            let m = backchannel_logout_uri_problem(bad, false).unwrap_or_default();
            assert!(m.contains(says), "{bad}: {m}");
        }
    }
}
