"""End to end in Chromium (decision 0038): a double-clicked submit button makes one row, and
a form sent again past the script is not done twice (the server's one-time token)."""

import pytest
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from kapflow.patients.models import Client
from tests.accounts.factories import OrganisationFactory, member
from tests.e2e.flows import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _new_client_form(page, base):
    practice = OrganisationFactory(name="Alder Creek Practice")
    admin = member(practice, Role.PRACTICE_ADMIN, Role.THERAPIST, licences=[("LMFT", "OR")])
    sign_in(page, base, admin)
    page.goto(f"{base}/clients/new/")
    page.get_by_label("Legal first name").fill("Juniper")
    page.get_by_label("Legal last name").fill("Okafor")
    page.get_by_label("Date of birth").fill("1990-04-02")
    page.get_by_label("State").select_option("OR")


def test_a_double_click_on_create_makes_one_client(page, live_server):
    _new_client_form(page, live_server.url)
    page.get_by_role("button", name="Create client").dblclick()
    expect(page.get_by_role("heading", name="Juniper Okafor")).to_be_visible()
    assert Client.objects.count() == 1


def test_a_form_sent_again_past_the_script_is_not_done_twice(page, live_server):
    """The same form sent twice past app.js (form.submit() fires no submit event): first into
    a frame, then, once that copy has been answered, from the page, as a reload or a second
    tab would. The server knows the token and sends the page to where the first copy went."""
    _new_client_form(page, live_server.url)
    # The frame shows nothing (X-Frame-Options: DENY), but its request is answered.
    with page.expect_response(lambda r: r.request.method == "POST" and r.status == 302):
        page.evaluate(
            """() => {
              const form = document.querySelector("main form[method=post]");
              const frame = document.createElement("iframe");
              frame.name = "first-copy";
              document.body.append(frame);
              form.target = "first-copy";
              HTMLFormElement.prototype.submit.call(form);
              form.removeAttribute("target");
            }"""
        )
    assert Client.objects.count() == 1
    page.evaluate(
        """() => HTMLFormElement.prototype.submit.call(
          document.querySelector("main form[method=post]"))"""
    )
    expect(page.get_by_role("heading", name="Juniper Okafor")).to_be_visible()
    expect(page.get_by_text("This form was already sent")).to_be_visible()
    assert Client.objects.count() == 1
