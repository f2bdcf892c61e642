# ruff: noqa: E501  (the matrix reads best one row per line)
"""Every role x every client-scoped page and endpoint x own/other organisation, exact status.

Roles come from the `world` fixture: practice A's admin, therapist on the client's team, a
therapist not on it, biller, the partner prescriber the client was referred to, the client,
their companion, and practice B's admin and therapist.
"""

import json

import pytest

from tests.conftest import sign_in

ROLES = [
    "admin",
    "therapist",
    "therapist2",
    "biller",
    "prescriber",
    "client_member",
    "companion",
    "other_admin",
    "other_therapist",
]


def _status_row(*codes):
    return dict(zip(ROLES, codes, strict=True))


# 404: missing or not visible to the role (existence does not leak); 403: the role can see the
# client but may not make this change.
# target: "client" = practice A's client referred to the partner prescriber;
#         "unreferred" = practice A's client not referred; "other_client" = practice B's client.
MATRIX = [
    # (name, method, url template, body, target, expected per role)
    ("page list", "get", "/clients/", None, None, _status_row(200, 200, 200, 200, 200, 404, 404, 200, 200)),
    ("page detail", "get", "/clients/{id}/", None, "client", _status_row(200, 200, 404, 200, 200, 404, 404, 404, 404)),
    ("page detail unreferred", "get", "/clients/{id}/", None, "unreferred", _status_row(200, 200, 404, 200, 404, 404, 404, 404, 404)),
    ("page detail other org", "get", "/clients/{id}/", None, "other_client", _status_row(404, 404, 404, 404, 404, 404, 404, 200, 200)),
    ("page edit", "get", "/clients/{id}/edit/", None, "client", _status_row(200, 200, 404, 403, 403, 404, 404, 404, 404)),
    ("page care team add", "post", "/clients/{id}/care-team/add/", {}, "client", _status_row(422, 422, 404, 403, 403, 404, 404, 404, 404)),
    ("page create", "get", "/clients/new/", None, None, _status_row(200, 200, 200, 404, 404, 404, 404, 200, 200)),
    ("page members", "get", "/members/", None, None, _status_row(200, 404, 404, 404, 404, 404, 404, 200, 404)),
    ("page audit", "get", "/audit/", None, None, _status_row(200, 404, 404, 404, 404, 404, 404, 200, 404)),
    ("page audit csv", "get", "/audit/export.csv", None, None, _status_row(200, 404, 404, 404, 404, 404, 404, 200, 404)),
    ("page access report", "get", "/me/access-report/", None, None, _status_row(404, 404, 404, 404, 404, 200, 404, 404, 404)),
    ("api list", "get", "/api/v1/clients", None, None, _status_row(200, 200, 200, 200, 200, 404, 404, 200, 200)),
    ("api detail", "get", "/api/v1/clients/{id}", None, "client", _status_row(200, 200, 404, 200, 200, 404, 404, 404, 404)),
    ("api detail unreferred", "get", "/api/v1/clients/{id}", None, "unreferred", _status_row(200, 200, 404, 200, 404, 404, 404, 404, 404)),
    ("api detail other org", "get", "/api/v1/clients/{id}", None, "other_client", _status_row(404, 404, 404, 404, 404, 404, 404, 200, 200)),
    ("api patch", "patch", "/api/v1/clients/{id}", {"pronouns": "they/them"}, "client", _status_row(200, 200, 404, 403, 403, 404, 404, 404, 404)),
    ("api care team", "get", "/api/v1/clients/{id}/care-team", None, "client", _status_row(200, 200, 404, 200, 200, 404, 404, 404, 404)),
    ("api care team add", "post", "/api/v1/clients/{id}/care-team", {"membership_id": 999999, "role": "therapist"}, "client", _status_row(422, 422, 404, 403, 403, 404, 404, 404, 404)),
    ("api members", "get", "/api/v1/members", None, None, _status_row(200, 404, 404, 404, 404, 404, 404, 200, 404)),
    ("api audit", "get", "/api/v1/audit", None, None, _status_row(200, 404, 404, 404, 404, 404, 404, 200, 404)),
    # Emergency access (decision 0036): a practice's own clinicians open it, its admins review it.
    ("page emergency access", "get", "/clients/emergency-access/", None, None, _status_row(404, 200, 200, 404, 404, 404, 404, 404, 200)),
    ("page emergency open", "post", "/clients/emergency-access/", {}, None, _status_row(404, 422, 422, 404, 404, 404, 404, 404, 422)),
    ("page emergency report", "get", "/clients/emergency-access/report/", None, None, _status_row(200, 404, 404, 404, 404, 404, 404, 200, 404)),
]  # fmt: skip

CASES = [pytest.param(row, role, id=f"{row[0]}-{role}") for row in MATRIX for role in ROLES]


@pytest.mark.parametrize(("row", "role"), CASES)
def test_permission_matrix(client, world, row, role):
    name, method, template, body, target, expected = row
    url = template.format(id=getattr(world, target).pk) if target else template
    sign_in(client, getattr(world, role).user)
    kwargs = {}
    if body is not None:
        if url.startswith("/api/"):
            kwargs = {"data": json.dumps(body), "content_type": "application/json"}
        else:
            kwargs = {"data": body}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == expected[role], (name, role, response.content[:300])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/clients/", 302),
        ("/audit/", 302),
        ("/members/", 302),
        ("/api/v1/clients", 401),
        ("/api/v1/me", 401),
    ],
)
def test_anonymous_is_sent_to_sign_in(client, world, url, expected):
    assert client.get(url).status_code == expected


def test_staff_without_mfa_is_sent_to_mfa_setup(client, world):
    client.force_login(world.therapist.user, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(f"/clients/{world.client.pk}/")
    assert response.status_code == 302
    assert response["Location"] == "/mfa/setup/"
    assert client.get(f"/api/v1/clients/{world.client.pk}").status_code == 401


def test_django_admin_is_for_platform_staff_only(client, world):
    sign_in(client, world.admin.user)
    response = client.get("/platform-admin/")
    assert response.status_code == 302
    assert "/platform-admin/login/" in response["Location"]


def test_django_admin_opens_for_verified_platform_staff(client, world):
    staff = world.admin.user
    staff.is_staff = staff.is_superuser = True
    staff.save()
    sign_in(client, staff)
    assert client.get("/platform-admin/").status_code == 200
    from django.test import Client

    unverified = Client()
    unverified.force_login(staff, backend="django.contrib.auth.backends.ModelBackend")
    assert unverified.get("/platform-admin/").status_code == 302  # password only, no OTP
