"""bench/directory.py builds its data set and its scenarios run, at a tiny size (the bench
itself runs 50,000 clinicians; no timing here)."""

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_directory_bench_builds_and_keeps_queries_flat(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import directory as bench_directory
    import run  # noqa: F401  (bench/run.py: the helpers the scenarios use)

    monkeypatch.setattr(bench_directory, "CLINICIANS", 60)
    monkeypatch.setattr(bench_directory, "PRACTICES", 12)
    monkeypatch.setattr(sys.modules["run"], "log", lambda message: None)
    plan, raw, facts = bench_directory.directory_scenarios({"rebuild": True}, repeat=1)
    for _name, _label, fn, key in plan:
        fn(0)
        raw[key](0)
    found = facts()
    assert found["directory_queries_flat"], found["directory_query_counts"]
    assert found["directory_near_count"] > 0
