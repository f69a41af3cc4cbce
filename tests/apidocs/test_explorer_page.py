"""/docs, the API explorer, needs nothing but sensorhub: its page and assets
come from the service, none from another host."""

from __future__ import annotations

import json
import re

from service.apidocs import SWAGGER_UI_URL
from tests.auth.authkeys import KEYS

# src= and href= of the page, and anything that looks like an absolute or
# scheme-relative URL anywhere in it.
ATTRIBUTE_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']""")
ABSOLUTE_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


def test_the_explorer_page_references_no_other_host(client):
    page = client.get("/docs").get_data(as_text=True)
    referenced = ATTRIBUTE_URL.findall(page)
    assert referenced and all(url.startswith(SWAGGER_UI_URL) for url in referenced), referenced
    assert not ABSOLUTE_URL.search(page)
    assert '"validatorUrl":null' in page.replace(" ", "")  # no badge fetched from the validator service


def test_the_explorer_assets_are_served_without_a_key(make_app):
    keyed = make_app(api_keys_text=json.dumps(KEYS)).test_client()
    for name in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        response = keyed.get(SWAGGER_UI_URL + name)
        assert response.status_code == 200, name
        assert response.data
    assert keyed.get(SWAGGER_UI_URL + "../__init__.py").status_code == 404
