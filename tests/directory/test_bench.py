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


def test_http_directory_targets_answer_and_the_report_reads(monkeypatch, client):
    """bench/http_directory.py: every target it loads is a public page that answers 200
    signed out (wrk would count anything else as a failure), and its report renders."""
    monkeypatch.syspath_prepend(str(BENCH))
    import http_directory

    for path in http_directory.TARGETS.values():
        assert client.get(path).status_code == 200, path
    run = {"rps": 10.0, "p50_ms": 5.0, "p99_ms": 9.0, "requests": 50, "not_200": 0,
           "socket_errors": 0}  # fmt: skip
    result = {
        "meta": {"clinicians": 100, "rounds": 1, "seconds": 1, "commit": "x", "at": "now",
                 "web_workers": "2", "load_average": [1.0, 1.0, 1.0]},
        "targets": [{"target": "find.near", "path": "/find/", "rps_median": 10.0,
                     "p50_ms_median": 5.0, "p99_ms_median": 9.0, "requests": 50,
                     "not_200": 0, "socket_errors": 0, "rounds": [run]}],
    }  # fmt: skip
    assert "| `find.near` | 10.0 |" in http_directory.markdown(result)
    with pytest.raises(SystemExit):
        http_directory.main(["--clinicians", "10"])
