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
DURATION = int(os.environ.get("DURATION", "10"))
CONNS = [int(c) for c in os.environ.get("CONNS", "16 64").split()]
THREADS = int(os.environ.get("THREADS", "2"))
TICK = os.sysconf("SC_CLK_TCK")
AUTH = "Basic YmVuY2g6YmVuY2gtc2VjcmV0"  # bench:bench-secret

GANTRY_CONFIG = """issuer: http://127.0.0.1:{port}/dex
storage:
  type: sqlite3
  config:
    file: {dir}/gantry.db
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
"""
POOL = int(os.environ.get("POOL", "512"))


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


def wrk(url, conns, script=None, env=None):
    threads = min(THREADS, conns)
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{DURATION}s", "--latency"]
    if script:
        cmd += ["-s", str(ROOT / "bench" / "wrk" / script)]
    env = dict(env or {})
    if "TOKENS" in env:
        env["TOKENS"] = env["TOKENS"].format(conns=conns)
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

    def measure(self, url, conns, script=None, env=None):
        pid = self.proc.pid
        reset_peak_rss(pid)
        before = cpu_seconds(pid)
        r = wrk(url, conns, script, env)
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
    text = Path(path).read_text() if Path(path).exists() else ""
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


def main():
    global WORK
    WORK = Path(tempfile.mkdtemp(prefix="gantry-bench-"))
    micro = criterion(os.environ.get("CRITERION_OUT", ""))
    gport, pport, cport = free_port(), free_port(), free_port()
    gantry_bin = ROOT / "target" / "release" / "gantry"
    pw_hash = subprocess.run([str(gantry_bin), "hash-password"], input="bench-password\n",
                             capture_output=True, text=True, check=True).stdout.strip()
    (WORK / "gantry.yaml").write_text(GANTRY_CONFIG.format(port=gport, dir=WORK, hash=pw_hash))
    seeds = POOL * len(CONNS)
    servers = {}
    try:
        servers["gantry"] = Server(
            "gantry", [str(gantry_bin), "serve", "--config", str(WORK / "gantry.yaml")],
            f"http://127.0.0.1:{gport}/dex/healthz/ready",
        )
        # Idle: started and ready, before anything else touched it.
        idle_rss = rss_mb(servers["gantry"].proc.pid, "VmRSS")
        servers["peer"] = Server(
            "peer", ["node", "peer.mjs"], f"http://127.0.0.1:{pport}/.well-known/openid-configuration",
            cwd=ROOT / "bench",
            env={"PORT": str(pport), "SEED_REFRESH": str(seeds), "SEED_FILE": str(WORK / "peer-rt.txt")},
        )
        split_pools("peer", (WORK / "peer-rt.txt").read_text().split())
        split_pools("gantry", gantry_refresh_tokens(f"http://127.0.0.1:{gport}/dex/token", seeds))
        # After the logins that seeded the refresh rounds: argon2's work areas are kept.
        login_rss = rss_mb(servers["gantry"].proc.pid, "VmRSS")
        servers["ceiling"] = Server(
            "ceiling", [str(ROOT / "target" / "release" / "examples" / "ceiling"), f"127.0.0.1:{cport}"],
            f"http://127.0.0.1:{cport}/hello",
        )
        g, p, c = (f"http://127.0.0.1:{x}" for x in (gport, pport, cport))
        form = "application/x-www-form-urlencoded"
        cases = [
            # (case, {target: (url, script, env)}, ceiling target and url)
            ("discovery", {
                "gantry": (f"{g}/dex/.well-known/openid-configuration", None, None),
                "peer": (f"{p}/.well-known/openid-configuration", None, None),
            }, ("hello", f"{c}/hello", None, None)),
            ("JWKS", {
                "gantry": (f"{g}/dex/keys", None, None),
                "peer": (f"{p}/jwks", None, None),
            }, ("hello", f"{c}/hello", None, None)),
            ("client_credentials", {
                "gantry": (f"{g}/dex/token", "post.lua",
                           {"BODY": "grant_type=client_credentials", "AUTH": AUTH, "CTYPE": form}),
                "peer": (f"{p}/token", "post.lua",
                         {"BODY": "grant_type=client_credentials&scope=api", "AUTH": AUTH, "CTYPE": form}),
            }, ("sign ES256", f"{c}/sign", "post.lua", {"BODY": "", "AUTH": AUTH, "CTYPE": form})),
            ("refresh_token (rotation)", {
                "gantry": (f"{g}/dex/token", "refresh.lua",
                           {"TOKENS": str(WORK / "gantry-rt-{conns}.txt"), "AUTH": AUTH}),
                "peer": (f"{p}/token", "refresh.lua",
                         {"TOKENS": str(WORK / "peer-rt-{conns}.txt"), "AUTH": AUTH}),
            }, ("sign ES256", f"{c}/sign", "post.lua", {"BODY": "", "AUTH": AUTH, "CTYPE": form})),
        ]
        # One token first: each answers as the load will find it (keys generated, caches warm).
        for target, (url, _, env) in cases[2][1].items():
            req = urllib.request.Request(url, data=env["BODY"].encode(), method="POST",
                                         headers={"Authorization": AUTH, "Content-Type": form})
            with urllib.request.urlopen(req, timeout=5) as r:
                if r.status != 200:
                    sys.exit(f"{target}: client_credentials answered {r.status}")
        rows = []
        for case, targets, (ceil_name, ceil_url, ceil_script, ceil_env) in cases:
            for conns in CONNS:
                results = {}
                for target, (url, script, env) in targets.items():
                    results[target] = servers[target].measure(url, conns, script, env)
                results["ceiling"] = servers["ceiling"].measure(ceil_url, conns, ceil_script, ceil_env)
                rows.append((case, conns, ceil_name, results))
                g_, p_, c_ = results["gantry"], results["peer"], results["ceiling"]
                print(f"{case:20} c{conns:<3} gantry {g_['rps']:9.0f}/s  peer {p_['rps']:8.0f}/s  "
                      f"{ceil_name} {c_['rps']:8.0f}/s  errors {g_['errors']}/{p_['errors']}/{c_['errors']}",
                      flush=True)
        saved = ROOT / "target" / "bench-results.json"
        saved.parent.mkdir(exist_ok=True)
        for _, _, _, r in rows:
            for v in r.values():
                v.pop("raw", None)
        saved.write_text(json.dumps({"rows": rows, "micro": micro, "idle_rss": idle_rss,
                                     "login_rss": login_rss, "ready_s": servers["gantry"].ready_s}))
        report(rows, micro, idle_rss, servers["gantry"].ready_s, login_rss)
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(WORK, ignore_errors=True)


def targets(rows, idle_rss, ready_s):
    """The issue's targets, each with what this run measured."""
    def row(case, conns):
        return next((r for c, n, _, r in rows if c == case and n == conns), None)

    out = []
    for case, peer_x, ceil_share, ceiling in (
        ("client_credentials", 6, 0.75, "sign ES256"),
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
            out.append((f"{case} at {conns}: at least {ceil_share:.0%} of `{ceiling}`",
                        f"{g / max(c, 1):.0%}", g >= ceil_share * c))
    r = row("client_credentials", 64)
    if r:
        out.append(("client_credentials p99 under 10 ms at 64", f"{r['gantry']['p99']:.2f} ms",
                    r["gantry"]["p99"] < 10))
    peak = max((r["gantry"]["peak_rss"] for _, _, _, r in rows), default=0)
    out.append(("RSS under 50 MB idle", f"{idle_rss:.1f} MB", idle_rss < 50))
    out.append(("RSS under 150 MB under load", f"{peak:.1f} MB", peak < 150))
    out.append(("ready in under 200 ms on SQLite", f"{ready_s * 1000:.0f} ms", ready_s < 0.2))
    return out


def report(rows, micro, idle_rss, ready_s, login_rss=None):
    cores = os.cpu_count() or 1
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench.sh` from one run on this machine; every ratio compares rounds of "
        "that same run (the machine's speed drifts by up to 2x over an hour, so absolute figures "
        "from different runs do not compare).",
        "",
        f"- CPU: {cpu_line()}, {cores} cores; load generator on the same machine: "
        f"{version(['wrk', '--version'])}, {THREADS} threads, {DURATION} s per round",
        f"- Gantry {version([str(ROOT / 'target/release/gantry'), '--version'])} (release build, SQLite); "
        f"peer: oidc-provider 9.13.3 on node {version(['node', '--version'])}; "
        "ceilings: benches/ceiling.rs (axum; `sign ES256` signs one JWT with a key parsed once, "
        "`hello` returns a constant)",
        f"- Gantry idle RSS {idle_rss:.1f} MB"
        + (f" ({login_rss:.1f} MB after the {POOL * len(CONNS)} password logins that seed the refresh "
           "rounds: one argon2id work area per core is kept)" if login_rss else "")
        + f"; ready {ready_s * 1000:.0f} ms after start (empty SQLite, measured from outside, "
        "including process start)",
        "",
        "| case | conns | Gantry req/s | p50 ms | p99 ms | CPU s/1k req | peak RSS MB | peer req/s "
        "| peer p99 ms | peer CPU s/1k | peer RSS MB | Gantry/peer | ceiling | ceiling req/s "
        "| Gantry/ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for case, conns, ceil_name, r in rows:
        g, p, c = r["gantry"], r["peer"], r["ceiling"]
        bad = lambda x: " (errors: %d)" % x["errors"] if x["errors"] else ""  # noqa: E731
        lines.append(
            f"| {case} | {conns} | {g['rps']:.0f}{bad(g)} | {g['p50']:.2f} | {g['p99']:.2f} | "
            f"{g['cpu_per_1k']:.3f} | {g['peak_rss']:.1f} | {p['rps']:.0f}{bad(p)} | {p['p99']:.2f} | "
            f"{p['cpu_per_1k']:.3f} | {p['peak_rss']:.1f} | {g['rps'] / max(p['rps'], 1):.2f}x | "
            f"{ceil_name} | {c['rps']:.0f}{bad(c)} | {g['rps'] / max(c['rps'], 1):.0%} |"
        )
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
    for name, got, met in targets(rows, idle_rss, ready_s):
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
        d = json.loads((ROOT / "target" / "bench-results.json").read_text())
        report([tuple(r) for r in d["rows"]], d["micro"], d["idle_rss"], d["ready_s"],
               d.get("login_rss"))
    else:
        main()
