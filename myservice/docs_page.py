"""The API docs page, GET /docs: Swagger UI 5 on /openapi.json, served by the service itself from the
flask-swagger-ui package's files, so it works with no internet access. Its Content-Security-Policy lets
the page load and call only the service."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from quart import Quart, Response, abort, current_app, render_template_string, send_file, url_for
from quart_schema import hide

from myservice.auth import public

DOCS_PATH = "/docs"
# Only its files (find_spec does not import the package, whose Flask blueprint the service does not use).
DIST = Path(find_spec("flask_swagger_ui").origin or "").parent / "dist"  # type: ignore[union-attr]  # installed
# The files the page loads, by the name it asks for; any other name is a 404 (no path is ever joined).
FILES = {
    "swagger-ui.css": DIST / "swagger-ui.css",
    "swagger-ui-bundle.js": DIST / "swagger-ui-bundle.js",
    "favicon-32x32.png": DIST / "favicon-32x32.png",
    "favicon-16x16.png": DIST / "favicon-16x16.png",
    "docs.js": Path(__file__).with_name("docs_page.js"),
}
# Only the service: no inline script or style (none needed), no plugin; Swagger UI's stylesheet draws its icons
# from data: URIs (img-src).
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
YEAR = 365 * 24 * 3600
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{ title }} API</title>
  <link rel="stylesheet" href="{{ asset('swagger-ui.css') }}">
  <link rel="icon" type="image/png" href="{{ asset('favicon-32x32.png') }}" sizes="32x32">
  <link rel="icon" type="image/png" href="{{ asset('favicon-16x16.png') }}" sizes="16x16">
</head>
<body>
  <div id="swagger-ui" data-url="{{ url_for('openapi') }}"></div>
  <script src="{{ asset('swagger-ui-bundle.js') }}"></script>
  <script src="{{ asset('docs.js') }}"></script>
</body>
</html>
"""


def init_app(app: Quart) -> None:
    """Serve the page at /docs and its files at /docs/static/<name>, if API_DOCS (quart-schema's own page loads
    Swagger UI from a CDN); neither is an operation of /openapi.json."""
    if app.config["API_DOCS"]:
        app.add_url_rule(DOCS_PATH, "swagger_ui", get_docs)
        app.add_url_rule(f"{DOCS_PATH}/static/<name>", "swagger_ui_static", get_docs_file)


@hide
@public
async def get_docs() -> Response:
    """The page, under the service's root path; revalidated on each visit, as its files' names change."""
    page = await render_template_string(PAGE, title=current_app.name, asset=asset)
    return Response(page, mimetype="text/html", headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})


@hide
@public
async def get_docs_file(name: str) -> Response:
    """One of the page's files; its URL names its content, so it is cached for a year."""
    if name not in FILES:
        abort(404)
    response = await send_file(FILES[name], cache_timeout=YEAR, conditional=True)
    response.cache_control.immutable = True
    return response


def asset(name: str) -> str:
    """The URL of one of the page's files, with a hash of its content: a new Swagger UI gets new URLs."""
    return url_for("swagger_ui_static", name=name, v=fingerprint(FILES[name]))


@cache
def fingerprint(path: Path) -> str:
    """The start of the hash of the file's content (read once per process)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
