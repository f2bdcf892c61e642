# ruff: noqa: E501  (call sites kept one argument list per line)
"""The scheduling API: book, list, read, reschedule, cancel, mark, availability, feed; the
error shapes; who gets 404; pinned queries; no 5xx for any body."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services as account_services
from kapflow.scheduling.models import Appointment, CalendarFeed
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team
from tests.scheduling.factories import at, book, room

URL = "/api/v1/schedule"
RANGE = "?start=2027-03-01T00:00:00-08:00&end=2027-03-08T00:00:00-08:00"


def _token(membership) -> dict:
    _, raw = account_services.api_token_create(actor=membership, name="tests", mfa_verified=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _post(client, path, body, headers):
    return client.post(URL + path, data=json.dumps(body), content_type="application/json",
                       **headers)  # fmt: skip


def _codes(response) -> list:
    return [e["code"] for e in response.json()["errors"]]


BODY = {"kind": "therapy", "starts_at": "2027-03-01T10:00:00-08:00", "telehealth": True}


def test_book_list_read_reschedule_cancel(client, world):
    h = _token(world.therapist)
    made = _post(client, "/appointments", BODY | {"client_ids": [world.client.pk]}, h)
    assert made.status_code == 201, made.content
    appt = made.json()["appointments"][0]
    assert appt["starts_at"].startswith("2027-03-01T18:00:00") and appt["version"] == 1
    assert {p["role"] for p in appt["participants"]} == {"client", "therapist"}

    listed = client.get(URL + "/appointments" + RANGE, **h).json()
    assert [a["id"] for a in listed] == [appt["id"]]
    assert client.get(f"{URL}/appointments/{appt['id']}", **h).json()["kind"] == "therapy"

    moved = _post(client, f"/appointments/{appt['id']}/reschedule",
                  {"version": 1, "starts_at": "2027-03-02T10:00:00-08:00"}, h)  # fmt: skip
    assert moved.status_code == 200, moved.content
    new = moved.json()["appointments"][0]
    assert new["rescheduled_from_id"] == appt["id"]

    stale = _post(client, f"/appointments/{new['id']}/cancel", {"version": 7, "reason": "x"}, h)
    assert stale.status_code == 409 and _codes(stale) == ["scheduling.stale"]
    no_reason = _post(client, f"/appointments/{new['id']}/cancel", {"version": 1, "reason": ""}, h)
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "reason"
    done = _post(client, f"/appointments/{new['id']}/cancel", {"version": 1, "reason": "Ill"}, h)
    assert done.status_code == 200 and done.json()["status"] == "cancelled"


def test_clash_is_409_with_every_reason(client, world):
    cedar = room(world.practice)
    book(world.therapist, world.client, room_id=cedar.pk)
    h = _token(world.therapist)
    body = BODY | {"client_ids": [world.unreferred.pk], "telehealth": False, "room_id": cedar.pk}
    response = _post(client, "/appointments", body, h)
    assert response.status_code == 409
    assert _codes(response) == ["clash.person", "clash.room"]
    assert Appointment.objects.count() == 1


def test_dosing_warnings_are_409_until_confirmed(client, world):
    course = make_course(world.client, world.therapist, stage="intake")
    h = _token(world.therapist)
    body = {"kind": "dosing", "starts_at": "2027-03-01T10:00:00-08:00", "telehealth": True,
            "course_ids": [course.pk], "integration_starts_at": "2027-03-02T10:00:00-08:00"}  # fmt: skip
    first = _post(client, "/appointments", body, h)
    assert first.status_code == 409 and "stage.not_active" in _codes(first)
    assert all(e["field"] == "confirm" for e in first.json()["errors"])
    done = _post(client, "/appointments", body | {"confirm": True}, h)
    assert done.status_code == 201
    dosing, integration = done.json()["appointments"]
    assert integration["follows_id"] == dosing["id"] and done.json()["warnings"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"starts_at": "2027-03-01T10:00:00"}, "starts_at"),
        ({"kind": "party"}, "kind"),
        ({"minutes": 2}, "minutes"),
        ({"telehealth": "yes"}, "telehealth"),
        ({"room_id": 2**70}, "room_id"),
        ({"telehealth": False}, "room"),
        ({"repeat": {"interval": 3, "count": 4}}, "interval"),
    ],
)
def test_invalid_input_is_422_naming_the_field(client, world, body, field):
    h = _token(world.therapist)
    response = _post(client, "/appointments", BODY | {"client_ids": [world.client.pk]} | body, h)
    assert response.status_code == 422, response.content
    fields = {e["field"] for e in response.json()["errors"]}
    assert any(field in (f or "") for f in fields), fields


@pytest.mark.parametrize("who", ["other_admin", "other_therapist", "therapist2", "biller"])
def test_outsiders_get_404(client, world, who):
    appt = book(world.therapist, world.client).first
    h = _token(getattr(world, who))
    assert client.get(f"{URL}/appointments/{appt.pk}", **h).status_code == 404
    cancel = _post(client, f"/appointments/{appt.pk}/cancel", {"version": 1, "reason": "x"}, h)
    assert cancel.status_code == 404
    booked = _post(client, "/appointments", BODY | {"client_ids": [world.client.pk]}, h)
    assert booked.status_code == 404


def test_clients_and_companions_get_404_on_staff_endpoints(client, world):
    appt = book(world.therapist, world.client).first
    for who in (world.client_member, world.companion):
        client.force_login(who.user, backend="django.contrib.auth.backends.ModelBackend")
        assert client.get(f"{URL}/appointments/{appt.pk}").status_code == 404
        assert client.get(URL + "/appointments" + RANGE).status_code == 404


def test_list_query_count_is_flat(client, world):
    h = _token(world.therapist)
    book(world.therapist, world.client)
    client.get(URL + "/appointments" + RANGE, **h)
    with CaptureQueriesContext(connection) as one:
        client.get(URL + "/appointments" + RANGE, **h)
    for day in range(2, 6):
        other = ClientFactory(organisation=world.practice)
        on_team(other, world.therapist)
        book(world.therapist, other, starts_at=at(2027, 3, day, 9))
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(URL + "/appointments" + RANGE, **h).json()) == 5
    assert len(many) == len(one)


def test_range_is_limited(client, world):
    h = _token(world.therapist)
    response = client.get(
        URL + "/appointments?start=2027-01-01T00:00:00Z&end=2027-06-01T00:00:00Z", **h
    )
    assert response.status_code == 422


def test_availability_endpoints(client, world):
    h = _token(world.therapist)
    added = _post(client, f"/availability/{world.therapist.pk}/rules",
                  {"weekday": 0, "start_time": "09:00", "end_time": "17:00"}, h)  # fmt: skip
    assert added.status_code == 201 and added.json()["time_zone"] == "America/Los_Angeles"
    off = _post(client, f"/availability/{world.therapist.pk}/exceptions",
                {"starts_at": "2027-03-01T00:00:00Z", "ends_at": "2027-03-02T00:00:00Z"}, h)  # fmt: skip
    assert off.status_code == 201
    got = client.get(f"{URL}/availability/{world.therapist.pk}", **h).json()
    assert len(got["rules"]) == 1 and len(got["exceptions"]) == 1
    assert client.get(f"{URL}/availability/{world.therapist2.pk}", **h).status_code == 404


def test_availability_times_are_clock_times_without_an_offset(client, world):
    # The contract run (issue 13) found an offset accepted and then refused by SQLite with a
    # 500; the document promised "time", which requires one. Now: partial-time, 422 otherwise.
    h = _token(world.admin)
    for start in ("09:00:00Z", "09:00:00+02:00"):
        response = _post(client, f"/availability/{world.therapist.pk}/rules",
                         {"weekday": 0, "start_time": start, "end_time": "17:00"}, h)  # fmt: skip
        assert response.status_code == 422, response.content
        assert [e["field"] for e in response.json()["errors"]] == ["start_time"]
    document = client.get("/api/v1/openapi.json").json()
    for name in ("RuleIn", "RuleOut"):
        documented = document["components"]["schemas"][name]["properties"]["end_time"]
        assert documented["format"] == "partial-time"
        assert re.fullmatch(documented["pattern"], "17:00:00")
        assert not re.fullmatch(documented["pattern"], "17:00:00Z")


def test_feed_create_and_revoke(client, world):
    h = _token(world.therapist)
    made = _post(client, "/feed", {"show_details": False}, h)
    assert made.status_code == 201 and made.json()["url"].endswith(".ics")
    path = made.json()["url"].split("testserver", 1)[1]
    assert client.get(path).status_code == 200
    assert client.delete(URL + "/feed", **h).status_code == 204
    assert client.get(path).status_code == 404
    assert not CalendarFeed.objects.filter(revoked_at__isnull=True).exists()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30)
    | st.sampled_from(["2027-03-01T10:00:00-08:00", "2027-03-01T10:00:00", "dosing", "therapy"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
bodies = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(["kind", "starts_at", "minutes", "client_ids", "course_ids", "therapist_id", "room_id", "telehealth", "repeat", "integration_starts_at", "confirm", "version", "reason", "status", "weekday", "start_time", "end_time"], json_values),
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, path=st.sampled_from(["/appointments", "/appointments/{a}/reschedule",
                                          "/appointments/{a}/cancel", "/appointments/{a}/mark",
                                          "/availability/{m}/rules", "/availability/{m}/exceptions",
                                          "/feed"]))  # fmt: skip
def test_no_input_causes_a_5xx(client, world, body, path):
    appt = (
        Appointment.objects.filter(status="scheduled").first()
        or book(world.therapist, world.client, starts_at=at(2027, 6, 7, 10)).first
    )
    h = _token(world.therapist)
    response = _post(client, path.format(a=appt.pk, m=world.therapist.pk), body, h)
    assert response.status_code < 500, response.content


def test_mine_and_companion_endpoints(client, world):
    from tests.courses.factories import make_course

    course = make_course(world.client, world.therapist, stage="active", delivery="at_home")
    appt = book(world.therapist, None, kind="dosing", course_ids=[course.pk]).first
    client.force_login(
        world.client_member.user, backend="django.contrib.auth.backends.ModelBackend"
    )
    (mine,) = client.get(URL + "/mine").json()
    assert mine["id"] == appt.pk and mine["telehealth_url"] == ""
    assert client.get(URL + "/companion").status_code == 404
    client.force_login(world.companion.user, backend="django.contrib.auth.backends.ModelBackend")
    (row,) = client.get(URL + "/companion").json()
    assert set(row) == {"starts_at", "ends_at"}
    assert client.get(URL + "/mine").status_code == 404
    assert client.get(URL + "/mine", **_token(world.therapist)).status_code == 404
