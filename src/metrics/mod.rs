//! Prometheus metrics through `prometheus-client`, served as OpenMetrics text on `/metrics`.
//!
//! What the request path records (requests, their latency per route, logins, token
//! requests, refusals) costs a lock-free lookup of an existing series and a few atomic or
//! short-locked updates: it runs on every request. What describes the process or its state
//! (CPU and memory, the database pools, the signing key's age) is read when scraped, never
//! kept up to date in between. No label ever holds what a client chose: routes are the
//! router's patterns, grants and results fixed words.

pub mod process;
pub mod state;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Seconds per request: discovery answers in tens of microseconds, a token in about a
/// millisecond, a login with a password hash in tens; the upper buckets catch a slow database
/// or identity source.
const REQUEST_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

/// The route label of a request no route matched: one value for every unknown path.
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: Arc<str>,
    code: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    connector: String,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    grant_type: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

#[derive(Debug, Clone, Copy, Default)]
struct RequestBuckets;

impl MetricConstructor<Histogram> for RequestBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(REQUEST_BUCKETS)
    }
}

/// The server's metrics: what the request path records, and the registry a scrape encodes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_durations: Family<RouteLabels, Histogram, RequestBuckets>,
    logins: Family<LoginLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    rate_limited: Family<EndpointLabels, Counter>,
    /// Route names as shared strings, so that a request's labels cost no allocation. Routes
    /// are the router's patterns: a fixed set.
    routes: RwLock<HashMap<Box<str>, Arc<str>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The request-path metrics, `gantry_build_info` and the process metrics.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_durations = Family::new_with_constructor(RequestBuckets);
        let logins = Family::<LoginLabels, Counter>::default();
        let tokens = Family::<TokenLabels, Counter>::default();
        let rate_limited = Family::<EndpointLabels, Counter>::default();
        // Every endpoint from the start, at 0: an alert on a rate sees the first refusal.
        for ep in crate::ratelimit::Endpoint::ALL {
            let _ = rate_limited.get_or_create_owned(&EndpointLabels {
                endpoint: ep.name(),
            });
        }
        // Counters are registered without `_total`: the encoder adds it to the sample names.
        registry.register(
            "gantry_http_requests",
            "HTTP requests by route (the router's pattern) and status code",
            http_requests.clone(),
        );
        registry.register(
            "gantry_http_request_duration_seconds",
            "Time from a request reaching the router to its response, by route",
            http_durations.clone(),
        );
        registry.register(
            "gantry_logins",
            "Logins by connector and result",
            logins.clone(),
        );
        registry.register(
            "gantry_tokens",
            "Token endpoint requests by grant type and result",
            tokens.clone(),
        );
        registry.register(
            "gantry_rate_limited",
            "Requests and connections refused by a rate limit, by endpoint",
            rate_limited.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: crate::build_info::VERSION,
                commit: crate::build_info::GIT_COMMIT,
            })
            .set(1);
        registry.register(
            "gantry_build_info",
            "Always 1; the labels name the running version and commit",
            build,
        );
        registry.register_collector(Box::new(process::Process));
        Metrics {
            registry,
            http_requests,
            http_durations,
            logins,
            tokens,
            rate_limited,
            routes: RwLock::default(),
        }
    }

    /// Add a metric kept elsewhere (a layer's own histograms); before the metrics are shared.
    pub fn register(&mut self, name: &str, help: &str, metric: impl Metric) {
        self.registry.register(name, help, metric);
    }

    /// Add what is read at each scrape; before the metrics are shared.
    pub fn register_collector(&mut self, collector: impl Collector) {
        self.registry.register_collector(Box::new(collector));
    }

    fn route(&self, route: &str) -> Arc<str> {
        if let Ok(m) = self.routes.read()
            && let Some(r) = m.get(route)
        {
            return r.clone();
        }
        match self.routes.write() {
            Ok(mut m) => m
                .entry(route.into())
                .or_insert_with(|| route.into())
                .clone(),
            Err(_) => route.into(),
        }
    }

    /// One answered request: `route` is the matched pattern (or [`UNMATCHED`]).
    pub fn http(&self, route: &str, status: u16, took: Duration) {
        let route = self.route(route);
        self.http_durations
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        self.http_requests
            .get_or_create(&HttpLabels {
                route,
                code: status,
            })
            .inc();
    }

    pub fn login(&self, connector: &str, result: &'static str) {
        self.logins
            .get_or_create(&LoginLabels {
                connector: connector.to_string(),
                result,
            })
            .inc();
    }

    pub fn rate_limited(&self, ep: crate::ratelimit::Endpoint) {
        self.rate_limited
            .get_or_create(&EndpointLabels {
                endpoint: ep.name(),
            })
            .inc();
    }

    pub fn token(&self, grant: &'static str, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.tokens
            .get_or_create(&TokenLabels {
                grant_type: grant,
                result,
            })
            .inc();
    }

    /// The OpenMetrics text of every metric, ending in `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            // Only a collector's own error gets here; what was written before it stays out.
            tracing::warn!(error = %e, "metrics could not be encoded");
            out.clear();
            out.push_str("# EOF\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_counters_under_their_names_with_escaped_labels() {
        let m = Metrics::default();
        m.login("lo\"cal", "success");
        m.login("lo\"cal", "success");
        let text = m.render();
        assert!(
            text.contains("gantry_logins_total{connector=\"lo\\\"cal\",result=\"success\"} 2"),
            "{text}"
        );
        assert!(text.contains("# TYPE gantry_logins counter"), "{text}");
        assert!(text.contains("# HELP gantry_logins Logins by connector and result.\n"));
        assert!(text.contains("gantry_rate_limited_total{endpoint=\"Token\"} 0\n"));
        m.http("/token", 200, Duration::from_millis(2));
        m.http("/token", 200, Duration::from_millis(2));
        m.http("/token", 400, Duration::from_micros(300));
        let text = m.render();
        assert!(
            text.contains("gantry_http_requests_total{route=\"/token\",code=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("gantry_http_requests_total{route=\"/token\",code=\"400\"} 1"));
        assert!(
            text.contains("gantry_http_request_duration_seconds_count{route=\"/token\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "gantry_http_request_duration_seconds_bucket{le=\"0.0005\",route=\"/token\"} 1"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn build_info_names_the_version() {
        let text = Metrics::default().render();
        let want = format!(
            "gantry_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            crate::build_info::VERSION,
            crate::build_info::GIT_COMMIT
        );
        assert!(text.contains(&want), "{text}");
    }
}
