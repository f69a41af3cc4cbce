"""The live dashboard: GET /. No build step: a Jinja template,
one small script and one stylesheet, all served from this package."""

from flask import Blueprint, Flask, render_template

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
    return render_template("dashboard.html", offline_after=settings.offline_after, refresh_ms=3000,
                           keys_required=keys_required)


def register(app: Flask, api) -> None:
    app.register_blueprint(bp)
