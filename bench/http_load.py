"""`make bench-http`: the shipped runtime under load, beside a one-row baseline (decision 0044).

Builds (or reuses) two bench data sets with bench/run.py, a small practice (--small, 1,000
clients) and a large one (--large, 100,000), each in a database of its own
(kapflow_bench_http_<clients>), and serves each with `make serve` itself: gunicorn with
uvicorn workers, the task worker and the scheduler, DEBUG off, no demo mode, the secrets of
var/kapflow.env, plus KAPFLOW_BENCH_VIEWS=1, which adds the baseline view
/bench/baseline/<pk> (kapflow.config.bench_urls: one client row by primary key as JSON,
through the same middleware; production's URLconf never has it).

Then wrk (-t2 -c16, --seconds each, 10 by default) runs against each server in turn, every
target once per round, the targets' order rotated each round, for --rounds rounds:

- ``baseline``: GET /bench/baseline/<id>, ids rotating over the therapist's clients;
- ``api.detail``: GET /api/v1/clients/<id> with the therapist's bearer token, same ids;
- ``api.list``: GET /api/v1/courses with the same token;
- ``caseload``: GET /courses/ with the therapist's signed-in, MFA-verified session cookie.

Each target's requests/s is divided by its server's baseline in the same round; the report
gives per target the median requests/s, p50 and p99 latency over the rounds and the ratio to
the baseline per round and its median, and the large caseload's requests/s over the small
one's, per round. Responses other than 200 are counted by a wrk Lua hook (wrk itself counts
a redirect to the sign-in page as a success) and fail the run. Results go to stdout and to
bench/results/http.json; every server is stopped, by its process group, when the run ends.

    make bench-http                                   # 1,000 and 100,000 clients, 3 rounds
    make bench-http BENCH_ARGS="--large 10000 --rounds 2 --seconds 5"

Needs wrk (/usr/bin/wrk) and PostgreSQL.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "http.json"
DATABASE = "postgres://postgres@127.0.0.1:5432/kapflow_bench_http_{clients}"
TARGETS = ("baseline", "api.detail", "api.list", "caseload")
IDS = 200  # client ids the detail targets rotate over
# The targets (issue 14): each target's requests/s over the baseline's.
GOALS = {"api.detail": 0.5, "api.list": 0.25, "caseload": 0.25}
LARGE_GOAL = 0.5  # the large caseload within 2x of the small one


def log(message: str) -> None:
    print(f"[bench-http] {message}", file=sys.stderr, flush=True)


# ---- the data sets and the credentials ------------------------------------------------------


def build(clients: int, rebuild: bool) -> None:
    """bench/run.py's data set (clients, courses, consents, prescribing, stored facts)."""
    env = {**os.environ, "DATABASE_URL": DATABASE.format(clients=clients), "KAPFLOW_TESTING": "1"}
    args = ["--clients", str(clients), "--scenarios", "reads", "--build-only"]
    if clients < 20_000:
        args += ["--referred", str(clients // 5)]
    if rebuild:
        args.append("--rebuild")
    log(f"data set of {clients:,} clients")
    subprocess.run([sys.executable, str(BENCH_DIR / "run.py"), *args], env=env, check=True)


def credentials(clients: int) -> dict:
    """The therapist's bearer token, session cookie and client ids, made by a child process
    with the server's settings (same SECRET_KEY and field keys) in the server's database."""
    env = server_env(clients, port=0)
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--credentials"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_credentials() -> dict:
    """Run in the child (--credentials): Django set up as the server sets it up."""
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(BENCH_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapflow.config.settings")
    import django

    django.setup()

    from django.conf import settings
    from django.test import Client as HttpClient

    from kapflow.accounts.models import AuthenticatorDevice, Membership
    from kapflow.patients.models import CareTeamMember

    run = importlib.import_module("run")  # bench/run.py: the bench's sign-ins, token helper
    therapist = Membership.objects.select_related("user").get(
        user__email=run.THERAPIST_EMAIL, organisation__slug=run.PRACTICE_SLUG
    )
    # A signed-in session that passed MFA, as after a real sign-in: the login signal starts
    # the idle and sign-in clocks, the OTP key marks the session verified.
    device = AuthenticatorDevice.objects.filter(user=therapist.user, confirmed=True).first()
    if device is None:
        device = AuthenticatorDevice.objects.create(
            user=therapist.user, name="bench", confirmed=True
        )
    web = HttpClient()
    web.force_login(therapist.user, backend="django.contrib.auth.backends.ModelBackend")
    session = web.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    ids = list(
        CareTeamMember.objects.filter(membership=therapist, ended_at__isnull=True)
        .order_by("client_id")
        .values_list("client_id", flat=True)
    )
    step = max(1, len(ids) // IDS)
    return {
        "token": run.bearer(therapist)["HTTP_AUTHORIZATION"].split(" ", 1)[1],
        "cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}",
        "ids": ids[::step][:IDS],
    }


# ---- the servers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(clients: int, port: int) -> dict:
    """What `make serve` gets: this environment (var/kapflow.env's secrets, from the
    Makefile) without test, demo or debug switches, the bench database and the bench URLs."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KAPFLOW_TESTING", "KAPFLOW_DEMO_MODE", "KAPFLOW_DEBUG", "KAPFLOW_DEV")
        and not key.startswith(("DJANGO_", "MAKE", "MFLAGS"))
    }
    env.update(
        {
            "DATABASE_URL": DATABASE.format(clients=clients),
            "KAPFLOW_BENCH_VIEWS": "1",
            "KAPFLOW_BIND": f"127.0.0.1:{port}",
            "KAPFLOW_LOG_LEVEL": "WARNING",
        }
    )
    return env


class Server:
    """`make serve` for one data set, in a process group of its own."""

    def __init__(self, clients: int, logs: Path):
        self.clients = clients
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = logs / f"serve-{clients}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                ["make", "--no-print-directory", "serve"],
                cwd=ROOT,
                env=server_env(clients, self.port),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"make serve ({self.clients}) exited: see {self.log}")
            try:
                with urllib.request.urlopen(self.base + "/health/live", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise SystemExit(f"make serve ({self.clients}) did not answer in {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# ---- wrk -----------------------------------------------------------------------------------

# Rotates the request path over the ids, and counts every response that is not a 200 (wrk
# counts only 4xx and 5xx as errors: a session that lapsed would redirect and look fast).
LUA = """
local paths = {%(paths)s}
local n = 0
bad = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function request()
  n = n %% #paths + 1
  return wrk.format("GET", paths[n])
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("kapflow-not-200: %%d\\n", total))
end
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS[unit]


def wrk(base: str, paths: list[str], headers: dict, seconds: int, scripts: Path) -> dict:
    script = scripts / f"wrk-{abs(hash((base, tuple(paths))))}.lua"
    script.write_text(LUA % {"paths": ", ".join(json.dumps(p) for p in paths)})
    # wrk's own timeout (2 s) would drop a slow page's requests from the latencies.
    command = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    command += ["-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, base], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": to_ms(latency["50"]),
        "p99_ms": to_ms(latency["99"]),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "not_200": int(re.search(r"kapflow-not-200: (\d+)", out).group(1)),
        "socket_errors": sum(int(n) for n in socket.groups()) if socket else 0,
    }


def probe(base: str, path: str, headers: dict) -> None:
    """One request before timing: it must answer 200 (a signed-out page would redirect)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=120) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    if status != 200:
        raise SystemExit(f"{base}{path} answered {status}, not 200")


# ---- the run -------------------------------------------------------------------------------


def targets(creds: dict) -> dict:
    bearer = {"Authorization": f"Bearer {creds['token']}"}
    return {
        "baseline": ([f"/bench/baseline/{i}" for i in creds["ids"]], {}),
        "api.detail": ([f"/api/v1/clients/{i}" for i in creds["ids"]], bearer),
        "api.list": (["/api/v1/courses"], bearer),
        "caseload": (["/courses/"], {"Cookie": creds["cookie"]}),
    }


def run(args) -> dict:
    sizes = [args.small, args.large]
    for clients in sizes:
        build(clients, args.rebuild)
    creds = {clients: credentials(clients) for clients in sizes}
    logs = Path(tempfile.mkdtemp(prefix="kapflow-bench-http-"))
    servers: dict[int, Server] = {}
    try:
        for clients in sizes:  # one at a time: both run migrate and collectstatic first
            servers[clients] = Server(clients, logs)
            servers[clients].wait()
        log(f"serving {', '.join(f'{c:,} clients on {s.base}' for c, s in servers.items())}")
        jobs = [
            (clients, name, *spec)
            for clients in sizes
            for name, spec in targets(creds[clients]).items()
        ]
        for clients, _name, paths, headers in jobs:
            probe(servers[clients].base, paths[0], headers)
        log("warming up (2 s per target)")
        for clients, _name, paths, headers in jobs:
            wrk(servers[clients].base, paths, headers, 2, logs)
        samples: dict = {(c, n): [] for c, n, _p, _h in jobs}
        for round_no in range(args.rounds):
            shift = round_no % len(jobs)
            for clients, name, paths, headers in jobs[shift:] + jobs[:shift]:
                result = wrk(servers[clients].base, paths, headers, args.seconds, logs)
                samples[(clients, name)].append(result)
                log(
                    f"round {round_no + 1} {clients:>7,} {name:10} {result['rps']:8.1f} req/s "
                    f"p50 {result['p50_ms']:7.1f} ms p99 {result['p99_ms']:7.1f} ms "
                    f"not 200: {result['not_200']} socket errors: {result['socket_errors']}"
                )
    finally:
        for server in servers.values():
            server.stop()
    return report(args, sizes, samples)


def report(args, sizes: list[int], samples: dict) -> dict:
    rows = []
    for (clients, name), runs in samples.items():
        base = samples[(clients, "baseline")]
        ratios = [r["rps"] / b["rps"] for r, b in zip(runs, base, strict=True)]
        rows.append(
            {
                "clients": clients,
                "target": name,
                "rps": statistics.median(r["rps"] for r in runs),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "ratio_to_baseline": statistics.median(ratios),
                "ratios": ratios,
                "goal": GOALS.get(name),
                "not_200": sum(r["not_200"] for r in runs),
                "socket_errors": sum(r["socket_errors"] for r in runs),
                "rounds": runs,
            }
        )
    small, large = sizes
    growth = [
        big["rps"] / little["rps"]
        for big, little in zip(
            samples[(large, "caseload")], samples[(small, "caseload")], strict=True
        )
    ]
    return {
        "meta": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip(),
            "rounds": args.rounds,
            "seconds": args.seconds,
            "wrk": "-t2 -c16 --timeout 30s --latency",
            "sizes": sizes,
            "web_workers": os.environ.get("KAPFLOW_WEB_WORKERS", "CPU count"),
            "load_average": os.getloadavg(),
        },
        "targets": rows,
        "caseload_large_over_small": {
            "ratios": growth,
            "median": statistics.median(growth),
            "goal": LARGE_GOAL,
        },
    }


def markdown(result: dict) -> str:
    meta = result["meta"]
    lines = [
        f"## kapflow bench-http: `make serve`, {meta['rounds']} rounds × {meta['seconds']} s "
        f"per target, wrk {meta['wrk']}",
        "",
        "| clients | target | req/s (median) | p50 ms | p99 ms | × baseline (rounds' median) "
        "| × baseline per round | goal | failed |",
        "|---:|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for row in result["targets"]:
        goal = row["goal"]
        met = "" if goal is None else (" ✓" if row["ratio_to_baseline"] >= goal else " ✗")
        lines.append(
            f"| {row['clients']:,} | {row['target']} | {row['rps']:.1f} | {row['p50_ms']:.1f} "
            f"| {row['p99_ms']:.1f} | {row['ratio_to_baseline']:.2f} "
            f"| {', '.join(f'{r:.2f}' for r in row['ratios'])} "
            f"| {'' if goal is None else f'≥ {goal}'}{met} "
            f"| {row['not_200'] + row['socket_errors']} |"
        )
    growth = result["caseload_large_over_small"]
    small, large = meta["sizes"]
    lines += [
        "",
        f"Caseload at {large:,} clients over the same page at {small:,} (requests/s): "
        f"{growth['median']:.2f} (rounds: {', '.join(f'{r:.2f}' for r in growth['ratios'])}; "
        f"goal ≥ {growth['goal']}, i.e. within 2×)"
        + (" ✓" if growth["median"] >= growth["goal"] else " ✗"),
        "",
        f"Commit {meta['commit']}, {meta['at']}; web workers: {meta['web_workers']}; load "
        f"average at the end {', '.join(f'{x:.1f}' for x in meta['load_average'])}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1_000, help="clients (default 1000)")
    parser.add_argument("--large", type=int, default=100_000, help="clients (default 100000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk seconds per target")
    parser.add_argument("--rebuild", action="store_true", help="rebuild both data sets")
    parser.add_argument("--credentials", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.credentials:
        print(json.dumps(make_credentials()))
        return 0
    if args.small < 30 or args.large < args.small or args.rounds < 1 or args.seconds < 1:
        parser.error("need 30 <= --small <= --large, --rounds >= 1 and --seconds >= 1")
    if not os.environ.get("SECRET_KEY"):
        parser.error("run it through `make bench-http` (it passes var/kapflow.env's secrets)")
    # SIGTERM unwinds like Ctrl-C, so the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args)
    print(markdown(result))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {RESULTS.relative_to(ROOT)}")
    if any(row["not_200"] or row["socket_errors"] for row in result["targets"]):
        log("FAILED: some requests were not answered 200 (see bench/results/http.json)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
