"""GET / and its static files (no browser)."""

from __future__ import annotations

from service.stores import stores


def test_dashboard_page_is_served_with_its_script_and_styles(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'id="grid"' in html and 'id="filter"' in html
    assert 'name="viewport"' in html  # usable on a phone
    for asset in ("/dashboard/static/dashboard.js", "/dashboard/static/dashboard.css", "/dashboard/static/sensor.js",
                  "/dashboard/static/vendor/uplot/uPlot.iife.min.js", "/dashboard/static/vendor/uplot/uPlot.min.css"):
        assert asset in html
        assert client.get(asset).status_code == 200


def test_dashboard_scripts_never_inject_sensor_data_as_html(client):
    for name in ("dashboard.js", "sensor.js"):
        script = client.get(f"/dashboard/static/{name}").get_data(as_text=True)
        assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert 'fetch("/sensors?' in client.get("/dashboard/static/dashboard.js").get_data(as_text=True)


def test_dashboard_page_says_whether_its_data_calls_need_a_key(client, settings):
    import json

    from service import create_app

    assert 'data-keys-required="false"' in client.get("/").get_data(as_text=True)
    keyed = create_app(settings.replace(api_keys_text=json.dumps({"k" * 32: {"role": "read", "org": "*"}})))
    try:
        page = keyed.test_client().get("/")
        assert page.status_code == 200  # the page is public
        assert 'data-keys-required="true"' in page.get_data(as_text=True)
        assert keyed.test_client().get("/sensors").status_code == 401
        assert keyed.test_client().get("/sensors", headers={"X-API-Key": "k" * 32}).status_code == 200
    finally:
        stores(keyed).client.close()
