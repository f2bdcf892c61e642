# ruff: noqa: E501  (the matrix reads best one row per line)
"""Every role x every notes page and endpoint, exact status (the notes rows of the global
matrix). `signed`: a signed therapy progress note by the client's therapist; `dosing`: a
signed dosing progress note; `psy`: a signed psychotherapy note; `draft`: the therapist's
draft. 404 = not visible to the role; 403 = visible, but not the role's to change."""

import json

import pytest

from tests.conftest import sign_in
from tests.notes.factories import draft, signed

ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip


def _row(*codes):
    return dict(zip(ROLES, codes, strict=True))


MATRIX = [
    # (name, method, url template, body, expected per role)
    ("page list", "get", "/notes/clients/{client}/", None, _row(200, 200, 404, 404, 200, 404, 404, 404, 404)),
    ("page new", "get", "/notes/new/?client={client}&type=dosing", None, _row(403, 200, 404, 404, 200, 404, 404, 404, 404)),
    ("page signed", "get", "/notes/{signed}/", None, _row(200, 200, 404, 404, 404, 404, 404, 404, 404)),
    ("page dosing", "get", "/notes/{dosing}/", None, _row(200, 200, 404, 404, 200, 404, 404, 404, 404)),
    ("page psychotherapy", "get", "/notes/{psy}/", None, _row(404, 200, 404, 404, 404, 404, 404, 404, 404)),
    ("page draft", "get", "/notes/{draft}/", None, _row(404, 200, 404, 404, 404, 404, 404, 404, 404)),
    ("page pdf", "get", "/notes/{signed}.pdf", None, _row(200, 200, 404, 404, 404, 404, 404, 404, 404)),
    ("page psychotherapy pdf", "get", "/notes/{psy}.pdf", None, _row(404, 200, 404, 404, 404, 404, 404, 404, 404)),
    ("page records", "get", "/notes/clients/{client}/records.pdf", None, _row(200, 200, 404, 404, 404, 404, 404, 404, 404)),
    ("page addendum", "post", "/notes/{signed}/addenda/", {"text": "Later."}, _row(403, 302, 404, 404, 404, 404, 404, 404, 404)),
    ("page save draft", "post", "/notes/{draft}/save/", {"version": 2, "section_plan": "x"}, _row(404, 302, 404, 404, 404, 404, 404, 404, 404)),
    ("page delete draft", "post", "/notes/{draft}/delete/", {}, _row(404, 302, 404, 404, 404, 404, 404, 404, 404)),
    ("page cosign queue", "get", "/notes/cosign/", None, _row(200, 200, 200, 404, 200, 404, 404, 200, 200)),
    ("page supervision", "get", "/notes/supervision/", None, _row(200, 404, 404, 404, 404, 404, 404, 200, 404)),
    ("api templates", "get", "/api/v1/notes/templates", None, _row(200, 200, 200, 200, 200, 404, 404, 200, 200)),
    ("api list", "get", "/api/v1/notes/clients/{client}", None, _row(200, 200, 404, 404, 200, 404, 404, 404, 404)),
    ("api signed", "get", "/api/v1/notes/{signed}", None, _row(200, 200, 404, 404, 404, 404, 404, 404, 404)),
    ("api dosing", "get", "/api/v1/notes/{dosing}", None, _row(200, 200, 404, 404, 200, 404, 404, 404, 404)),
    ("api psychotherapy", "get", "/api/v1/notes/{psy}", None, _row(404, 200, 404, 404, 404, 404, 404, 404, 404)),
    ("api create therapy", "post", "/api/v1/notes", {"client_id": "{client}", "session_type": "therapy"}, _row(403, 201, 404, 404, 403, 404, 404, 404, 404)),
    ("api autosave", "put", "/api/v1/notes/{draft}", {"version": 2, "sections": {"plan": "x"}}, _row(404, 200, 404, 404, 404, 404, 404, 404, 404)),
    ("api sign", "post", "/api/v1/notes/{draft}/sign", {"signature_name": "Nobody"}, _row(404, 422, 404, 404, 404, 404, 404, 404, 404)),
    ("api addendum", "post", "/api/v1/notes/{signed}/addenda", {"text": "Later."}, _row(403, 201, 404, 404, 404, 404, 404, 404, 404)),
    ("api cosign", "post", "/api/v1/notes/{signed}/cosign", {"signature_name": "x"}, _row(409, 409, 404, 404, 404, 404, 404, 404, 404)),
    ("api delete draft", "delete", "/api/v1/notes/{draft}", None, _row(404, 204, 404, 404, 404, 404, 404, 404, 404)),
    ("api cosign queue", "get", "/api/v1/notes/cosign-queue", None, _row(200, 200, 200, 404, 200, 404, 404, 200, 200)),
]  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", MATRIX, ids=[r[0] for r in MATRIX])
def test_notes_permission_matrix(client, world, row, role):
    name, method, template, body, expected = row
    ids = {
        "client": world.client.pk,
        "signed": signed(world.client, world.therapist, session_type="therapy").pk,
        "dosing": signed(world.client, world.therapist, session_type="dosing").pk,
        "psy": signed(world.client, world.therapist, session_type="therapy",
                      kind="psychotherapy").pk,
        "draft": draft(world.client, world.therapist, session_type="therapy", fmt="dap").pk,
    }  # fmt: skip
    url = template.format(**ids)
    sign_in(client, getattr(world, role).user)
    kwargs = {}
    if body is not None:
        body = {k: (int(v.format(**ids)) if isinstance(v, str) and "{" in v else v)
                for k, v in body.items()}  # fmt: skip
        if url.startswith("/api/"):
            kwargs = {"data": json.dumps(body), "content_type": "application/json"}
        else:
            kwargs = {"data": body}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == expected[role], (name, role, response.content[:300])
