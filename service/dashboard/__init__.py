"""The live dashboard: GET /. No build step: a Jinja template,
one small script and one stylesheet, all served from this package."""

import shlex

from flask import Blueprint, Flask, render_template, request

from ..auth import public
from ..stores import stores

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/dashboard/static")


@bp.route("/", methods=["GET"])
@public
def index():
    settings = stores().settings
    # The page itself is public; its data calls need a read key when keys are configured.
    keys_required = stores().access.ring is not None
    return render_template("dashboard.html", offline_after=settings.offline_after, live_ms=1000, full_ms=60000,
                           keys_required=keys_required, first_reading=first_reading_command(keys_required))


def first_reading_command(keys_required: bool) -> str:
    """The empty dashboard's curl command: one reading to POST /data of this
    server (as the browser reached it), timestamped when it runs (epoch
    seconds from the shell's ``date``)."""
    key = " -H 'X-API-Key: YOUR_INGEST_KEY'" if keys_required else ""
    body = """'{"sensor": "my-first-sensor", "timestamp": '"$(date +%s)"', "value": 21.5}'"""
    return (f"curl -X POST {shlex.quote(request.host_url + 'data')} -H 'Content-Type: application/json'{key}"
            f" -d {body}")


def register(app: Flask, api) -> None:
    app.register_blueprint(bp)
