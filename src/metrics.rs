//! Prometheus counters in the text exposition format, without a metrics framework: Gantry needs
//! a handful of counters, and a registry crate would cost more to build than this file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// Requests by status code, then route: counted on every request, so a hit allocates
    /// nothing (the route is looked up as `&str`).
    http: Mutex<HashMap<u16, HashMap<String, u64>>>,
}

const HELP: &[(&str, &str)] = &[
    (
        "gantry_http_requests_total",
        "HTTP requests by route family and status code.",
    ),
    (
        "gantry_logins_total",
        "Password logins by connector and result.",
    ),
    (
        "gantry_tokens_total",
        "Token endpoint requests by grant type and result.",
    ),
    (
        "gantry_rate_limited_total",
        "Requests refused with 429 by endpoint.",
    ),
];

impl Metrics {
    fn inc(&self, name: &'static str, labels: String) {
        if let Ok(mut m) = self.counters.lock() {
            *m.entry((name, labels)).or_default() += 1;
        }
    }

    pub fn http(&self, route: &str, status: u16) {
        if let Ok(mut m) = self.http.lock() {
            let by_route = m.entry(status).or_default();
            match by_route.get_mut(route) {
                Some(n) => *n += 1,
                None => {
                    by_route.insert(route.to_string(), 1);
                }
            }
        }
    }

    pub fn login(&self, connector: &str, result: &str) {
        self.inc(
            "gantry_logins_total",
            format!("connector=\"{}\",result=\"{result}\"", escape(connector)),
        );
    }

    pub fn rate_limited(&self, ep: crate::ratelimit::Endpoint) {
        self.inc("gantry_rate_limited_total", format!("endpoint=\"{ep:?}\""));
    }

    pub fn token(&self, grant: &str, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.inc(
            "gantry_tokens_total",
            format!("grant_type=\"{}\",result=\"{result}\"", escape(grant)),
        );
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(mut m) = self.counters.lock().map(|m| m.clone()) else {
            return out;
        };
        if let Ok(h) = self.http.lock() {
            for (code, routes) in h.iter() {
                for (route, n) in routes {
                    m.insert(
                        (
                            "gantry_http_requests_total",
                            format!("route=\"{}\",code=\"{code}\"", escape(route)),
                        ),
                        *n,
                    );
                }
            }
        }
        for (name, help) in HELP {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
            for ((n, labels), v) in m.iter() {
                if n == name {
                    out.push_str(&format!("{name}{{{labels}}} {v}\n"));
                }
            }
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_escaped_labels() {
        let m = Metrics::default();
        m.login("lo\"cal", "success");
        m.login("lo\"cal", "success");
        let text = m.render();
        assert!(
            text.contains("gantry_logins_total{connector=\"lo\\\"cal\",result=\"success\"} 2"),
            "{text}"
        );
        assert!(text.contains("# TYPE gantry_tokens_total counter"));
        m.http("/token", 200);
        m.http("/token", 200);
        m.http("/token", 400);
        let text = m.render();
        assert!(
            text.contains("gantry_http_requests_total{route=\"/token\",code=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("gantry_http_requests_total{route=\"/token\",code=\"400\"} 1"));
    }
}
