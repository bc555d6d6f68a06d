//! `/metrics` after real requests: parsed as OpenMetrics text (strictly, by the parser below),
//! then read for what an operator's dashboard reads: latency per route, connector outcomes,
//! the pools, the signing key, the build and the process. The shipped Grafana dashboard
//! queries only metrics a real scrape has.

use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::ldap::Slapd;
use crate::support::*;

/// A strict reader of the OpenMetrics text format (1.0): what a scraper would refuse, it
/// refuses with the line.
pub mod openmetrics {
    use std::collections::{BTreeMap, BTreeSet};

    pub type Labels = BTreeMap<String, String>;

    #[derive(Debug, Clone)]
    pub struct Sample {
        pub name: String,
        pub labels: Labels,
        pub value: f64,
    }

    #[derive(Debug, Default)]
    pub struct Family {
        pub kind: String,
        pub help: Option<String>,
        pub samples: Vec<Sample>,
    }

    #[derive(Debug, Default)]
    pub struct Scrape {
        pub families: BTreeMap<String, Family>,
    }

    impl Scrape {
        /// The value of the sample `name` whose labels include `with`.
        pub fn value(&self, name: &str, with: &[(&str, &str)]) -> Option<f64> {
            self.families
                .values()
                .flat_map(|f| &f.samples)
                .find(|s| {
                    s.name == name
                        && with
                            .iter()
                            .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
                })
                .map(|s| s.value)
        }

        /// Every sample name and every family name.
        pub fn names(&self) -> BTreeSet<String> {
            let mut n: BTreeSet<String> = self.families.keys().cloned().collect();
            for f in self.families.values() {
                n.extend(f.samples.iter().map(|s| s.name.clone()));
            }
            n
        }
    }

    fn metric_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
    }

    fn label_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    }

    fn number(s: &str) -> Result<f64, String> {
        match s {
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ => s.parse::<f64>().map_err(|e| format!("number {s:?}: {e}")),
        }
    }

    /// `{a="1",b="x\"y"}` at the start of `s`: the labels and the rest of `s`.
    fn labels(s: &str) -> Result<(Labels, &str), String> {
        let mut out = Labels::new();
        let Some(mut rest) = s.strip_prefix('{') else {
            return Ok((out, s));
        };
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                return Ok((out, r));
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let name = &rest[..eq];
            if !label_name(name) {
                return Err(format!("label name {name:?}"));
            }
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(format!("escape {other:?}")),
                    },
                    Some((i, '"')) => break i,
                    Some((_, '\n')) => return Err("newline in a label value".into()),
                    Some((_, c)) => value.push(c),
                    None => return Err("label value not closed".into()),
                }
            };
            if out.insert(name.to_string(), value).is_some() {
                return Err(format!("label {name} twice"));
            }
            rest = &rest[end + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err("labels not separated by ,".into());
            }
        }
    }

    fn suffixes(kind: &str) -> &'static [&'static str] {
        match kind {
            "counter" => &["_total", "_created"],
            "histogram" | "gaugehistogram" => &["_bucket", "_count", "_sum", "_created"],
            "summary" => &["", "_count", "_sum", "_created"],
            "info" => &["_info"],
            _ => &[""],
        }
    }

    /// Parse and check a whole exposition.
    pub fn parse(text: &str) -> Result<Scrape, String> {
        let body = text
            .strip_suffix("# EOF\n")
            .or_else(|| text.strip_suffix("# EOF"))
            .ok_or("does not end with # EOF")?;
        let mut scrape = Scrape::default();
        let mut current: Option<String> = None;
        let mut closed: BTreeSet<String> = BTreeSet::new();
        for (n, line) in body.lines().enumerate() {
            let err = |e: String| format!("line {}: {e}: {line}", n + 1);
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                let (what, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let arg = parts.next().unwrap_or("");
                if !metric_name(name) {
                    return Err(err(format!("metric name {name:?}")));
                }
                if current.as_deref() != Some(name) {
                    if let Some(c) = current.take() {
                        closed.insert(c);
                    }
                    if closed.contains(name) {
                        return Err(err(format!("family {name} appears twice")));
                    }
                    current = Some(name.to_string());
                }
                let f = scrape.families.entry(name.to_string()).or_default();
                if !f.samples.is_empty() {
                    return Err(err("metadata after samples".into()));
                }
                match what {
                    "TYPE" => {
                        const KINDS: &[&str] = &[
                            "counter",
                            "gauge",
                            "histogram",
                            "gaugehistogram",
                            "summary",
                            "info",
                            "stateset",
                            "unknown",
                        ];
                        if !KINDS.contains(&arg) || !f.kind.is_empty() {
                            return Err(err(format!("type {arg:?}")));
                        }
                        f.kind = arg.to_string();
                    }
                    "HELP" => f.help = Some(arg.to_string()),
                    "UNIT" => {}
                    _ => return Err(err(format!("unknown line {what:?}"))),
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                return Err(err("blank or stray comment line".into()));
            }
            let name_end = line
                .find(['{', ' '])
                .ok_or_else(|| err("no value".into()))?;
            let name = &line[..name_end];
            let (labels, rest) = labels(&line[name_end..]).map_err(err)?;
            let mut fields = rest.trim_start_matches(' ').split(' ');
            let value = number(fields.next().unwrap_or("")).map_err(err)?;
            let family = current
                .clone()
                .ok_or_else(|| err("sample before TYPE".into()))?;
            let f = scrape
                .families
                .get_mut(&family)
                .ok_or_else(|| err("no family".into()))?;
            let kind = if f.kind.is_empty() {
                "unknown"
            } else {
                &f.kind
            };
            let suffix = name.strip_prefix(family.as_str()).unwrap_or("?");
            if !suffixes(kind).contains(&suffix) {
                return Err(err(format!("{name} is not a sample of {kind} {family}")));
            }
            if kind == "counter" && suffix == "_total" && (value.is_nan() || value < 0.0) {
                return Err(err("a counter below 0".into()));
            }
            f.samples.push(Sample {
                name: name.to_string(),
                labels,
                value,
            });
        }
        for (name, f) in &scrape.families {
            if f.kind == "histogram" {
                check_histogram(name, f)?;
            }
        }
        Ok(scrape)
    }

    /// Buckets ascend by `le`, counts never fall, and `+Inf` holds `_count`.
    fn check_histogram(name: &str, f: &Family) -> Result<(), String> {
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for s in f.samples.iter().filter(|s| s.name.ends_with("_bucket")) {
            let mut l = s.labels.clone();
            let le = l.remove("le").ok_or(format!("{name}: bucket without le"))?;
            series.entry(l).or_default().push((number(&le)?, s.value));
        }
        for (labels, buckets) in series {
            for w in buckets.windows(2) {
                if !(w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
                    return Err(format!("{name}{labels:?}: buckets {w:?}"));
                }
            }
            let inf = buckets
                .last()
                .filter(|b| b.0 == f64::INFINITY)
                .ok_or(format!("{name}{labels:?}: no +Inf bucket"))?;
            let count = f
                .samples
                .iter()
                .find(|s| s.name == format!("{name}_count") && s.labels == labels)
                .ok_or(format!("{name}{labels:?}: no _count"))?;
            if inf.1 != count.value {
                return Err(format!(
                    "{name}{labels:?}: +Inf {} != count {}",
                    inf.1, count.value
                ));
            }
        }
        Ok(())
    }

    #[test]
    fn refuses_what_a_scraper_would_refuse() {
        let ok = "# TYPE a counter\n# HELP a A.\na_total{x=\"q\\\"\"} 1\n# EOF\n";
        assert!(parse(ok).is_ok(), "{:?}", parse(ok));
        for bad in [
            "# TYPE a counter\na_total 1\n",                         // no EOF
            "# TYPE a counter\na 1\n# EOF\n", // counter sample without _total
            "a_total 1\n# EOF\n",             // no TYPE
            "# TYPE a counter\na_total{x=\"1\",x=\"2\"} 1\n# EOF\n", // duplicate label
            "# TYPE a counter\na_total{x=1} 1\n# EOF\n", // unquoted
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n", // family twice
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n# EOF\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n# EOF\n",
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad}");
        }
    }
}

async fn scrape(app: &TestApp) -> openmetrics::Scrape {
    let r = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn count(s: &openmetrics::Scrape, name: &str, with: &[(&str, &str)]) -> f64 {
    s.value(name, with).unwrap_or(0.0)
}

#[tokio::test]
async fn a_scrape_after_real_requests_has_route_latencies_pools_key_age_build_and_process() {
    let app = TestApp::start().await;
    let before = scrape(&app).await;
    let (status, _) = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some(("machine", "machine-secret")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/.well-known/openid-configuration", "/keys"] {
        let r = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    // A path no route has, with what a query string can carry: one `unmatched` label.
    let r = reqwest::get(app.url("/no/such/thing?code=SECRET-CODE"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let after = scrape(&app).await;

    let d = "gantry_http_request_duration_seconds_count";
    for route in [
        "/dex/token",
        "/dex/.well-known/openid-configuration",
        "/dex/keys",
        "unmatched",
    ] {
        assert_eq!(
            count(&after, d, &[("route", route)]) - count(&before, d, &[("route", route)]),
            1.0,
            "{route}"
        );
    }
    // Every observation of the token request fell in a bucket at or below the 30 s one.
    let token_le_30 = count(
        &after,
        "gantry_http_request_duration_seconds_bucket",
        &[("route", "/dex/token"), ("le", "30.0")],
    );
    assert_eq!(
        token_le_30,
        count(&after, d, &[("route", "/dex/token")]),
        "bucket le=30.0"
    );
    assert!(
        count(
            &after,
            "gantry_http_request_duration_seconds_sum",
            &[("route", "/dex/token")]
        ) > 0.0
    );
    // The names dashboards already use still count.
    assert_eq!(
        count(
            &after,
            "gantry_http_requests_total",
            &[("route", "/dex/token"), ("code", "200")]
        ),
        1.0
    );
    assert_eq!(
        count(
            &after,
            "gantry_tokens_total",
            &[("grant_type", "client_credentials"), ("result", "success")]
        ),
        1.0
    );
    // No label anywhere holds what a client sent in a path or query.
    for f in after.families.values() {
        for s in &f.samples {
            assert!(
                s.labels
                    .values()
                    .all(|v| !v.contains("SECRET") && !v.contains("/no/such")),
                "{s:?}"
            );
        }
    }

    assert_eq!(
        after.value(
            "gantry_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    for (name, at_least) in [
        ("process_cpu_seconds_total", 0.0),
        ("process_resident_memory_bytes", 1e6),
        ("process_virtual_memory_bytes", 1e6),
        ("process_open_fds", 3.0),
        ("process_max_fds", 3.0),
        ("process_start_time_seconds", 1e9),
    ] {
        let v = after
            .value(name, &[])
            .unwrap_or_else(|| panic!("no {name}"));
        assert!(v >= at_least, "{name} = {v}");
    }

    // SQLite: the writer and the readers, each with its connections and waits.
    for pool in ["write", "read"] {
        let open = count(
            &after,
            "gantry_db_pool_connections",
            &[("pool", pool), ("state", "idle")],
        ) + count(
            &after,
            "gantry_db_pool_connections",
            &[("pool", pool), ("state", "in_use")],
        );
        assert!(open >= 1.0, "{pool}: {open} connections");
        assert!(
            after
                .value("gantry_db_pool_max_connections", &[("pool", pool)])
                .is_some_and(|m| m >= open)
        );
    }
    // A login that starts is stored (the writer); a readiness probe asks a reader.
    let waits = "gantry_db_pool_acquire_duration_seconds_count";
    let r = app
        .browser()
        .get(rp_auth_url(&app, "local", "openid", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = reqwest::get(app.url("/healthz/ready")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let waited = scrape(&app).await;
    for pool in ["write", "read"] {
        assert!(
            count(&waited, waits, &[("pool", pool)]) > count(&after, waits, &[("pool", pool)]),
            "{pool}"
        );
    }
    // The key was made when the app started, by the test's clock.
    let age = after
        .value("gantry_signing_key_age_seconds", &[("alg", "ES256")])
        .expect("key age");
    assert_eq!(age, 0.0);
    app.clock.advance(600);
    let later = scrape(&app).await;
    assert_eq!(
        later.value("gantry_signing_key_age_seconds", &[("alg", "ES256")]),
        Some(600.0)
    );
}

/// A dead port: nothing listens, so a call fails at once.
fn closed_port() -> u16 {
    free_port()
}

#[tokio::test]
async fn ldap_logins_are_timed_by_connector_and_outcome() {
    let d = Slapd::shared();
    let app = d.app(&d.plain()).await;
    let calls = "gantry_connector_call_duration_seconds_count";
    let login = |outcome| {
        [
            ("connector", "ldap"),
            ("operation", "login"),
            ("outcome", outcome),
        ]
    };
    let before = scrape(&app).await;
    let grant = |user: &'static str, pw: &'static str| {
        let app = &app;
        async move {
            app.post_token(
                &[
                    ("grant_type", "password"),
                    ("username", user),
                    ("password", pw),
                    ("scope", "openid"),
                ],
                Some(RP),
            )
            .await
            .0
        }
    };
    assert_eq!(grant("alice", "wrong").await, StatusCode::BAD_REQUEST);
    let after = scrape(&app).await;
    assert_eq!(
        count(&after, calls, &login("refused")) - count(&before, calls, &login("refused")),
        1.0
    );
    assert_eq!(count(&after, calls, &login("ok")), 0.0);
    assert_eq!(grant("alice", "alice123").await, StatusCode::OK);
    let after = scrape(&app).await;
    assert_eq!(count(&after, calls, &login("ok")), 1.0);
    assert!(
        count(
            &after,
            "gantry_connector_call_duration_seconds_sum",
            &login("ok")
        ) > 0.0
    );

    // A directory that is not there: an error, not a refusal.
    let down = TestApp::start_with(Opts {
        password_connector: "ldap",
        extra_yaml: d.connector_yaml(&format!(
            "      host: 127.0.0.1:{}\n      insecureNoSSL: true",
            closed_port()
        )),
        ..Default::default()
    })
    .await;
    let (status, _) = down
        .post_token(
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice123"),
                ("scope", "openid"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let s = scrape(&down).await;
    assert_eq!(count(&s, calls, &login("error")), 1.0);
    assert_eq!(count(&s, calls, &login("refused")), 0.0);
}

/// Metric names in a PromQL expression: the identifiers that name Gantry's or the process's
/// series (functions, label names and `by (...)` lists are left out).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut word = String::new();
    for c in expr.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if word.starts_with("gantry_") || word.starts_with("process_") {
                out.insert(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    out
}

fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match x {
                    serde_json::Value::String(s) if k == "expr" || k == "query" => {
                        out.push(s.clone())
                    }
                    _ => exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_grafana_dashboard_queries_only_metrics_gantry_serves() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/gantry-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(dashboard["title"].is_string() && dashboard["panels"].is_array());
    let mut found = Vec::new();
    exprs(&dashboard, &mut found);
    let queried: BTreeSet<String> = found.iter().flat_map(|e| metric_names(e)).collect();
    assert!(queried.len() >= 10, "{queried:?}");

    // A family shows once it has a series: a token, a login through the local connector.
    let app = TestApp::start().await;
    let (status, _) = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some(("machine", "machine-secret")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post_token(
            &[
                ("grant_type", "password"),
                ("username", "dev@example.com"),
                ("password", "password"),
                ("scope", "openid"),
            ],
            Some(RP),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let s = scrape(&app).await;
    let mut served = s.names();
    for (name, f) in &s.families {
        for suffix in match f.kind.as_str() {
            "counter" => &["_total"][..],
            "histogram" => &["_bucket", "_count", "_sum"][..],
            _ => &[][..],
        } {
            served.insert(format!("{name}{suffix}"));
        }
    }
    let missing: BTreeSet<_> = queried.difference(&served).collect();
    assert!(missing.is_empty(), "queried but not served: {missing:?}");
}
