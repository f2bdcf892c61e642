"""The API docs page serves Swagger UI from our own static files (decision 0039): every asset
is under /static/, found by the static finders, and no script is inline, so the content
security policy (script-src 'self') lets the page run."""

import json
import re
from html.parser import HTMLParser

from django.contrib.staticfiles import finders


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []
        self.scripts = []
        self.settings = None
        self._in_settings = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if tag == "script":
            self.scripts.append(attrs)
            self._in_settings = attrs.get("id") == "swagger-settings"

    def handle_data(self, data):
        if self._in_settings:
            self.settings = json.loads(data)
            self._in_settings = False


def _page(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    parser = _Assets()
    parser.feed(response.content.decode())
    return response, parser


def test_the_docs_page_loads_only_our_static_files(client, db):
    response, page = _page(client)
    assert page.urls, "the page names its assets"
    for url in page.urls:
        assert url.startswith("/static/"), url
        assert finders.find(url.removeprefix("/static/")), f"{url} is not a static file"
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.urls
    assert "/static/vendor/swagger-ui/swagger-ui.css" in page.urls
    assert not re.search(rb"https?://", response.content), "no other origin is named"


def test_the_docs_page_has_no_inline_script_and_a_strict_policy(client, db):
    response, page = _page(client)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-eval" not in policy
    for script in page.scripts:
        # Either a file from /static/ or data (JSON), which the browser does not run.
        assert script.get("src") or script.get("type") == "application/json", script


def test_the_docs_page_points_swagger_at_our_openapi_document(client, db):
    _, page = _page(client)
    assert page.settings["url"] == "/api/v1/openapi.json"
    assert page.settings["validatorUrl"] is None
    assert client.get(page.settings["url"]).status_code == 200


def test_the_openapi_document_names_no_key_twice(client, db):
    """Swagger UI parses the document as YAML and refuses a repeated key ("duplicated mapping
    key"): e.g. a response status added as "409" beside Ninja's 409."""
    repeated = []

    def no_repeats(pairs):
        keys = [key for key, _ in pairs]
        repeated.extend(key for key in set(keys) if keys.count(key) > 1)
        return dict(pairs)

    json.loads(client.get("/api/v1/openapi.json").content, object_pairs_hook=no_repeats)
    assert repeated == []
