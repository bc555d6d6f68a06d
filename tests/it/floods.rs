//! Abuse of the listener itself: clients that trickle their headers (slow-loris), hold many
//! connections from one address, or flood the token endpoint with oversized bodies. Each is cut
//! off, and a well-behaved client is served all along.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// A well-behaved client from another loopback address (127.0.0.2): discovery and a
/// client_credentials token, answered.
async fn others_are_served(app: &TestApp) {
    let http = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery answered");
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .post(app.url("/token"))
        .basic_auth("machine", Some("machine-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token answered");
    assert_eq!(r.status(), StatusCode::OK);
}

/// Read until the server closes the connection (or 40 s pass); what it sent.
async fn read_until_closed(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn slow_loris_connections_are_closed_and_others_are_served_meanwhile() {
    let app = TestApp::start().await;
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(b"GET /dex/.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    // Each keeps trickling a header line a second: never a finished head.
    let trickle = tokio::spawn(async move {
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut alive = 0;
            for s in slow.iter_mut() {
                if s.write_all(b"X-Slow: 1\r\n").await.is_ok() {
                    alive += 1;
                }
            }
            if alive == 0 {
                break;
            }
        }
        slow
    });
    others_are_served(&app).await;
    let mut slow = trickle.await.unwrap();
    for s in slow.iter_mut() {
        let got = read_until_closed(s)
            .await
            .expect("the server closed the slow connection");
        assert!(
            !String::from_utf8_lossy(&got).contains("200 OK"),
            "no answer to a head that never finished"
        );
    }
    others_are_served(&app).await;
}

#[tokio::test]
async fn one_address_holds_at_most_its_connections_and_gets_them_back() {
    let app = TestApp::start_with(Opts {
        extra_yaml: "rateLimits:\n  connectionsPerAddress: 5\n".into(),
        ..Default::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        // A request answered proves the connection was accepted, not just queued.
        s.write_all(b"GET /dex/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    // The sixth is closed at once, unanswered.
    let mut sixth = TcpStream::connect(addr(&app)).await.unwrap();
    let _ = sixth
        .write_all(b"GET /dex/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let got = read_until_closed(&mut sixth).await.expect("closed");
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    // Another address is not affected.
    others_are_served(&app).await;
    // Closing one gives its slot back.
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(b"GET /dex/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        if let Ok(n) = s.read(&mut buf).await
            && String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200")
        {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a slot came back when a connection closed");
    let metrics = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gantry_rate_limited_total{endpoint=\"Connection\"}")),
        "{metrics}"
    );
}

/// POST /token with a body far over the limit, sent as fast as the server takes it; the
/// status line it got.
async fn oversized_token_request(app: &TestApp, chunked: bool) -> String {
    let mut s = TcpStream::connect(addr(app)).await.unwrap();
    let head = if chunked {
        "POST /dex/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
    } else {
        "POST /dex/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 104857600\r\n\r\n".to_string()
    };
    s.write_all(head.as_bytes()).await.unwrap();
    let block = vec![b'a'; 64 * 1024];
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        // Up to 100 MiB, until the server stops reading.
        for _ in 0..1600 {
            let ok = if chunked {
                wr.write_all(b"10000\r\n").await.is_ok()
                    && wr.write_all(&block).await.is_ok()
                    && wr.write_all(b"\r\n").await.is_ok()
            } else {
                wr.write_all(&block).await.is_ok()
            };
            if !ok {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(30), rd.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    writer.abort();
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_flood_of_oversized_bodies_is_refused_early_and_others_are_served() {
    let app = std::sync::Arc::new(TestApp::start().await);
    let flood: Vec<_> = (0..32)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { oversized_token_request(&app, i % 2 == 0).await })
        })
        .collect();
    others_are_served(&app).await;
    for f in flood {
        let status = f.await.unwrap();
        // The token endpoint's own error (OAuth JSON invalid_request), after 64 KiB of body.
        assert_eq!(
            status, "HTTP/1.1 400 Bad Request",
            "answered before the body ended"
        );
    }
    others_are_served(&app).await;
}

#[tokio::test]
async fn unfinished_logins_per_address_are_capped_until_finished_or_expired() {
    let app = TestApp::start_with(Opts {
        extra_yaml: "rateLimits:\n  pendingLoginsPerAddress: 3\n".into(),
        ..Default::default()
    })
    .await;
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let start = |http: reqwest::Client| {
        let url = rp_auth_url(&app, "local", "openid", &[("state", "s")]);
        async move { http.get(url).send().await.unwrap() }
    };
    let flood = from("127.0.0.1");
    for _ in 0..3 {
        assert_eq!(start(flood.clone()).await.status(), StatusCode::SEE_OTHER);
    }
    let r = start(flood.clone()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "60");
    assert!(r.text().await.unwrap().contains("not finished"));
    // Another address is not affected, and its finished login does not count.
    let other = from("127.0.0.2");
    let (_, approval) = app
        .log_in(
            &other,
            &[
                ("client_id", "rp"),
                ("redirect_uri", RP_REDIRECT),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "s"),
                ("connector_id", "local"),
            ],
            "dev@example.com",
            "password",
        )
        .await;
    assert!(approval.contains("/approval"));
    for _ in 0..3 {
        assert_eq!(start(other.clone()).await.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(
        start(other.clone()).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "one finished and three open: a fourth open one is over"
    );
    // Once the open ones expire (authRequests: 30m here), the address may start again.
    app.clock.advance(31 * 60);
    assert_eq!(start(flood).await.status(), StatusCode::SEE_OTHER);
}

/// A directory that accepts connections and never answers; how many it was given.
async fn black_hole() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(s);
        }
    });
    (port, seen)
}

#[tokio::test]
async fn a_hanging_directory_holds_at_most_its_slots_and_the_rest_goes_on() {
    let (port, seen) = black_hole().await;
    let app = std::sync::Arc::new(
        TestApp::start_with(Opts {
            extra_yaml: format!(
                r#"connectors:
  - type: ldap
    id: stuck
    name: Stuck LDAP
    maxInFlight: 2
    config:
      host: 127.0.0.1:{port}
      insecureNoSSL: true
      timeout: 3s
      bindDN: cn=readonly,dc=example,dc=org
      bindPW: readonly
      userSearch:
        baseDN: dc=example,dc=org
        username: uid
        idAttr: uid
        emailAttr: mail
        nameAttr: cn
"#
            ),
            ..Default::default()
        })
        .await,
    );
    // Six people log in through the stuck directory at once.
    let stuck: Vec<_> = (0..6)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let browser = app.browser();
                let form = login_form(&app, &browser, "stuck", "openid").await;
                let r = post_login(&browser, &form, "jane", "secret").await;
                (r.status(), r.headers().contains_key("retry-after"))
            })
        })
        .collect();
    // Meanwhile the local connector and the token endpoint answer.
    let (_, approval) = app
        .log_in(
            &app.browser(),
            &[
                ("client_id", "rp"),
                ("redirect_uri", RP_REDIRECT),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "s"),
                ("connector_id", "local"),
            ],
            "dev@example.com",
            "password",
        )
        .await;
    assert!(approval.contains("/approval"));
    others_are_served(&app).await;
    for s in stuck {
        assert_eq!(
            s.await.unwrap(),
            (StatusCode::SERVICE_UNAVAILABLE, true),
            "a clear 'not answering' page"
        );
    }
    assert!(
        seen.load(std::sync::atomic::Ordering::SeqCst) <= 2,
        "the stuck directory was given at most maxInFlight connections, got {}",
        seen.load(std::sync::atomic::Ordering::SeqCst)
    );
}
