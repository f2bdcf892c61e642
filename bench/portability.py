"""`kapflow export` and `kapflow import` of a larger practice (decision 0053), on SQLite.

Builds one practice of N clients with bench/outcomes_sqlite.py's builder (a course each and
20 PHQ-9 responses on average, summarised), exports it, imports the archive into a copy of
an empty migrated database, and prints the rows, the archive's size and the seconds of each.

    KAPFLOW_TESTING=1 .venv/bin/python bench/portability.py --clients 2000 \\
        --database /tmp/kapflow-port-2k.sqlite3 --empty /tmp/kapflow-port-empty.sqlite3

`--empty` is a migrated, empty SQLite file of the same release (`kapflow migrate` with
DATABASE_URL pointing at it); it is copied, never written.
"""

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(BENCH_DIR)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--database", default="/tmp/kapflow-port-2k.sqlite3")
    parser.add_argument("--empty", required=True)
    args = parser.parse_args(argv)
    import outcomes_sqlite

    outcomes_sqlite.setup(args.database)
    outcomes_sqlite.build(args.clients)
    from kapflow.accounts.models import Organisation
    from kapflow.portability.export import export_practice

    slug = Organisation.objects.order_by("pk").values_list("slug", flat=True).first()
    out = Path(args.database).with_suffix(".kapflow.tar.gz")
    result = export_practice(slug=slug, out=out)
    rows = sum(result.manifest["tables"].values())
    target = Path(args.database).with_suffix(".imported.sqlite3")
    shutil.copyfile(args.empty, target)
    env = {"DATABASE_URL": f"sqlite:///{target}", "KAPFLOW_TESTING": "1",
           "PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}  # fmt: skip
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "kapflow", "import", str(out), "-v", "0"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.monotonic() - began
    print(done.stdout.strip() or done.stderr[-2000:])
    print(
        f"| {args.clients:,} clients | {rows:,} rows | {out.stat().st_size / 1024**2:.1f} MB | "
        f"export {result.seconds:.1f} s | import {wall:.1f} s (with process start) |"
    )
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
