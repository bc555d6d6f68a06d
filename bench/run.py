#!/usr/bin/env python3
"""Gantry beside its peer and two ceilings, one after the other in one run; writes BENCHMARKS.md.

Started by scripts/bench.sh after it has installed wrk and node and built the release binaries.
Each case runs against each target with the same wrk settings; for each run: requests per second,
p50 and p99 latency, CPU seconds per 1000 requests and peak RSS of the server process (read from
/proc), and the share of the matching ceiling. Errors (non-2xx answers) void a row.
"""

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATION = int(os.environ.get("DURATION", "4"))
CONNS = [int(c) for c in os.environ.get("CONNS", "16 64").split()]
THREADS = int(os.environ.get("THREADS", "2"))
TICK = os.sysconf("SC_CLK_TCK")
AUTH = "Basic YmVuY2g6YmVuY2gtc2VjcmV0"  # bench:bench-secret

GANTRY_CONFIG = """issuer: http://127.0.0.1:{port}/dex
{storage}
web:
  http: 127.0.0.1:{port}
logger:
  level: warn
signing:
  algorithm: ES256
oauth2:
  passwordConnector: local
staticClients:
  - id: bench
    name: Bench
    secret: bench-secret
    redirectURIs: [http://127.0.0.1:5555/callback]
    grantTypes: [client_credentials, authorization_code, refresh_token, password]
staticPasswords:
  - email: bench@example.com
    hash: "{hash}"
    username: bench
    userID: bench
    groups: [developers]
registry:
  services:
    - name: bench-registry
      issuer: gantry
# The load comes from one address and one client: budgets far above what a round sends.
rateLimits:
  perAddress: {{ perMinute: 100000000, burst: 1000000 }}
  perUser: {{ perMinute: 100000000, burst: 1000000 }}
policy:
  rules:
    - name: developers
      groups: [developers]
      registry: [{{ repositories: ["team/**"], actions: [pull, push] }}]
"""
POOL = int(os.environ.get("POOL", "256"))
# One-shot authorization codes: each round spends its own; seed more than a round can.
ONCE_DURATION = int(os.environ.get("ONCE_DURATION", "3"))
CODES = int(os.environ.get("CODES", "30000"))
PEER_CODES = int(os.environ.get("PEER_CODES", "10000"))
# Gantry's database for the main rounds: sqlite (default) or postgres.
STORAGE = os.environ.get("BENCH_STORAGE", "sqlite")
# Refresh latency with this many refresh tokens stored, on each backend.
GROWTH = [int(n) for n in os.environ.get("GROWTH", "10000 100000 1000000").split()]
GROWTH_BACKENDS = os.environ.get("GROWTH_BACKENDS", "sqlite postgres").split()
GROWTH_POOL = 192
# Which parts run: the main table, the growth rounds (PARTS=growth for those alone).
PARTS = os.environ.get("PARTS", "main growth").split()
GROWTH_CONNS = 16
# Where cargo put the binaries: CARGO_TARGET_DIR when the user set one.
TARGET = Path(os.environ["CARGO_TARGET_DIR"]) if os.environ.get("CARGO_TARGET_DIR") else ROOT / "target"
GANTRY_BIN = TARGET / "release" / "gantry"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, what, timeout=60):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.02)
    sys.exit(f"{what} did not answer {url} within {timeout} s")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def reset_peak_rss(pid):
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def rss_mb(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]


def wrk(url, conns, script=None, env=None, seconds=DURATION):
    threads = min(THREADS, conns)
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", str(ROOT / "bench" / "wrk" / script)]
    env = dict(env or {})
    out = subprocess.run(
        cmd + [url], capture_output=True, text=True,
        env={**os.environ, **env, "WRK_THREADS": str(threads)}, check=False,
    ).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": to_ms(pct.get("50", "")),
        "p99": to_ms(pct.get("99", "")),
        "requests": int(total.group(1)) if total else 0,
        "errors": int(errors.group(1)) if errors else 0,
        "raw": out,
    }


class Server:
    def __init__(self, name, cmd, ready_url, cwd=None, env=None):
        self.name = name
        log = open(WORK / f"{name}.log", "w")
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        self.ready_s = wait_http(ready_url, self.proc, name)

    def measure(self, url, conns, script=None, env=None, seconds=DURATION):
        pid = self.proc.pid
        reset_peak_rss(pid)
        before = cpu_seconds(pid)
        r = wrk(url, conns, script, env, seconds)
        r["cpu_per_1k"] = (cpu_seconds(pid) - before) / max(r["requests"], 1) * 1000
        r["peak_rss"] = rss_mb(pid, "VmHWM")
        return r

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def cpu_line():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def criterion(path):
    """Median times (microseconds) of the micro-benchmarks, from criterion's output."""
    out = {}
    text = Path(path).read_text() if path and Path(path).is_file() else ""
    for name, mid, unit in re.findall(r"^(\S.*?)\s+time:\s+\[\S+ \S+ ([\d.]+) (ns|µs|us|ms|s)", text, re.M):
        scale = {"ns": 0.001, "µs": 1, "us": 1, "ms": 1000, "s": 1e6}[unit]
        out[name.strip()] = float(mid) * scale
    return out


def split_pools(target, tokens):
    """One pool of POOL tokens per connection count: a round spends the pool it uses."""
    if len(tokens) < POOL * len(CONNS):
        sys.exit(f"{target}: {len(tokens)} refresh tokens seeded, {POOL * len(CONNS)} needed")
    for i, conns in enumerate(CONNS):
        (WORK / f"{target}-rt-{conns}.txt").write_text("\n".join(tokens[i * POOL:(i + 1) * POOL]) + "\n")


def gantry_refresh_tokens(token_url, n):
    """n logins (password grant, argon2id each), their refresh tokens."""
    from concurrent.futures import ThreadPoolExecutor

    body = urllib.parse.urlencode({"grant_type": "password", "username": "bench@example.com",
                                   "password": "bench-password",
                                   "scope": "openid offline_access"}).encode()

    def one(_):
        req = urllib.request.Request(token_url, data=body, method="POST", headers={
            "Authorization": AUTH, "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["refresh_token"]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


REDIRECT = "http://127.0.0.1:5555/callback"
REFRESH_COLUMNS = ("id, family_id, secret_hash, client_id, subject, scopes, nonce, identity, auth_time, "
                   "created_at, last_used_at, family_created_at, rotated_at, successor_id, revoked_at")


class Store:
    """Gantry's database (SQLite file or a throwaway PostgreSQL), for seeding what logins would
    have left there: authorization codes and stored refresh tokens."""

    def __init__(self, kind, work):
        self.kind = kind
        self.work = work
        if kind == "postgres":
            self.pgdir = Path(tempfile.mkdtemp(prefix="gantry-bench-pg-"))
            # fsync on, as in production: a refresh must be durable before it is answered.
            self.port = subprocess.run([str(ROOT / "scripts/peers/postgres.sh"), "start", str(self.pgdir)],
                                       capture_output=True, text=True, check=True).stdout.strip()
            self.dsn = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.file = work / f"gantry-{kind}.db"

    def config(self):
        if self.kind == "postgres":
            return f'storage:\n  type: postgres\n  config:\n    dsn: "{self.dsn}?sslmode=disable"'
        return f"storage:\n  type: sqlite3\n  config:\n    file: {self.file}"

    def reset(self):
        """An empty database for the next Gantry to migrate."""
        if self.kind == "postgres":
            self.sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.file}{suffix}").unlink(missing_ok=True)

    def sql(self, statement):
        """Run SQL; the first column of the last statement's rows."""
        if self.kind == "postgres":
            out = subprocess.run(["psql", "-qAt", "-v", "ON_ERROR_STOP=1", self.dsn, "-c", statement],
                                 capture_output=True, text=True, check=True).stdout
            return out.splitlines()
        import sqlite3
        with sqlite3.connect(self.file, timeout=30) as db:
            return [str(r[0]) for r in db.execute(statement).fetchall()]

    def insert_codes(self, codes, identity):
        """Authorization codes as the login flow stores them: under SHA-256 of the code."""
        import base64
        import hashlib

        now = int(time.time())
        rows = [(base64.urlsafe_b64encode(hashlib.sha256(c.encode()).digest()).rstrip(b"=").decode(),
                 "bench", REDIRECT, "openid", "", "", "", identity, now, now + 3600) for c in codes]
        cols = ("code_hash, client_id, redirect_uri, scopes, nonce, code_challenge, code_challenge_method, "
                "identity, auth_time, expires_at")
        if self.kind == "postgres":
            import csv
            import io
            buf = io.StringIO()
            # Quoted: COPY reads an unquoted empty field as NULL, and these columns are NOT NULL.
            csv.writer(buf, quoting=csv.QUOTE_ALL).writerows(rows)
            subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", self.dsn, "-c",
                            f"COPY auth_codes ({cols}) FROM STDIN WITH (FORMAT csv)"],
                           input=buf.getvalue(), text=True, check=True)
            return
        import sqlite3
        with sqlite3.connect(self.file, timeout=30) as db:
            db.executemany(f"INSERT INTO auth_codes ({cols}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def fill_refresh(self, n, identity):
        """n refresh tokens of n other users (random ids, as issued), beside the measured ones."""
        now = int(time.time())
        ident = identity.replace("'", "''")
        if self.kind == "postgres":
            self.sql(f"INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) SELECT md5(random()::text), "
                     "md5(random()::text), md5(random()::text) || md5(random()::text), 'bench', "
                     f"'filler-' || g || '-' || md5(random()::text), 'openid offline_access', '', '{ident}', "
                     f"{now}, {now}, {now}, {now}, NULL, NULL, NULL FROM generate_series(1, {n}) AS g")
        else:
            self.sql(f"INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) WITH RECURSIVE c(x) AS "
                     f"(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT lower(hex(randomblob(16))), "
                     "lower(hex(randomblob(16))), lower(hex(randomblob(32))), 'bench', "
                     f"'filler-' || x || '-' || lower(hex(randomblob(8))), 'openid offline_access', '', '{ident}', "
                     f"{now}, {now}, {now}, {now}, NULL, NULL, NULL FROM c")
        # A bulk load is not what a server lives through: settle it (fold SQLite's WAL into the
        # database, let PostgreSQL's planner see the new size) before measuring.
        self.sql("ANALYZE refresh_tokens" if self.kind == "postgres" else "PRAGMA wal_checkpoint(TRUNCATE)")

    def stop(self):
        if self.kind == "postgres":
            subprocess.run([str(ROOT / "scripts/peers/postgres.sh"), "stop", str(self.pgdir)], check=False)
            shutil.rmtree(self.pgdir, ignore_errors=True)


def token_request(url, form, auth=AUTH):
    req = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST", headers={
        "Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def random_codes(n):
    import secrets
    return [secrets.token_urlsafe(32) for _ in range(n)]


def start_gantry(store, name="gantry"):
    port = free_port()
    cfg = WORK / f"{name}.yaml"
    cfg.write_text(GANTRY_CONFIG.format(port=port, storage=store.config(), hash=PW_HASH))
    server = Server(name, [str(GANTRY_BIN), "serve", "--config", str(cfg)],
                    f"http://127.0.0.1:{port}/dex/healthz/ready")
    return server, f"http://127.0.0.1:{port}"


def write_pools(prefix, values, size, count):
    """count files of size values each: WORK/prefix-0.txt ..."""
    if len(values) < size * count:
        sys.exit(f"{prefix}: {len(values)} values seeded, {size * count} needed")
    for i in range(count):
        (WORK / f"{prefix}-{i}.txt").write_text("\n".join(values[i * size:(i + 1) * size]) + "\n")


def main_rounds(store):
    """Every case against Gantry, the peer and the ceiling; the rows and Gantry's memory."""
    rounds = len(CONNS)
    gantry, g = start_gantry(store)
    servers = {"gantry": gantry}
    try:
        # Idle: started and ready, before anything else touched it.
        idle_rss = rss_mb(gantry.proc.pid, "VmRSS")
        pport, cport = free_port(), free_port()
        servers["peer"] = Server(
            "peer", ["node", "peer.mjs"], f"http://127.0.0.1:{pport}/.well-known/openid-configuration",
            cwd=ROOT / "bench",
            env={"PORT": str(pport), "SEED_REFRESH": str(POOL * rounds), "SEED_FILE": str(WORK / "peer-rt.txt"),
                 "SEED_CODES": str(PEER_CODES * rounds), "CODES_FILE": str(WORK / "peer-codes.txt"),
                 "USERINFO_FILE": str(WORK / "peer-userinfo.txt")},
        )
        split_pools("peer", (WORK / "peer-rt.txt").read_text().split())
        write_pools("peer-codes", (WORK / "peer-codes.txt").read_text().split(), PEER_CODES, rounds)
        peer_at = (WORK / "peer-userinfo.txt").read_text().strip()
        split_pools("gantry", gantry_refresh_tokens(f"{g}/dex/token", POOL * rounds))
        # After the logins that seeded the refresh rounds: argon2's work areas are kept.
        login_rss = rss_mb(gantry.proc.pid, "VmRSS")
        identity = store.sql("SELECT identity FROM refresh_tokens LIMIT 1")[0]
        codes = random_codes(CODES * rounds)
        store.insert_codes(codes, identity)
        write_pools("gantry-codes", codes, CODES, rounds)
        user_at = token_request(f"{g}/dex/token", {
            "grant_type": "password", "username": "bench@example.com", "password": "bench-password",
            "scope": "openid profile email groups"})["access_token"]
        client_at = token_request(f"{g}/dex/token", {"grant_type": "client_credentials"})["access_token"]
        servers["ceiling"] = Server(
            "ceiling", [str(TARGET / "release" / "ceiling"), f"127.0.0.1:{cport}"],
            f"http://127.0.0.1:{cport}/hello",
        )
        p, c = (f"http://127.0.0.1:{x}" for x in (pport, cport))
        form = "application/x-www-form-urlencoded"
        user_basic = "Basic " + __import__("base64").b64encode(b"bench@example.com:bench-password").decode()
        registry_url = f"{g}/dex/registry/token?service=bench-registry&scope=repository:team/app:pull,push"
        # The first registry call pays argon2id; the rounds measure the cached credential.
        req = urllib.request.Request(registry_url, headers={"Authorization": user_basic})
        with urllib.request.urlopen(req, timeout=10) as r:
            if r.status != 200:
                sys.exit(f"registry token answered {r.status}")
        hello = ("hello", f"{c}/hello", None, None)
        sign = ("sign ES256", f"{c}/sign", "post.lua", {"BODY": "", "AUTH": AUTH, "CTYPE": form})
        code_form = f"grant_type=authorization_code&redirect_uri={urllib.parse.quote(REDIRECT, safe='')}&code="
        cases = [
            # (case, {target: (url, script, env)}, ceiling, seconds per round)
            ("discovery", {
                "gantry": (f"{g}/dex/.well-known/openid-configuration", None, None),
                "peer": (f"{p}/.well-known/openid-configuration", None, None),
            }, hello, DURATION),
            ("JWKS", {
                "gantry": (f"{g}/dex/keys", None, None),
                "peer": (f"{p}/jwks", None, None),
            }, hello, DURATION),
            ("client_credentials", {
                "gantry": (f"{g}/dex/token", "post.lua",
                           {"BODY": "grant_type=client_credentials", "AUTH": AUTH, "CTYPE": form}),
                "peer": (f"{p}/token", "post.lua",
                         {"BODY": "grant_type=client_credentials&scope=api", "AUTH": AUTH, "CTYPE": form}),
            }, sign, DURATION),
            ("refresh_token (rotation)", {
                "gantry": (f"{g}/dex/token", "refresh.lua",
                           {"TOKENS": str(WORK / "gantry-rt-{conns}.txt"), "AUTH": AUTH}),
                "peer": (f"{p}/token", "refresh.lua",
                         {"TOKENS": str(WORK / "peer-rt-{conns}.txt"), "AUTH": AUTH}),
            }, sign, DURATION),
            ("authorization_code", {
                "gantry": (f"{g}/dex/token", "once.lua",
                           {"TOKENS": str(WORK / "gantry-codes-{round}.txt"), "AUTH": AUTH, "FORM": code_form}),
                "peer": (f"{p}/token", "once.lua",
                         {"TOKENS": str(WORK / "peer-codes-{round}.txt"), "AUTH": AUTH, "FORM": code_form}),
            }, sign, ONCE_DURATION),
            ("introspection", {
                "gantry": (f"{g}/dex/token/introspect", "post.lua",
                           {"BODY": f"token={client_at}", "AUTH": AUTH, "CTYPE": form}),
                "peer": (f"{p}/token/introspection", "post.lua",
                         {"BODY": f"token={peer_at}", "AUTH": AUTH, "CTYPE": form}),
            }, hello, DURATION),
            ("userinfo", {
                "gantry": (f"{g}/dex/userinfo", "get.lua", {"AUTH": f"Bearer {user_at}"}),
                "peer": (f"{p}/me", "get.lua", {"AUTH": f"Bearer {peer_at}"}),
            }, hello, DURATION),
            ("registry token (cached Basic)", {
                "gantry": (registry_url, "get.lua", {"AUTH": user_basic}),
            }, sign, DURATION),
        ]
        # One token first: each answers as the load will find it (keys generated, caches warm).
        for target, (url, _, env) in cases[2][1].items():
            req = urllib.request.Request(url, data=env["BODY"].encode(), method="POST",
                                         headers={"Authorization": AUTH, "Content-Type": form})
            with urllib.request.urlopen(req, timeout=5) as r:
                if r.status != 200:
                    sys.exit(f"{target}: client_credentials answered {r.status}")
        rows = []
        for case, targets_, (ceil_name, ceil_url, ceil_script, ceil_env), seconds in cases:
            for n, conns in enumerate(CONNS):
                results = {}
                for target, (url, script, env) in targets_.items():
                    env = {k: v.format(conns=conns, round=n) for k, v in (env or {}).items()}
                    results[target] = servers[target].measure(url, conns, script, env, seconds)
                results["ceiling"] = servers["ceiling"].measure(ceil_url, conns, ceil_script, ceil_env, seconds)
                rows.append((case, conns, ceil_name, results))
                g_, c_ = results["gantry"], results["ceiling"]
                p_ = results.get("peer", {"rps": 0, "errors": 0})
                print(f"{case:30} c{conns:<3} gantry {g_['rps']:9.0f}/s  peer {p_['rps']:8.0f}/s  "
                      f"{ceil_name} {c_['rps']:8.0f}/s  errors {g_['errors']}/{p_['errors']}/{c_['errors']}",
                      flush=True)
        for _, _, _, r in rows:
            for v in r.values():
                v.pop("raw", None)
        return rows, idle_rss, login_rss, gantry.ready_s
    finally:
        for server in servers.values():
            server.stop()


def growth(kind):
    """Refresh latency as stored tokens grow, and start-up time empty and full, on one backend."""
    store = Store(kind, WORK)
    out = {"kind": kind, "rounds": []}
    gantry = None
    try:
        store.reset()
        gantry, g = start_gantry(store, f"gantry-growth-{kind}")
        out["ready_empty_s"] = gantry.ready_s
        pools = len(GROWTH)
        write_pools(f"growth-{kind}", gantry_refresh_tokens(f"{g}/dex/token", GROWTH_POOL * pools),
                    GROWTH_POOL, pools)
        identity = store.sql("SELECT identity FROM refresh_tokens LIMIT 1")[0]
        for i, size in enumerate(GROWTH):
            # Rotations of the previous round stored rows too: fill up to the size.
            stored = int(store.sql("SELECT count(*) FROM refresh_tokens")[0])
            t = time.monotonic()
            if size > stored:
                store.fill_refresh(size - stored, identity)
            stored = int(store.sql("SELECT count(*) FROM refresh_tokens")[0])
            fill_s = time.monotonic() - t
            r = gantry.measure(f"{g}/dex/token", GROWTH_CONNS, "refresh.lua",
                               {"TOKENS": str(WORK / f"growth-{kind}-{i}.txt"), "AUTH": AUTH}, DURATION)
            r.pop("raw", None)
            out["rounds"].append({"stored": stored, "fill_s": fill_s, **r})
            print(f"growth {kind:8} {stored:>8} tokens: {r['rps']:7.0f}/s p50 {r['p50']:.2f} ms "
                  f"p99 {r['p99']:.2f} ms errors {r['errors']} (filled in {fill_s:.0f} s)", flush=True)
        gantry.stop()
        gantry, _ = start_gantry(store, f"gantry-growth-{kind}-restart")
        out["ready_full_s"] = gantry.ready_s
        print(f"growth {kind:8} ready: empty {out['ready_empty_s'] * 1000:.0f} ms, "
              f"{stored} tokens {out['ready_full_s'] * 1000:.0f} ms", flush=True)
        return out
    finally:
        if gantry:
            gantry.stop()
        store.stop()


def main():
    global WORK, PW_HASH
    WORK = Path(tempfile.mkdtemp(prefix="gantry-bench-"))
    micro = criterion(os.environ.get("CRITERION_OUT", ""))
    PW_HASH = subprocess.run([str(GANTRY_BIN), "hash-password"], input="bench-password\n",
                             capture_output=True, text=True, check=True).stdout.strip()
    rows, idle_rss, login_rss, ready_s = [], 0.0, 0.0, 0.0
    if "main" in PARTS:
        store = Store(STORAGE, WORK)
        try:
            rows, idle_rss, login_rss, ready_s = main_rounds(store)
        finally:
            store.stop()
    grown = [growth(kind) for kind in GROWTH_BACKENDS] if "growth" in PARTS else []
    saved = TARGET / "bench-results.json"
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(json.dumps({"rows": rows, "micro": micro, "idle_rss": idle_rss, "login_rss": login_rss,
                                 "ready_s": ready_s, "growth": grown, "storage": STORAGE}))
    report(rows, micro, idle_rss, ready_s, login_rss, grown, STORAGE)
    shutil.rmtree(WORK, ignore_errors=True)


def targets(rows, idle_rss, ready_s, grown, storage):
    """The issue's targets, each with what this run measured."""
    def row(case, conns):
        return next((r for c, n, _, r in rows if c == case and n == conns), None)

    out = []
    # Issue 22's targets, and the earlier ones no figure may drop below again.
    for case, peer_x, ceil_share, ceiling in (
        ("client_credentials", 6, 0.75, "sign ES256"),
        ("refresh_token (rotation)", 5 if storage == "sqlite" else 3, None, None),
        ("authorization_code", 5, None, None),
        ("introspection", 5, None, None),
        ("userinfo", 5, None, None),
        ("discovery", 5, 0.60, "hello"),
        ("JWKS", 5, 0.60, "hello"),
    ):
        for conns in CONNS:
            r = row(case, conns)
            if not r:
                continue
            g, p, c = r["gantry"]["rps"], r["peer"]["rps"], r["ceiling"]["rps"]
            out.append((f"{case} at {conns}: at least {peer_x}x the peer", f"{g / max(p, 1):.2f}x",
                        g >= peer_x * p))
            if ceil_share:
                out.append((f"{case} at {conns}: at least {ceil_share:.0%} of `{ceiling}`",
                            f"{g / max(c, 1):.0%}", g >= ceil_share * c))
    r = row("client_credentials", 64)
    if r:
        out.append(("client_credentials p99 under 10 ms at 64", f"{r['gantry']['p99']:.2f} ms",
                    r["gantry"]["p99"] < 10))
    for conns in CONNS:
        r = row("refresh_token (rotation)", conns)
        if r:
            out.append((f"refresh_token p99 under 20 ms at {conns} ({storage})", f"{r['gantry']['p99']:.2f} ms",
                        r["gantry"]["p99"] < 20))
        reg, cc = row("registry token (cached Basic)", conns), row("client_credentials", conns)
        if reg and cc:
            share = reg["gantry"]["rps"] / max(cc["gantry"]["rps"], 1)
            out.append((f"registry token at {conns}: at least 70% of client_credentials", f"{share:.0%}",
                        share >= 0.7))
    for gr in grown:
        first, last = gr["rounds"][0], gr["rounds"][-1]
        ratio = last["p50"] / max(first["p50"], 1e-9)
        out.append((f"refresh p50 within 1.5x from {first['stored']:,} to {last['stored']:,} tokens ({gr['kind']})",
                    f"{ratio:.2f}x", ratio <= 1.5))
    peak = max((r["gantry"]["peak_rss"] for _, _, _, r in rows), default=0)
    out.append(("RSS under 50 MB idle", f"{idle_rss:.1f} MB", idle_rss < 50))
    out.append(("RSS under 150 MB under load", f"{peak:.1f} MB", peak < 150))
    sqlite_ready = next((gr["ready_empty_s"] for gr in grown if gr["kind"] == "sqlite"),
                        ready_s if storage == "sqlite" else None)
    if sqlite_ready is not None:
        out.append(("ready in under 200 ms on SQLite", f"{sqlite_ready * 1000:.0f} ms", sqlite_ready < 0.2))
    return out


def report(rows, micro, idle_rss, ready_s, login_rss=None, grown=(), storage="sqlite"):
    cores = os.cpu_count() or 1
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench.sh` from one run on this machine; every ratio compares rounds of "
        "that same run (the machine's speed drifts by up to 2x over an hour, so absolute figures "
        "from different runs do not compare).",
        "",
        f"- CPU: {cpu_line()}, {cores} cores; load generator on the same machine: "
        f"{version(['wrk', '--version'])}, {THREADS} threads, {DURATION} s per round "
        f"({ONCE_DURATION} s for authorization codes, which are spent)",
        f"- Gantry {version([str(GANTRY_BIN), '--version'])} (release build, {storage} for the main table); "
        f"peer: oidc-provider 9.13.3 on node {version(['node', '--version'])}, grants in memory; "
        "ceilings: benches/ceiling.rs (axum; `sign ES256` signs one JWT with a key parsed once, "
        "`hello` returns a constant)",
        f"- Gantry idle RSS {idle_rss:.1f} MB"
        + (f" ({login_rss:.1f} MB after the {POOL * len(CONNS)} password logins that seed the refresh "
           "rounds: one argon2id work area per core is kept)" if login_rss else "")
        + f"; ready {ready_s * 1000:.0f} ms after start (empty database, measured from outside, "
        "including process start)",
        "",
        "| case | conns | Gantry req/s | p50 ms | p99 ms | CPU s/1k req | peak RSS MB | peer req/s "
        "| peer p99 ms | peer CPU s/1k | peer RSS MB | Gantry/peer | ceiling | ceiling req/s "
        "| Gantry/ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    bad = lambda x: " (errors: %d)" % x["errors"] if x["errors"] else ""  # noqa: E731
    for case, conns, ceil_name, r in rows:
        g, c = r["gantry"], r["ceiling"]
        p = r.get("peer")
        peer = (f"{p['rps']:.0f}{bad(p)} | {p['p99']:.2f} | {p['cpu_per_1k']:.3f} | {p['peak_rss']:.1f} | "
                f"{g['rps'] / max(p['rps'], 1):.2f}x" if p else "– | – | – | – | –")
        lines.append(
            f"| {case} | {conns} | {g['rps']:.0f}{bad(g)} | {g['p50']:.2f} | {g['p99']:.2f} | "
            f"{g['cpu_per_1k']:.3f} | {g['peak_rss']:.1f} | {peer} | "
            f"{ceil_name} | {c['rps']:.0f}{bad(c)} | {g['rps'] / max(c['rps'], 1):.0%} |"
        )
    lines += ["", "What each case does: discovery and JWKS are pre-rendered bytes. client_credentials signs "
              "one ES256 access token. refresh_token spends a token of a pool (one per connection count, "
              "each its own family) and rotates it: Gantry commits the successor to its database before "
              "answering; the peer keeps grants in memory. authorization_code spends a pre-issued code "
              "(Gantry's written to its database as a login leaves them, the peer's saved through its "
              "models) for an ID token and an access token. introspection: Gantry verifies its JWT "
              "access token and checks its revocation list; the peer cannot introspect its JWT access "
              "tokens, so it looks up an opaque one. userinfo: a user's access token, verified (Gantry) "
              "or looked up (peer). registry token: Docker Registry v2 token auth with a local user's "
              "Basic credentials (the first call paid argon2id; the rounds hit the credential cache), the "
              "policy decides `pull,push` on `team/app`; the peer has no registry endpoint."]
    if grown:
        lines += ["", "## Growth: refresh_token with rotation as stored tokens grow", "",
                  f"wrk -c{GROWTH_CONNS}, {DURATION} s per round, a fresh pool of {GROWTH_POOL} tokens from "
                  "password logins per round; the other stored tokens are other users' (random ids), bulk-"
                  "inserted between rounds and settled (SQLite's WAL checkpointed, PostgreSQL analyzed) "
                  "before the round.", "",
                  "| backend | stored refresh tokens | req/s | p50 ms | p99 ms | CPU s/1k req |",
                  "|---|---:|---:|---:|---:|---:|"]
        for gr in grown:
            for r in gr["rounds"]:
                lines.append(f"| {gr['kind']} | {r['stored']:,} | {r['rps']:.0f}{bad(r)} | {r['p50']:.2f} | "
                             f"{r['p99']:.2f} | {r['cpu_per_1k']:.3f} |")
        lines += ["", "| backend | ready, empty database | ready, with the largest store |", "|---|---:|---:|"]
        for gr in grown:
            lines.append(f"| {gr['kind']} | {gr['ready_empty_s'] * 1000:.0f} ms | "
                         f"{gr['ready_full_s'] * 1000:.0f} ms ({gr['rounds'][-1]['stored']:,} tokens) |")
    if micro:
        lines += ["", "## Limits (criterion, benches/signing.rs)", "",
                  "| operation | time per call | calls/s on one core | calls/s on all cores |",
                  "|---|---:|---:|---:|"]
        for name, us in micro.items():
            lines.append(f"| {name} | {us:.1f} µs | {1e6 / us:.0f} | {cores * 1e6 / us:.0f} |")
        es = micro.get("sign ES256")
        if es:
            lines += ["", "Signing-bound maximum for ES256 (all cores doing nothing but sign): "
                      f"{cores * 1e6 / es:.0f} tokens/s; Gantry's best client_credentials round "
                      "reached {:.0%} of it.".format(
                          max((r["gantry"]["rps"] for cs, _, _, r in rows if cs == "client_credentials"),
                              default=0) / (cores * 1e6 / es))]
    lines += ["", "## Targets", "", "| target | this run | met |", "|---|---:|---|"]
    for name, got, met in targets(rows, idle_rss, ready_s, grown, storage):
        lines.append(f"| {name} | {got} | {'yes' if met else '**no**'} |")
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    out = ROOT / "BENCHMARKS.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--report"]:
        # Rewrite BENCHMARKS.md from the last run's figures (after editing bench/NOTES.md).
        d = json.loads((TARGET / "bench-results.json").read_text())
        report([tuple(r) for r in d["rows"]], d["micro"], d["idle_rss"], d["ready_s"],
               d.get("login_rss"), d.get("growth", []), d.get("storage", "sqlite"))
    else:
        main()
