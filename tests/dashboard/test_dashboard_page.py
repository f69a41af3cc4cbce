"""GET / and its static files (no browser)."""

from __future__ import annotations


def test_dashboard_page_is_served_with_its_script_and_styles(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'id="grid"' in html and 'id="filter"' in html
    assert 'name="viewport"' in html  # usable on a phone
    for asset in ("/dashboard/static/dashboard.js", "/dashboard/static/dashboard.css"):
        assert asset in html
        assert client.get(asset).status_code == 200


def test_dashboard_script_never_injects_sensor_data_as_html(client):
    script = client.get("/dashboard/static/dashboard.js").get_data(as_text=True)
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "fetch(\"/sensors\"" in script
