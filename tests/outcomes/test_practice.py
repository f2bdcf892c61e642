"""The practice outcomes report: its numbers against a small practice worked by hand, the
rules of who counts and where, small-cell suppression, who may see it, the CSV export, the
API, and a fixed query count."""

import csv
import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.audit.models import AuditEvent
from kapflow.clinical import instruments
from kapflow.outcomes import selectors
from kapflow.patients.models import Client
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.outcomes.factories import START, history, score, summarise, treated_client
from tests.patients.factories import ClientFactory, on_team

ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip


def _report(actor, **params):
    return selectors.practice_outcomes(actor=actor, **params)


def _row(report, key):
    (row,) = [r for r in report.rows if r.key == key]
    return row


def _hand_worked_practice(world):
    """Higher-dose: 11 clients, all with a first score of 20; latest 10 for six (exactly
    50 %: response), 4 for two (response and remission), 15 for three. Low-dose: 11 clients
    from 12 to 12 (no change). Plus rows that must not count (see the test)."""
    for latest in [10] * 6 + [4] * 2 + [15] * 3:
        treated_client(world, [20, 17, latest], pathway="higher_dose")
    for _ in range(11):
        treated_client(world, [12, 12], pathway="low_dose", delivery="at_home")


def test_hand_worked_aggregate(world):
    _hand_worked_practice(world)
    report = _report(world.admin, instrument="phq9", group_by="pathway")
    assert [r.key for r in report.rows] == ["higher_dose", "low_dose"]
    high = _row(report, "higher_dose")
    assert (high.n, high.hidden, high.label) == (11, "", "Higher-dose sessions")
    assert high.mean_baseline == 20
    assert high.mean_latest == pytest.approx(113 / 11)  # (60 + 8 + 45) / 11
    # Changes -10 x6, -16 x2, -5 x3: mean -107/11, SD sqrt(146.1818 / 10) = 3.8234,
    # t(10) = 2.2281: -9.7273 ± 2.5685.
    assert high.change.mean == pytest.approx(-9.7273, abs=1e-4)
    assert high.change.low == pytest.approx(-12.2958, abs=1e-3)
    assert high.change.high == pytest.approx(-7.1588, abs=1e-3)
    # Response 8 of 11, Wilson 0.4343-0.9025; remission 2 of 11.
    assert (high.response.k, high.response.n) == (8, 11)
    assert (high.response.low, high.response.high) == pytest.approx((0.4343, 0.9025), abs=1e-4)
    assert (high.remission.k, high.remission.n) == (2, 11)
    low = _row(report, "low_dose")
    assert (low.n, low.mean_baseline, low.mean_latest) == (11, 12, 12)
    assert (low.change.mean, low.change.low, low.change.high) == (0, 0, 0)
    assert (low.response.k, low.remission.k) == (0, 0)


def test_who_counts_and_where(world):
    _hand_worked_practice(world)
    # One score only: not counted.
    treated_client(world, [18], pathway="higher_dose")
    # A draft after one score: still one score.
    lone = treated_client(world, [18], pathway="higher_dose")
    score(lone, 2, at=START + datetime.timedelta(days=30), submitted=False)
    # Another instrument: not a PHQ-9 score.
    gad = treated_client(world, [16], pathway="higher_dose")
    history(gad, [14, 3], instrument="gad7")
    # Another organisation's client: not this practice's.
    stranger = ClientFactory(organisation=world.other)
    on_team(stranger, world.other_therapist)
    history(stranger, [27, 0])
    report = _report(world.admin, group_by="pathway")
    assert (_row(report, "higher_dose").n, _row(report, "low_dose").n) == (11, 11)
    other = _report(world.other_admin, group_by="all")
    assert [r.hidden for r in other.rows] == ["small"]


def test_a_corrected_score_counts_as_corrected(world):
    _hand_worked_practice(world)
    client = treated_client(world, [], pathway="low_dose")
    wrong = score(client, 27, at=START)  # keyed wrongly: corrected to 12
    score(client, 12, at=START, corrects=wrong)
    score(client, 24, at=START + datetime.timedelta(days=7))
    report = _report(world.admin, group_by="pathway")
    low = _row(report, "low_dose")
    assert low.n == 12
    assert low.mean_baseline == 12  # not (11 x 12 + 27) / 12
    assert low.mean_latest == pytest.approx((11 * 12 + 24) / 12)


def test_the_group_comes_from_the_most_recent_course(world):
    _hand_worked_practice(world)
    client = treated_client(world, [20, 5], pathway="low_dose",
                            opened=START - datetime.timedelta(days=400))  # fmt: skip
    old = client.courses.get()
    old.closed_at = START - datetime.timedelta(days=200)
    old.stage = "completed"
    old.save(update_fields=["closed_at", "stage"])
    make_course(client, world.therapist, pathway="higher_dose", stage="active")
    summarise(client)  # as course_open does
    report = _report(world.admin, group_by="pathway")
    assert (_row(report, "higher_dose").n, _row(report, "low_dose").n) == (12, 11)


def test_clients_without_a_course_form_their_own_group(world):
    _hand_worked_practice(world)
    for _ in range(11):
        client = ClientFactory(organisation=world.practice)
        history(client, [9, 9])
    report = _report(world.admin, group_by="delivery")
    assert [(r.key, r.label, r.n) for r in report.rows] == [
        ("in_person", "In person", 11),
        ("at_home", "At home by telehealth, with a companion", 11),
        ("none", "No course recorded", 11),
    ]


def test_grouping_by_therapist_and_all(world):
    _hand_worked_practice(world)
    for _ in range(11):
        treated_client(world, [10, 5], therapist=world.therapist2)
    by_therapist = _report(world.admin, group_by="therapist")
    assert sorted(r.n for r in by_therapist.rows) == [11, 22]
    assert [r.key for r in by_therapist.rows] == ["therapist-1", "therapist-2"]
    labels = {r.label for r in by_therapist.rows}
    assert labels == {world.therapist.user.full_name or "Therapist 1",
                      world.therapist2.user.full_name or "Therapist 2"}  # fmt: skip
    everyone = _report(world.admin, group_by="all")
    assert [(r.key, r.n) for r in everyone.rows] == [("all", 33)]


def _by_condition(world, sizes):
    for condition, count in sizes.items():
        for _ in range(count):
            treated_client(world, [16, 8], condition=condition)


def test_eleven_clients_are_shown_and_ten_are_not(world):
    _by_condition(world, {"depression": 11, "anxiety": 11, "ptsd": 12})
    report = _report(world.admin, group_by="condition")
    assert [(r.key, r.n, r.hidden) for r in report.rows] == [
        ("depression", 11, ""), ("anxiety", 11, ""), ("ptsd", 12, "")
    ]  # fmt: skip


def test_ten_clients_are_suppressed_with_a_complementary_cell(world):
    _by_condition(world, {"depression": 11, "anxiety": 10, "ptsd": 12})
    report = _report(world.admin, group_by="condition")
    assert [(r.key, r.hidden) for r in report.rows] == [
        ("depression", "complementary"), ("anxiety", "small"), ("ptsd", "")
    ]  # fmt: skip
    for key in ("depression", "anxiety"):
        row = _row(report, key)
        assert row.suppressed
        assert (row.n, row.mean_baseline, row.mean_latest, row.change, row.response,
                row.remission) == (None,) * 6  # fmt: skip
    assert _row(report, "ptsd").n == 12


def test_page_shows_fewer_than_11_and_no_numbers(client, world):
    _by_condition(world, {"depression": 11, "anxiety": 10, "ptsd": 12})
    sign_in(client, world.admin.user)
    html = client.get("/outcomes/practice/?instrument=phq9&group_by=condition").content.decode()
    small = html.split('data-group="anxiety"')[1].split("</tr>")[0]
    assert "fewer than 11" in small and "10" not in small
    complement = html.split('data-group="depression"')[1].split("</tr>")[0]
    assert "cannot be worked out" in complement and 'data-field="n"' not in complement
    assert 'data-field="n">12<' in html


def test_page_has_no_names_or_ids(client, world):
    _hand_worked_practice(world)
    sign_in(client, world.therapist.user)
    html = client.get("/outcomes/practice/?group_by=pathway").content.decode()
    assert 'data-group="higher_dose"' in html
    for c in Client.objects.filter(organisation=world.practice):
        assert c.legal_last_name not in html and c.legal_first_name not in html
        assert f"/clients/{c.pk}/" not in html


def _csv(client, **params):
    response = client.get("/outcomes/practice.csv", params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_csv_has_the_pages_numbers_blank_suppressed_cells_and_no_identifiers(client, world):
    _by_condition(world, {"depression": 11, "anxiety": 10, "ptsd": 12})
    sign_in(client, world.admin.user)
    rows = _csv(client, instrument="phq9", group_by="condition")
    assert [r["group"] for r in rows] == ["Depression", "Anxiety", "PTSD / trauma"]
    small = rows[1]
    assert (small["suppressed"], small["suppression_reason"]) == ("true", "fewer than 11 clients")
    numbers = [k for k in small if k not in ("instrument", "group_by", "group", "suppressed",
                                             "suppression_reason")]  # fmt: skip
    assert all(rows[0][k] == "" and small[k] == "" for k in numbers)
    shown = rows[2]
    assert shown["suppressed"] == "false"
    assert (shown["clients"], shown["mean_baseline"], shown["mean_latest"]) == ("12", "16.0", "8.0")
    assert (shown["mean_change"], shown["response_pct"], shown["remission_pct"]) == (
        "-8.0",
        "100.0",
        "0.0",
    )
    html = client.get("/outcomes/practice/?instrument=phq9&group_by=condition").content.decode()
    assert "100.0%" in html and ">-8.0" in html
    text = str(rows)
    for c in Client.objects.all():
        assert c.legal_last_name not in text and c.email not in text
    assert list(rows[0]) == [
        "instrument", "group_by", "group", "suppressed", "suppression_reason", "clients",
        "mean_baseline", "mean_latest", "mean_change", "mean_change_ci_low",
        "mean_change_ci_high", "response_clients", "response_pct", "response_ci_low_pct",
        "response_ci_high_pct", "remission_pct", "remission_ci_low_pct", "remission_ci_high_pct",
    ]  # fmt: skip
    assert AuditEvent.objects.filter(action="outcomes.practice_export").count() == 1


def test_csv_text_cells_cannot_become_formulas(client, world):
    world.therapist.user.full_name = "=HYPERLINK(1)"
    world.therapist.user.save()
    _hand_worked_practice(world)
    sign_in(client, world.admin.user)
    rows = _csv(client, group_by="therapist")
    assert rows[0]["group"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/outcomes/practice/", [200, 200, 200, 404, 404, 404, 404, 200, 200]),
        ("/outcomes/practice.csv", [200, 200, 200, 404, 404, 404, 404, 200, 200]),
        ("/api/v1/outcomes/practice", [200, 200, 200, 404, 404, 404, 404, 200, 200]),
    ],
)
@pytest.mark.parametrize("role", ROLES)
def test_who_sees_the_practice_report(client, world, url, expected, role):
    sign_in(client, getattr(world, role).user)
    assert client.get(url).status_code == dict(zip(ROLES, expected, strict=True))[role]


def test_each_practice_sees_only_its_own_clients(client, world):
    _hand_worked_practice(world)
    sign_in(client, world.other_admin.user)
    data = client.get("/api/v1/outcomes/practice?group_by=all").json()
    assert data["groups"] == []


def test_page_and_api_are_audited_without_a_client(client, world):
    sign_in(client, world.therapist.user)
    client.get("/outcomes/practice/")
    client.get("/api/v1/outcomes/practice")
    actions = list(AuditEvent.objects.values_list("action", "client_id"))
    assert ("outcomes.practice_view", None) in actions
    assert ("outcomes.practice_api", None) in actions


def test_api_numbers_and_nulls(client, world):
    _by_condition(world, {"depression": 11, "anxiety": 10, "ptsd": 12})
    sign_in(client, world.admin.user)
    data = client.get("/api/v1/outcomes/practice?instrument=phq9&group_by=condition").json()
    assert (data["instrument"], data["group_by"], data["minimum_cell"]) == ("phq9", "condition", 11)
    groups = {g["key"]: g for g in data["groups"]}
    assert groups["anxiety"] == {
        "key": "anxiety", "label": "Anxiety", "suppressed": True, "suppression_reason": "small",
        "clients": None, "mean_baseline": None, "mean_latest": None, "change": None,
        "response": None, "remission": None,
    }  # fmt: skip
    ptsd = groups["ptsd"]
    assert (ptsd["clients"], ptsd["mean_baseline"], ptsd["change"]["mean"]) == (12, 16, -8)
    assert ptsd["response"]["count"] == 12 and ptsd["response"]["ci_high"] == 1.0


@pytest.mark.parametrize(
    ("query", "field"),
    [("instrument=bdi", "instrument"), ("instrument=cssrs", "instrument"),
     ("group_by=client", "group_by"), ("group_by=", "group_by")],
)  # fmt: skip
def test_api_refuses_bad_choices_naming_the_field(client, world, query, field):
    sign_in(client, world.admin.user)
    response = client.get(f"/api/v1/outcomes/practice?{query}")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_page_refuses_bad_choices_with_the_field_named(client, world):
    sign_in(client, world.admin.user)
    response = client.get("/outcomes/practice/?group_by=client_id")
    assert response.status_code == 422
    assert "Group by:" in response.content.decode()
    assert client.get("/outcomes/practice.csv?instrument=x").status_code == 422


def test_instruments_without_rules_show_no_rates(client, world):
    for _ in range(11):
        client_ = treated_client(world, [], pathway="higher_dose")
        history(client_, [50, 30], instrument="pcl5")
    report = _report(world.admin, instrument="pcl5", group_by="pathway")
    (row,) = report.rows
    assert (row.n, row.change.mean, row.response, row.remission) == (11, -20, None, None)
    sign_in(client, world.admin.user)
    html = client.get("/outcomes/practice/?instrument=pcl5").content.decode()
    assert "not defined" in html


def test_htmx_gets_the_table_only(client, world):
    sign_in(client, world.admin.user)
    response = client.get(
        "/outcomes/practice/?group_by=all", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="outcome-results"
    )
    html = response.content.decode()
    assert 'data-testid="practice-outcomes"' in html and "<html" not in html


def _practice_of(world, n):
    for i in range(n):
        treated_client(
            world,
            [10 + i % 10, i % 7, i % 5],
            pathway=["higher_dose", "low_dose"][i % 2],
            condition=["depression", "anxiety", "ptsd"][i % 3],
        )


@pytest.mark.parametrize("group_by", ["pathway", "therapist", "all"])
@pytest.mark.parametrize("url", ["/outcomes/practice/", "/outcomes/practice.csv",
                                 "/api/v1/outcomes/practice"])  # fmt: skip
def test_practice_queries_are_the_same_for_5_and_50_clients(client, world, url, group_by):
    sign_in(client, world.admin.user)
    _practice_of(world, 5)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url, {"group_by": group_by}).status_code == 200
    _practice_of(world, 45)
    with CaptureQueriesContext(connection) as large:
        assert client.get(url, {"group_by": group_by}).status_code == 200
    assert len(small.captured_queries) == len(large.captured_queries)


def test_build_rows_orders_groups_and_keeps_unknown_values():
    sums = [
        selectors.GroupSums("low_dose", 12, 120, 60, -60, 300, 12, 12, 0),
        selectors.GroupSums(None, 15, 150, 150, 0, 0, 15, 0, 0),
        selectors.GroupSums("higher_dose", 20, 200, 100, -100, 500, 20, 20, 0),
    ]
    rows = selectors.build_rows(instruments.PHQ9, "pathway", sums)
    assert [r.key for r in rows] == ["higher_dose", "low_dose", "none"]
    # Sum of squares 500 over 20 clients each -5: variance 0.
    assert (rows[0].change.low, rows[0].change.high) == pytest.approx((-5, -5))


def test_a_small_response_denominator_hides_the_response_rate_only():
    # 12 clients, but only 10 had a baseline above 0 (so could respond).
    sums = [selectors.GroupSums("all", 12, 100, 40, -60, 400, 10, 6, 5)]
    (row,) = selectors.build_rows(instruments.PHQ9, "all", sums)
    assert row.response is None and row.response_hidden
    assert row.remission.k == 5 and row.n == 12
