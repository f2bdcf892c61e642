"""Which gunicorn worker class serves plain HTTP best (decision 0041).

Starts the shipped web process (kapflow.config.gunicorn) once per worker class, each with the
same number of processes, and runs wrk against each in turn, interleaved, ROUNDS times, so a
busy neighbour on a shared machine costs every class alike. Prints requests/s and latency
percentiles per class and round, and the median.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/runtime_bench \\
        .venv/bin/python bench/runtime_workers.py --path /sign-in/ --rounds 3

Needs wrk (`apt-get install wrk`) and a migrated database.
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

CLASSES = {
    "uvicorn (ASGI)": {"KAPFLOW_WEB_WORKER_CLASS": "kapflow.runtime.web.UvicornWorker"},
    "gunicorn asgi (ASGI)": {"KAPFLOW_WEB_WORKER_CLASS": "asgi"},
    "sync (WSGI)": {"KAPFLOW_WEB_WORKER_CLASS": "sync"},
    "gthread x4 (WSGI)": {"KAPFLOW_WEB_WORKER_CLASS": "gthread", "KAPFLOW_WEB_THREADS": "4"},
}


def start(name: str, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + "x" * 44),
        "KAPFLOW_FIELD_KEYS": os.environ.get("KAPFLOW_FIELD_KEYS", "a" * 43 + "="),
        "KAPFLOW_BIND": f"127.0.0.1:{port}",
        "KAPFLOW_WEB_WORKERS": str(workers),
        "KAPFLOW_LOG_LEVEL": "WARNING",
        **CLASSES[name],
    }
    for key in ("KAPFLOW_TESTING", "KAPFLOW_DEV", "KAPFLOW_DEMO_MODE"):
        env.pop(key, None)
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:kapflow.config.gunicorn"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(port: int, path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"port {port} did not answer")


def wrk(port: int, path: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": lat.get("50"),
        "p99": lat.get("99"),
        "non2xx": errors.group(1) if errors else "0",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", default="/sign-in/")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    servers = {
        name: (9300 + i, start(name, 9300 + i, args.workers)) for i, name in enumerate(CLASSES)
    }
    try:
        for port, _ in servers.values():
            wait_ready(port, args.path)
        results = {name: [] for name in CLASSES}
        for round_no in range(1, args.rounds + 1):
            for name, (port, _) in servers.items():
                wrk(port, args.path, 2, args.connections)  # warm up
                result = wrk(port, args.path, args.seconds, args.connections)
                results[name].append(result)
                print(
                    f"round {round_no} {name:22} {result['rps']:8.1f} req/s  "
                    f"p50 {result['p50']:>8}  p99 {result['p99']:>8}  non-2xx {result['non2xx']}",
                    flush=True,
                )
        print("\nmedian over rounds")
        for name, runs in results.items():
            print(f"{name:22} {statistics.median(r['rps'] for r in runs):8.1f} req/s")
    finally:
        for _, process in servers.values():
            process.send_signal(signal.SIGTERM)
        for _, process in servers.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
