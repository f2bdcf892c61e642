"""End to end in Chromium: the API docs page runs Swagger UI from our own static files under
the app's content security policy, and lists the API's operations (decision 0039).

Swagger UI (5.3x) virtualises a long list of operations: only those near the viewport are in
the DOM, and the rest are drawn as the page scrolls. So the test scrolls the page from top to
bottom and collects every operation drawn on the way, and compares them with the spec."""

import json

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _operation_ids(spec: dict) -> set[str]:
    """Swagger UI's element id for each operation: operations-<tag>-<operationId>."""
    return {
        f"operations-{op['tags'][0]}-{op['operationId']}"
        for item in spec["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }


def test_the_docs_page_lists_the_operations_without_a_policy_error(page, live_server):
    errors, foreign = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server.url) else foreign.append(r.url),
    )

    response = page.goto(f"{live_server.url}/api/v1/docs")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    # The spec of about 160 operations is built on the first request: give a busy machine time.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("kapflow API", timeout=30_000)
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/clients").first).to_be_visible()

    # Every operation of the spec is drawn once scrolled to, the last tags' too.
    spec = json.loads(page.request.get(f"{live_server.url}/api/v1/openapi.json").text())
    expected = _operation_ids(spec)
    assert len(expected) > 100
    seen: set[str] = set()
    for _ in range(200):
        seen.update(page.eval_on_selector_all(".opblock", "els => els.map(e => e.id)"))
        if page.evaluate("scrollY + innerHeight >= document.body.scrollHeight - 2"):
            break
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(60)
    assert expected - seen == set()
    page.evaluate("scrollTo(0, 0)")

    # An operation opens with its parameters and responses.
    page.locator(".opblock-summary-path", has_text="/api/v1/me").first.click()
    expect(page.locator(".opblock.is-open .responses-wrapper").first).to_be_visible()

    assert errors == []
    assert foreign == []
