//! One storage conformance suite, run against SQLite and PostgreSQL alike.

use gantry::config::{StorageConfig, StorageParams};
use gantry::storage::audit::{AuditCursor, AuditFilter};
use gantry::storage::auth::{AuthCode, AuthRequest, LoggedIn};
use gantry::storage::clients::ClientRow;
use gantry::storage::connectors::ConnectorRow;
use gantry::storage::device::DeviceRequest;
use gantry::storage::keys::StoredKey;
use gantry::storage::passwords::PasswordRow;
use gantry::storage::refresh::RefreshToken;
use gantry::storage::sessions::{BrowserSession, SessionClient, SessionLogin};
use gantry::storage::sweeper::SweepLimits;
use gantry::storage::{Db, StorageError};

use crate::support::fresh_postgres_db;

fn request(id: &str, expires_at: i64) -> AuthRequest {
    AuthRequest {
        id: id.into(),
        client_id: "rp".into(),
        redirect_uri: "http://x/cb".into(),
        scopes: "openid".into(),
        state: "s".into(),
        nonce: "n".into(),
        code_challenge: String::new(),
        code_challenge_method: String::new(),
        connector_id: None,
        identity: None,
        browser_hash: None,
        logged_in_at: None,
        created_at: 0,
        expires_at,
        session_id: None,
        amr: String::new(),
        prompt: String::new(),
        max_age: None,
        acr_values: String::new(),
        login_hint: String::new(),
        remember: 0,
    }
}

fn logged_in<'a>(identity: &'a str, browser_hash: &'a str) -> LoggedIn<'a> {
    LoggedIn {
        connector_id: "local",
        identity,
        browser_hash,
        amr: "pwd",
        remember: Some(true),
    }
}

fn session(id: &str, subject: &str, now: i64) -> BrowserSession {
    BrowserSession {
        id: id.into(),
        secret_hash: format!("hash-{id}"),
        connector_id: "ldap".into(),
        subject: subject.into(),
        identity: "{}".into(),
        auth_time: now,
        amr: "pwd".into(),
        mfa_time: None,
        remember: 0,
        checked_at: now,
        address: "192.0.2.1".into(),
        user_agent: "test".into(),
        created_at: now,
        last_seen_at: now,
        idle_expires_at: now + 3600,
        expires_at: now + 86_400,
    }
}

fn code(hash: &str, expires_at: i64) -> AuthCode {
    AuthCode {
        code_hash: hash.into(),
        client_id: "rp".into(),
        redirect_uri: "http://x/cb".into(),
        scopes: "openid".into(),
        nonce: "n".into(),
        code_challenge: String::new(),
        code_challenge_method: String::new(),
        identity: "{}".into(),
        auth_time: 0,
        expires_at,
        used_at: None,
        access_jti: None,
        access_expires_at: None,
        refresh_family: None,
        session_id: Some("sid-1".into()),
        amr: "pwd otp".into(),
    }
}

fn refresh(id: &str, family: &str, now: i64) -> RefreshToken {
    RefreshToken {
        id: id.into(),
        family_id: family.into(),
        secret_hash: format!("hash-{id}"),
        client_id: "rp".into(),
        subject: "sub".into(),
        scopes: "openid offline_access".into(),
        nonce: String::new(),
        identity: "{}".into(),
        auth_time: now,
        created_at: now,
        last_used_at: now,
        family_created_at: now,
        rotated_at: None,
        successor_id: None,
        revoked_at: None,
        session_id: Some("sid-1".into()),
        amr: "pwd".into(),
    }
}

/// A token of another user than `refresh`'s, so the subject revocations below stay exact.
fn batch_token(id: &str, family: &str, now: i64) -> RefreshToken {
    RefreshToken {
        subject: "batch-user".into(),
        ..refresh(id, family, now)
    }
}

/// A login's request, exchanged for code `code_hash` as the login flow does.
async fn issue_code(db: &Db, request_id: &str, code_hash: &str, expires_at: i64) {
    db.create_auth_request(&request(request_id, expires_at))
        .await
        .unwrap();
    db.exchange_request_for_code(request_id, &code(code_hash, expires_at))
        .await
        .unwrap();
}

async fn conformance(db: Db) {
    let now = 1_000_000;
    // Auth requests: expiry, identity set once, exchanged for one code.
    db.create_auth_request(&request("r1", now + 60))
        .await
        .unwrap();
    db.create_auth_request(&request("old", now - 1))
        .await
        .unwrap();
    assert!(matches!(
        db.get_auth_request("old", now).await,
        Err(StorageError::NotFound)
    ));
    db.set_auth_request_identity("r1", &logged_in("{\"user_id\":\"u\"}", "bh"), now)
        .await
        .unwrap();
    assert!(
        matches!(
            db.set_auth_request_identity("r1", &logged_in("{}", "bh2"), now)
                .await,
            Err(StorageError::NotFound)
        ),
        "identity is set once"
    );
    let r1 = db.get_auth_request("r1", now).await.unwrap();
    assert_eq!(r1.identity.as_deref(), Some("{\"user_id\":\"u\"}"));
    assert_eq!(r1.logged_in_at, Some(now));
    assert_eq!(r1.browser_hash.as_deref(), Some("bh"));
    db.exchange_request_for_code("r1", &code("c1", now + 600))
        .await
        .unwrap();
    assert!(
        matches!(
            db.exchange_request_for_code("r1", &code("c2", now + 600))
                .await,
            Err(StorageError::NotFound)
        ),
        "one code per request"
    );
    assert!(
        matches!(db.get_auth_code("c2").await, Err(StorageError::NotFound)),
        "the failed exchange stored nothing"
    );

    // Codes are redeemed once, with a record of what they issued; a second redemption
    // neither wins nor overwrites that record, and a spent code cannot be claimed.
    assert!(
        db.redeem_auth_code("c1", now, "jti-1", now + 3600, Some("fam"))
            .await
            .unwrap()
    );
    assert!(
        !db.redeem_auth_code("c1", now + 1, "jti-2", now + 3600, None)
            .await
            .unwrap()
    );
    assert!(!db.claim_auth_code("c1", now).await.unwrap());
    let c1 = db.get_auth_code_fresh("c1").await.unwrap();
    assert_eq!(
        (
            c1.used_at,
            c1.access_jti.as_deref(),
            c1.refresh_family.as_deref()
        ),
        (Some(now), Some("jti-1"), Some("fam"))
    );
    assert_eq!(
        (c1.session_id.as_deref(), c1.amr.as_str()),
        (Some("sid-1"), "pwd otp")
    );
    // Redemptions sent together commit together, each with its own answer: of eight that
    // present one code, one wins and its record is kept; eight codes at once all win. (Their
    // access tokens outlive the sweeps below, which count c1 alone.)
    const FAR: i64 = 4_000_000_000;
    for i in 0..9 {
        issue_code(&db, &format!("rq{i}"), &format!("cc{i}"), now + 600).await;
    }
    let jtis: Vec<String> = (0..8).map(|i| format!("same-{i}")).collect();
    let same = futures_util::future::join_all(
        jtis.iter()
            .map(|j| db.redeem_auth_code("cc8", now, j, FAR, None)),
    )
    .await;
    let winners: Vec<&String> = same
        .iter()
        .zip(&jtis)
        .filter(|(r, _)| *r.as_ref().unwrap())
        .map(|(_, j)| j)
        .collect();
    assert_eq!(winners.len(), 1, "{same:?}");
    assert_eq!(
        db.get_auth_code_fresh("cc8")
            .await
            .unwrap()
            .access_jti
            .as_ref(),
        Some(winners[0]),
        "the record is the winner's"
    );
    let each: Vec<String> = (0..8).map(|i| format!("cc{i}")).collect();
    let all = futures_util::future::join_all(
        each.iter()
            .map(|c| db.redeem_auth_code(c, now, c, FAR, None)),
    )
    .await;
    assert!(all.iter().all(|r| *r.as_ref().unwrap()), "{all:?}");
    assert_eq!(
        db.get_auth_code_fresh("cc3")
            .await
            .unwrap()
            .access_jti
            .as_deref(),
        Some("cc3")
    );

    // Refresh tokens: compare-and-set rotation, family and subject revocation.
    db.create_refresh_token(&refresh("t1", "fam", now))
        .await
        .unwrap();
    assert!(
        db.rotate_refresh_token("t1", &refresh("t2", "fam", now), now)
            .await
            .unwrap()
    );
    assert!(
        !db.rotate_refresh_token("t1", &refresh("t3", "fam", now), now)
            .await
            .unwrap(),
        "a rotated token rotates once"
    );
    assert!(matches!(
        db.get_refresh_token("t3").await,
        Err(StorageError::NotFound)
    ));
    let t1 = db.get_refresh_token("t1").await.unwrap();
    assert_eq!(
        (t1.rotated_at, t1.successor_id.as_deref()),
        (Some(now), Some("t2"))
    );
    assert_eq!(
        (t1.session_id.as_deref(), t1.amr.as_str()),
        (Some("sid-1"), "pwd")
    );
    db.revoke_refresh_family("fam", now).await.unwrap();
    assert!(
        db.get_refresh_token("t2")
            .await
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        !db.rotate_refresh_token("t2", &refresh("t4", "fam", now), now)
            .await
            .unwrap(),
        "revoked tokens do not rotate"
    );
    // Rotations arriving together commit as one batch: each still decides on its own.
    // (Dated later than the sweeps below look, which count the rows they delete.)
    let later = now + 1000;
    for i in 0..40 {
        db.create_refresh_token(&batch_token(&format!("p{i}"), &format!("pf{i}"), later))
            .await
            .unwrap();
    }
    db.create_refresh_token(&batch_token("taken", "pf-x", later))
        .await
        .unwrap();
    let rotations: Vec<_> = (0..40)
        .map(|i| {
            let db = db.clone();
            // p7's successor reuses an existing id: its insert fails, and only its rotation.
            let next = if i == 7 {
                "taken".to_string()
            } else {
                format!("q{i}")
            };
            tokio::spawn(async move {
                db.rotate_refresh_token(
                    &format!("p{i}"),
                    &batch_token(&next, &format!("pf{i}"), later),
                    later,
                )
                .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for r in rotations {
        outcomes.push(r.await.unwrap());
    }
    for (i, o) in outcomes.iter().enumerate() {
        if i == 7 {
            assert!(
                o.is_err(),
                "a successor that cannot be inserted fails its rotation"
            );
        } else {
            assert!(matches!(o, Ok(true)), "rotation {i}: {o:?}");
        }
    }
    let p7 = db.get_refresh_token("p7").await.unwrap();
    assert_eq!(
        p7.rotated_at, None,
        "a failed rotation leaves its token as it was"
    );
    assert_eq!(
        db.get_refresh_token("q3").await.unwrap().family_id,
        "pf3",
        "successors are stored"
    );
    // Rotations and code redemptions arriving together share a batch (one statement on
    // PostgreSQL): each hears its own answer.
    for i in 0..6 {
        db.create_refresh_token(&batch_token(&format!("mx{i}"), &format!("mxf{i}"), later))
            .await
            .unwrap();
        issue_code(&db, &format!("mxr{i}"), &format!("mxc{i}"), now + 600).await;
    }
    let mixed: Vec<_> = (0..6)
        .flat_map(|i| {
            let (a, b) = (db.clone(), db.clone());
            [
                tokio::spawn(async move {
                    a.rotate_refresh_token(
                        &format!("mx{i}"),
                        &batch_token(&format!("my{i}"), &format!("mxf{i}"), later),
                        later,
                    )
                    .await
                }),
                tokio::spawn(async move {
                    let c = format!("mxc{i}");
                    b.redeem_auth_code(&c, now, &format!("jti-{c}"), FAR, None)
                        .await
                }),
            ]
        })
        .collect();
    for m in mixed {
        assert!(matches!(m.await.unwrap(), Ok(true)));
    }
    for i in 0..6 {
        assert_eq!(
            db.get_refresh_token(&format!("mx{i}"))
                .await
                .unwrap()
                .successor_id,
            Some(format!("my{i}"))
        );
        assert_eq!(
            db.get_refresh_token(&format!("my{i}"))
                .await
                .unwrap()
                .family_id,
            format!("mxf{i}")
        );
        assert_eq!(
            db.get_auth_code_fresh(&format!("mxc{i}"))
                .await
                .unwrap()
                .access_jti,
            Some(format!("jti-mxc{i}"))
        );
    }
    // The same token presented by many requests at once: exactly one rotation wins.
    db.create_refresh_token(&batch_token("race", "race-fam", later))
        .await
        .unwrap();
    let racers: Vec<_> = (0..20)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.rotate_refresh_token(
                    "race",
                    &batch_token(&format!("r{i}"), "race-fam", later),
                    later,
                )
                .await
            })
        })
        .collect();
    let mut won = Vec::new();
    for (i, r) in racers.into_iter().enumerate() {
        if matches!(r.await.unwrap(), Ok(true)) {
            won.push(i);
        }
    }
    assert_eq!(won.len(), 1, "one winner among parallel rotations: {won:?}");
    let race = db.get_refresh_token("race").await.unwrap();
    assert_eq!(race.successor_id, Some(format!("r{}", won[0])));
    for i in (0..20).filter(|i| *i != won[0]) {
        assert!(
            matches!(
                db.get_refresh_token(&format!("r{i}")).await,
                Err(StorageError::NotFound)
            ),
            "a losing rotation stores no successor"
        );
    }

    db.create_refresh_token(&refresh("u1", "fam2", now))
        .await
        .unwrap();
    assert_eq!(
        db.revoke_refresh_for_subject("rp", "sub", now)
            .await
            .unwrap(),
        1
    );

    // Revoked access tokens: one by its jti, or all of a user's up to a second.
    assert!(!db.is_access_revoked("j", "alice", now).await.unwrap());
    db.revoke_jti("j", now + 10).await.unwrap();
    db.revoke_jti("j", now + 10).await.unwrap();
    assert!(db.is_access_revoked("j", "alice", now).await.unwrap());
    assert!(!db.is_access_revoked("k", "alice", now).await.unwrap());
    db.raise_subject_token_floor("alice", now).await.unwrap();
    db.raise_subject_token_floor("alice", now - 100)
        .await
        .unwrap();
    assert!(
        db.is_access_revoked("k", "alice", now).await.unwrap(),
        "issued at the floor"
    );
    assert!(
        db.is_access_revoked("k", "alice", 5).await.unwrap(),
        "long before it"
    );
    assert!(
        !db.is_access_revoked("k", "alice", now + 1).await.unwrap(),
        "after it; never lowered"
    );
    assert!(
        !db.is_access_revoked("k", "bob", now).await.unwrap(),
        "another user's"
    );

    // Passwords, case-insensitive, upgraded only from the verified hash.
    db.create_password(&PasswordRow {
        email: "A@B.c".into(),
        hash: "h1".into(),
        username: "a".into(),
        user_id: "1".into(),
        groups_json: "[]".into(),
        created_at: now,
        disabled_at: None,
        version: "v1".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        db.get_password("a@b.C").await.unwrap().unwrap().user_id,
        "1"
    );
    db.upgrade_password_hash("a@b.c", "stale", "h3")
        .await
        .unwrap();
    assert_eq!(db.get_password("a@b.c").await.unwrap().unwrap().hash, "h1");
    db.upgrade_password_hash("a@b.c", "h1", "h2").await.unwrap();
    assert_eq!(db.get_password("a@b.c").await.unwrap().unwrap().hash, "h2");
    db.put_password_upgrade("x@y.z", "d1", "argon")
        .await
        .unwrap();
    db.put_password_upgrade("x@y.z", "d2", "argon2")
        .await
        .unwrap();
    assert_eq!(db.get_password_upgrade("x@y.z", "d1").await.unwrap(), None);
    assert_eq!(
        db.get_password_upgrade("x@y.z", "d2")
            .await
            .unwrap()
            .as_deref(),
        Some("argon2")
    );

    // What admins change is written by compare-and-set on its version: a writer that read an
    // older version changes nothing, and learns it.
    let changed = |groups: &'static str, expected: &'static str, next: &'static str| {
        let db = db.clone();
        async move {
            db.update_password_row("a@b.c", None, Some(groups), Some(Some(7)), expected, next)
                .await
                .unwrap()
        }
    };
    assert!(changed("[\"x\"]", "v1", "v2").await);
    assert!(
        !changed("[\"y\"]", "v1", "v3").await,
        "v1 is no longer stored"
    );
    let row = db.get_password_fresh("A@b.c").await.unwrap().unwrap();
    assert_eq!(
        (
            row.groups_json.as_str(),
            row.disabled_at,
            row.version.as_str()
        ),
        ("[\"x\"]", Some(7), "v2")
    );
    assert!(!db.delete_password("a@b.c", Some("v1")).await.unwrap());
    assert!(db.get_password_fresh("a@b.c").await.unwrap().is_some());
    let client = |version: &str, name: &str| ClientRow {
        id: "cas".into(),
        secret_hash: None,
        name: name.into(),
        redirect_uris: "[]".into(),
        post_logout_redirect_uris: "[]".into(),
        trusted_peers: "[]".into(),
        grant_types: "[]".into(),
        public_client: 1,
        require_pkce: 1,
        allowed_connectors: format!("[\"{name}\"]"),
        backchannel_logout_uri: Some(format!("https://{name}.example/bcl")),
        mfa_chain: Some("[\"otp\"]".into()),
        sso_shared_with: Some("[\"*\"]".into()),
        refresh_token_lifetime: "session".into(),
        created_at: now,
        updated_at: now,
        version: version.into(),
    };
    assert!(db.insert_client(&client("c1", "one")).await.unwrap());
    assert!(!db.insert_client(&client("c9", "again")).await.unwrap());
    assert!(
        db.update_client_row(&client("c2", "two"), "c1")
            .await
            .unwrap()
    );
    assert!(
        !db.update_client_row(&client("c3", "three"), "c1")
            .await
            .unwrap()
    );
    assert!(!db.delete_client("cas", Some("c1")).await.unwrap());
    let stored = db.get_client_fresh("cas").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.sso_shared_with.as_deref(),
            stored.refresh_token_lifetime.as_str()
        ),
        (Some("[\"*\"]"), "session")
    );
    assert_eq!(
        (
            stored.name.as_str(),
            stored.version.as_str(),
            stored.allowed_connectors.as_str(),
            stored.backchannel_logout_uri.as_deref(),
        ),
        ("two", "c2", "[\"two\"]", Some("https://two.example/bcl"))
    );
    assert!(db.delete_client("cas", Some("c2")).await.unwrap());
    let connector = |version: &str, name: &str| ConnectorRow {
        id: "cas".into(),
        kind: "ldap".into(),
        name: name.into(),
        config: "{}".into(),
        secrets: String::new(),
        version: version.into(),
        created_at: now,
        updated_at: now,
    };
    assert!(db.insert_connector(&connector("k1", "one")).await.unwrap());
    assert!(
        db.update_connector_row(&connector("k2", "two"), "k1")
            .await
            .unwrap()
    );
    assert!(
        !db.update_connector_row(&connector("k3", "three"), "k1")
            .await
            .unwrap()
    );
    assert!(!db.delete_connector("cas", Some("k1")).await.unwrap());
    assert_eq!(
        db.get_connector_fresh("cas").await.unwrap().unwrap().name,
        "two"
    );
    assert!(db.delete_connector("cas", Some("k2")).await.unwrap());
    // The policy's version is its stored text: saved over nothing only while nothing is saved,
    // replaced or discarded only while it is still the text that was read.
    assert!(db.save_policy(Some("p1"), None).await.unwrap());
    assert!(!db.save_policy(Some("p2"), None).await.unwrap());
    assert!(!db.save_policy(Some("p2"), Some("p0")).await.unwrap());
    assert!(db.save_policy(Some("p2"), Some("p1")).await.unwrap());
    assert!(!db.save_policy(None, Some("p1")).await.unwrap());
    assert_eq!(db.saved_policy().await.unwrap().as_deref(), Some("p2"));
    assert!(db.save_policy(None, Some("p2")).await.unwrap());
    assert_eq!(db.saved_policy().await.unwrap(), None);

    // Key rotation claims: one winner per version.
    let key = |kid: &str| StoredKey {
        kid: kid.into(),
        alg: "ES256".into(),
        private_der: vec![1, 2, 3],
        created_at: now,
        active_from: now + 10,
        retired_at: None,
        remove_at: None,
    };
    assert_eq!(db.rotation_state().await.unwrap(), None);
    assert!(
        db.claim_rotation(None, &key("k1"), now + 100, now + 50)
            .await
            .unwrap()
    );
    assert!(
        !db.claim_rotation(None, &key("k1b"), now + 100, now + 50)
            .await
            .unwrap()
    );
    let (_, v) = db.rotation_state().await.unwrap().unwrap();
    assert!(
        db.claim_rotation(Some(v), &key("k2"), now + 200, now + 50)
            .await
            .unwrap()
    );
    assert!(
        !db.claim_rotation(Some(v), &key("k3"), now + 200, now + 50)
            .await
            .unwrap()
    );
    let keys = db.list_keys(now).await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        vec!["k2", "k1"]
    );
    assert_eq!(keys[1].remove_at, Some(now + 50));
    assert_eq!(
        keys[1].retired_at,
        Some(now + 10),
        "the old key retires when k2 starts"
    );
    assert_eq!((keys[0].retired_at, keys[0].active_from), (None, now + 10));
    assert_eq!(keys[0].private_der, vec![1, 2, 3]);
    assert_eq!(
        db.list_keys(now + 50).await.unwrap().len(),
        1,
        "retired key leaves at remove_at"
    );

    // Device requests: found by user code while pending, decided once, consumed once.
    let dev = DeviceRequest {
        device_code_hash: "dh".into(),
        user_code: "BCDFGHJK".into(),
        client_id: "native".into(),
        scopes: "openid".into(),
        status: "pending".into(),
        identity: None,
        auth_time: None,
        amr: String::new(),
        interval_secs: 5,
        last_poll_at: None,
        created_at: now,
        expires_at: now + 300,
        requested_from: Some("2001:db8::7".into()),
    };
    db.create_device_request(&dev).await.unwrap();
    assert!(
        db.create_device_request(&DeviceRequest {
            device_code_hash: "dh2".into(),
            ..dev.clone()
        })
        .await
        .is_err(),
        "user codes are unique"
    );
    let found = db
        .pending_device_by_user_code("BCDFGHJK", now)
        .await
        .unwrap();
    assert_eq!(
        (found.client_id.as_str(), found.requested_from.as_deref()),
        ("native", Some("2001:db8::7"))
    );
    assert_eq!(db.poll_device("dh", now).await.unwrap(), None);
    assert_eq!(db.poll_device("dh", now + 1).await.unwrap(), Some(now));
    assert!(
        db.decide_device("dh", true, Some("{}"), (now - 60, "pwd otp mfa"), now)
            .await
            .unwrap()
    );
    assert!(
        !db.decide_device("dh", false, None, (now, ""), now)
            .await
            .unwrap(),
        "decided once"
    );
    assert!(
        db.pending_device_by_user_code("BCDFGHJK", now)
            .await
            .is_err()
    );
    assert!(db.consume_device("dh").await.unwrap());
    assert!(!db.consume_device("dh").await.unwrap());
    // The approving login's time and amr are kept for the device's tokens.
    let taken = db.device_by_code("dh").await.unwrap();
    assert_eq!(
        (taken.auth_time, taken.amr.as_str()),
        (Some(now - 60), "pwd otp mfa")
    );

    // Browser sessions: found by id and user, renewed, their clients kept, ended once.
    db.create_browser_session(&session("s1", "alice", now))
        .await
        .unwrap();
    db.create_browser_session(&session("s2", "alice", now + 1))
        .await
        .unwrap();
    db.create_browser_session(&session("s3", "bob", now))
        .await
        .unwrap();
    let alice: Vec<String> = db
        .browser_sessions_of("ldap", "alice")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(alice, vec!["s2", "s1"], "newest first");
    for (client, at, sso) in [("a", now, 0), ("b", now + 5, 1)] {
        db.put_session_client(&SessionClient {
            session_id: "s1".into(),
            client_id: client.into(),
            authenticated_at: at,
            via_sso: sso,
            last_issued_at: at,
            scopes: "openid".into(),
        })
        .await
        .unwrap();
    }
    // A second login to a client replaces its row.
    db.put_session_client(&SessionClient {
        session_id: "s1".into(),
        client_id: "a".into(),
        authenticated_at: now + 7,
        via_sso: 0,
        last_issued_at: now + 7,
        scopes: "openid groups".into(),
    })
    .await
    .unwrap();
    let clients = db.session_clients("s1").await.unwrap();
    assert_eq!(clients.len(), 2);
    assert_eq!(clients[1].scopes, "openid groups");
    db.renew_browser_session(
        "s1",
        &SessionLogin {
            identity: "{\"user_id\":\"a\"}",
            auth_time: now + 10,
            amr: "pwd otp mfa",
            mfa_time: Some(now + 10),
            remember: true,
            address: "192.0.2.2",
            user_agent: "ua",
            now: now + 10,
            idle_expires_at: now + 10 + 3600,
        },
    )
    .await
    .unwrap();
    db.touch_browser_session("s1", now + 20, now + 999_999)
        .await
        .unwrap();
    let s1 = db.get_browser_session("s1").await.unwrap();
    assert_eq!(
        (
            s1.auth_time,
            s1.amr.as_str(),
            s1.mfa_time,
            s1.remember,
            s1.last_seen_at
        ),
        (now + 10, "pwd otp mfa", Some(now + 10), 1, now + 20)
    );
    assert_eq!(
        s1.idle_expires_at, s1.expires_at,
        "idle never outlives the absolute end"
    );
    assert!(matches!(
        db.renew_browser_session(
            "nope",
            &SessionLogin {
                identity: "{}",
                auth_time: 0,
                amr: "",
                mfa_time: None,
                remember: false,
                address: "",
                user_agent: "",
                now,
                idle_expires_at: now
            }
        )
        .await,
        Err(StorageError::NotFound)
    ));
    let (ended, clients) = db.end_browser_session("s1").await.unwrap();
    assert_eq!((ended.id.as_str(), clients.len()), ("s1", 2));
    assert!(matches!(
        db.end_browser_session("s1").await,
        Err(StorageError::NotFound)
    ));
    assert!(db.session_clients("s1").await.unwrap().is_empty());

    // The sweeper removes what has expired and keeps the rest.
    db.create_auth_request(&request("live", now + 10_000))
        .await
        .unwrap();
    let swept = db
        .sweep(
            now + 5000,
            SweepLimits {
                absolute_lifetime: 0,
                valid_if_not_used_for: 0,
                audit_retention: 90 * 86_400,
            },
        )
        .await
        .unwrap();
    assert_eq!(swept.auth_requests, 1, "{swept:?}");
    assert_eq!(
        swept.auth_codes, 1,
        "the used code goes once its access token expired"
    );
    assert_eq!(swept.revoked_tokens, 1);
    assert_eq!(swept.signing_keys, 1);
    assert_eq!(swept.device_requests, 1);
    assert!(db.get_auth_request("live", now + 5000).await.is_ok());
    assert_eq!(
        swept.browser_sessions, 0,
        "an expired session is left an hour to be ended (and its clients told): {swept:?}"
    );
    assert_eq!(
        db.expired_browser_sessions(now + 5000, 10)
            .await
            .unwrap()
            .len(),
        2,
        "idle for more than an hour"
    );
    let swept = db
        .sweep(
            now + 2 * 86_400,
            SweepLimits {
                absolute_lifetime: 0,
                valid_if_not_used_for: 0,
                audit_retention: 90 * 86_400,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        swept.refresh_tokens, 3,
        "revoked families go after a day: {swept:?}"
    );
    assert_eq!(
        swept.browser_sessions, 2,
        "nobody ended them: swept an hour late"
    );
    assert!(db.get_browser_session("s2").await.is_err());
    db.create_refresh_token(&refresh("idle", "fam3", now))
        .await
        .unwrap();
    let swept = db
        .sweep(
            now + 100,
            SweepLimits {
                absolute_lifetime: 0,
                valid_if_not_used_for: 50,
                audit_retention: 90 * 86_400,
            },
        )
        .await
        .unwrap();
    assert_eq!(swept.refresh_tokens, 1);

    // Audit events live as long as `audit.retention` says, not a day less or more.
    for (actor, age_days) in [("old", 40), ("recent", 10)] {
        db.append_audit(gantry::storage::audit::NewAuditEvent {
            at: now - age_days * 86_400,
            actor,
            action: "retention.probe",
            target: "",
            outcome: "success",
            detail: "{}",
            request_id: "",
        })
        .await
        .unwrap();
    }
    let swept = db
        .sweep(
            now,
            SweepLimits {
                absolute_lifetime: 0,
                valid_if_not_used_for: 0,
                audit_retention: 30 * 86_400,
            },
        )
        .await
        .unwrap();
    assert_eq!(swept.audit_log, 1, "{swept:?}");
    let kept = db
        .list_audit(
            &AuditFilter {
                action: Some("retention.probe".into()),
                ..Default::default()
            },
            AuditCursor::Newest,
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        kept.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(),
        ["recent"]
    );

    // A page of the log: the events of a half-open time range on either side of an id,
    // newest first whichever way the page goes.
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            db.append_audit(gantry::storage::audit::NewAuditEvent {
                at: now + 1000 + i * 10,
                actor: "pager",
                action: "page.probe",
                target: "",
                outcome: "success",
                detail: "{}",
                request_id: "",
            })
            .await
            .unwrap(),
        );
    }
    let range = AuditFilter {
        action: Some("page.probe".into()),
        since: Some(now + 1010),
        until: Some(now + 1040),
        ..Default::default()
    };
    let page = |cursor, limit| {
        let (db, range) = (db.clone(), range.clone());
        async move {
            db.list_audit(&range, cursor, limit)
                .await
                .unwrap()
                .iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        page(AuditCursor::Newest, 10).await,
        [ids[3], ids[2], ids[1]]
    );
    assert_eq!(page(AuditCursor::Newest, 2).await, [ids[3], ids[2]]);
    assert_eq!(page(AuditCursor::Before(ids[2]), 2).await, [ids[1]]);
    assert_eq!(page(AuditCursor::After(ids[1]), 1).await, [ids[2]]);
    assert_eq!(
        page(AuditCursor::After(ids[0]), 5).await,
        [ids[3], ids[2], ids[1]]
    );
    assert_eq!(page(AuditCursor::After(ids[3]), 5).await, Vec::<i64>::new());

    // The sweep's lease: one replica per period, whoever asks first; the next period is open
    // again (a replica that died holding it is replaced), other jobs have their own.
    assert!(db.claim_lease("sweep", now, now + 50).await.unwrap());
    assert!(!db.claim_lease("sweep", now, now + 50).await.unwrap());
    assert!(!db.claim_lease("sweep", now + 49, now + 99).await.unwrap());
    assert!(db.claim_lease("other", now, now + 50).await.unwrap());
    assert!(db.claim_lease("sweep", now + 50, now + 100).await.unwrap());
    assert!(!db.claim_lease("sweep", now + 60, now + 110).await.unwrap());
}

#[tokio::test]
async fn storage_conformance_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StorageConfig {
        kind: "sqlite3".into(),
        config: StorageParams {
            file: Some(format!("{}/nested/dir/g.db", dir.path().display())),
            ..Default::default()
        },
    };
    conformance(Db::open(&cfg.location().unwrap()).await.unwrap()).await;
    // It holds refresh-token hashes, the audit trail and maybe private keys: its owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let file = cfg.config.file.as_deref().unwrap();
    for f in [file.to_string(), format!("{file}-wal")] {
        if let Ok(m) = std::fs::metadata(&f) {
            assert_eq!(m.permissions().mode() & 0o077, 0, "{f}");
        }
    }
    let mode = std::fs::metadata(file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn storage_conformance_memory() {
    conformance(
        Db::open(
            &StorageConfig {
                kind: "memory".into(),
                config: StorageParams::default(),
            }
            .location()
            .unwrap(),
        )
        .await
        .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn storage_conformance_postgres() {
    let dsn = fresh_postgres_db().await;
    let cfg = StorageConfig {
        kind: "postgres".into(),
        config: StorageParams {
            dsn: Some(dsn),
            ..Default::default()
        },
    };
    let at = cfg.location().unwrap();
    let db = Db::open(&at).await.unwrap();
    // Opening again applies no migration twice.
    Db::open(&at).await.unwrap();
    conformance(db).await;
}
