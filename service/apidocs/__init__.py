"""The API explorer's assets, served by sensorhub itself: /docs works offline.

flask-smorest renders /docs (Swagger UI) from /openapi.json; the page's
script and stylesheet come from ``SWAGGER_UI_URL`` here, out of the
flask-swagger-ui package, which ships the Swagger UI distribution (its
version is the package's). No request leaves the machine.
"""

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Flask, send_from_directory

from ..auth import public

# Swagger UI's dist folder, as the package ships it.
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
SWAGGER_UI_URL = "/docs/swagger-ui/"
# The files are pinned with the package: a browser may keep them a day.
ASSET_MAX_AGE = 86400

bp = Blueprint("apidocs", __name__)


@bp.route(SWAGGER_UI_URL + "<path:filename>", methods=["GET"])
@public
def asset(filename: str):
    return send_from_directory(SWAGGER_UI_DIST, filename, max_age=ASSET_MAX_AGE)


def register_explorer(app: Flask) -> None:
    app.register_blueprint(bp)
