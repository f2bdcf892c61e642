"""`make bench-http-directory`: the public directory search under load, served by `make serve`.

Builds (or reuses) bench/directory.py's published clinicians (--clinicians, 50,000 by
default, as `make bench BENCH_ARGS="--scenarios directory"`) in a database of its own,
kapflow_bench_http_directory, serves it with `make serve` (gunicorn with uvicorn workers, the
task worker and the scheduler, DEBUG off, var/kapflow.env's secrets; bench/http_load.py's
Server), and runs wrk (-t2 -c16, --seconds each, --rounds rounds) anonymously against:

- ``find.near``: GET /find/?mode=near&zip_code=10001&radius=50 (distance order);
- ``find.online``: GET /find/?mode=online&state=CA&modality=higher_dose;
- ``find.text``: GET /find/?mode=near&zip_code=60601&radius=100&q=trauma.

Every response that is not a 200 is counted (bench/http_load.py's wrk Lua hook) and fails
the run, as does any socket error or a target that completed no request in its time.
Results go to stdout and bench/results/http_directory.json.

    make bench-http-directory
    make bench-http-directory BENCH_ARGS="--clinicians 5000 --rounds 2 --seconds 5"

Needs wrk (/usr/bin/wrk) and PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import http_load  # noqa: E402  bench/http_load.py: Server, wrk, probe

RESULTS = BENCH_DIR / "results" / "http_directory.json"
DATABASE = "postgres://postgres@127.0.0.1:5432/kapflow_bench_http_directory"
TARGETS = {
    "find.near": "/find/?mode=near&zip_code=10001&radius=50",
    "find.online": "/find/?mode=online&state=CA&modality=higher_dose",
    "find.text": "/find/?mode=near&zip_code=60601&radius=100&q=trauma",
}


def log(message: str) -> None:
    print(f"[bench-http-directory] {message}", file=sys.stderr, flush=True)


def build_child(clinicians: int, rebuild: bool) -> None:
    """Run in the child (--build): migrate, then bench/directory.py's data set."""
    import run as bench_run  # bench/run.py: creates the database when missing

    bench_run.ensure_database(DATABASE)
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapflow.config.settings")
    import django

    django.setup()
    import directory  # bench/directory.py
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    directory.CLINICIANS = clinicians
    directory.build_directory(rebuild)


def build(clinicians: int, rebuild: bool) -> None:
    env = {**os.environ, "DATABASE_URL": DATABASE, "KAPFLOW_TESTING": "1"}
    args = [sys.executable, str(Path(__file__).resolve()), "--build"]
    args += ["--clinicians", str(clinicians)] + (["--rebuild"] if rebuild else [])
    log(f"data set of {clinicians:,} published clinicians")
    subprocess.run(args, env=env, check=True)


class Server(http_load.Server):
    """`make serve` on this bench's database. `-o install`: `make bench-http-directory`
    installed already (its prerequisite), so the server starts on exactly that tree."""

    def __init__(self, logs: Path):
        self.clients = 0
        self.port = http_load.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = logs / "serve-directory.log"
        env = http_load.server_env(0, self.port) | {"DATABASE_URL": DATABASE}
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                ["make", "--no-print-directory", "-o", "install", "serve"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def run(args) -> dict:
    build(args.clinicians, args.rebuild)
    logs = Path(tempfile.mkdtemp(prefix="kapflow-bench-http-directory-"))
    server = Server(logs)
    samples: dict[str, list] = {name: [] for name in TARGETS}
    try:
        server.wait()
        log(f"serving {args.clinicians:,} clinicians on {server.base}")
        for path in TARGETS.values():
            http_load.probe(server.base, path, {})
        log("warming up (2 s per target)")
        for path in TARGETS.values():
            http_load.wrk(server.base, [path], {}, 2, logs)
        names = list(TARGETS)
        for round_no in range(args.rounds):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                result = http_load.wrk(server.base, [TARGETS[name]], {}, args.seconds, logs)
                samples[name].append(result)
                log(
                    f"round {round_no + 1} {name:11} {result['rps']:8.1f} req/s "
                    f"p50 {result['p50_ms']:7.1f} ms p99 {result['p99_ms']:7.1f} ms "
                    f"not 200: {result['not_200']} socket errors: {result['socket_errors']}"
                )
    finally:
        server.stop()
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        or "(not a git checkout)"
    )
    return {
        "meta": {
            "clinicians": args.clinicians,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "commit": commit,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "web_workers": os.environ.get("KAPFLOW_WEB_WORKERS", "default"),
            "load_average": list(os.getloadavg()),
        },
        "targets": [
            {
                "target": name,
                "path": TARGETS[name],
                "rps_median": statistics.median(r["rps"] for r in runs),
                "p50_ms_median": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms_median": statistics.median(r["p99_ms"] for r in runs),
                "requests": sum(r["requests"] for r in runs),
                "not_200": sum(r["not_200"] for r in runs),
                "socket_errors": sum(r["socket_errors"] for r in runs),
                "rounds": runs,
            }
            for name, runs in samples.items()
        ],
    }


def markdown(result: dict) -> str:
    meta = result["meta"]
    lines = [
        f"Public search, {meta['clinicians']:,} published clinicians, `make serve`, wrk -t2 -c16, "
        f"{meta['rounds']} × {meta['seconds']} s per target (medians over the rounds):",
        "",
        "| target | requests/s | p50 | p99 | requests | not 200 | socket errors |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{t['target']}` | {t['rps_median']:.1f} | {t['p50_ms_median']:.1f} ms "
        f"| {t['p99_ms_median']:.1f} ms | {t['requests']:,} | {t['not_200']} "
        f"| {t['socket_errors']} |"
        for t in result["targets"]
    ]
    lines += [
        "",
        f"Commit {meta['commit']}, {meta['at']}; web workers: {meta['web_workers']}; load "
        f"average at the end {', '.join(f'{x:.1f}' for x in meta['load_average'])}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clinicians", type=int, default=50_000, help="default 50000")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk seconds per target")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data set")
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        build_child(args.clinicians, args.rebuild)
        return 0
    if args.clinicians < 100 or args.rounds < 1 or args.seconds < 1:
        parser.error("need --clinicians >= 100, --rounds >= 1 and --seconds >= 1")
    if not os.environ.get("SECRET_KEY"):
        parser.error("run it through `make bench-http-directory` (var/kapflow.env's secrets)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args)
    print(markdown(result))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {RESULTS.relative_to(ROOT)}")
    if any(t["not_200"] or t["socket_errors"] for t in result["targets"]):
        log("FAILED: some requests were not answered 200")
        return 1
    if any(not t["requests"] for t in result["targets"]):
        log("FAILED: a target completed no request in its time (raise --seconds)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
