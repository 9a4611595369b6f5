"""The API docs page: Swagger UI from the service's own files under a same-origin policy, in a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import ConsoleMessage, Route, async_playwright
from quart.typing import TestClientProtocol as Client

from myservice import create_app
from myservice.settings import SERVICE

from .helpers import assert_problem, free_port, get, lane_command, lane_env, serving

CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'"
)
ASSET = re.compile(r'(?:src|href)="([^"]+)"')
SWAGGER_UI = Path(str(files("flask_swagger_ui") / "dist"))  # as the package installed it
TYPES = {".css": {"text/css"}, ".js": {"text/javascript", "application/javascript"}, ".png": {"image/png"}}
# Headless Chromium as root, with nothing of its own that calls out (updates, sync, QUIC probes).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECONDS = 30


async def test_docs_page(client: Client) -> None:
    """The page is HTML whose every script, style and icon comes from the service, under a same-origin policy."""
    response = await client.get("/docs")
    assert (response.status_code, response.mimetype) == (200, "text/html")
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["Cache-Control"] == "no-cache"
    security = ("X-Frame-Options", "Referrer-Policy", "X-Content-Type-Options")
    assert [response.headers[name] for name in security] == ["DENY", "no-referrer", "nosniff"]
    page = await response.get_data(as_text=True)
    assets = [urlsplit(url).path for url in ASSET.findall(page)]
    assert assets == [
        "/docs/static/swagger-ui.css",
        "/docs/static/favicon-32x32.png",
        "/docs/static/favicon-16x16.png",
        "/docs/static/swagger-ui-bundle.js",
        "/docs/static/docs.js",
    ]
    assert 'data-url="/openapi.json"' in page
    assert page.count("<script") == page.count("<script src=") == 2  # no inline script


async def test_docs_page_under_a_root_path(client: Client) -> None:
    """Behind a proxy's path prefix, the page's files and document are under it, and so is the document's server
    (which "Try it out" calls)."""
    response = await client.get("/api/docs", root_path="/api")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert {urlsplit(url).path.rpartition("/")[0] for url in ASSET.findall(page)} == {"/api/docs/static"}
    assert 'data-url="/api/openapi.json"' in page
    document = await (await client.get("/api/openapi.json", root_path="/api")).get_json()
    assert document["servers"] == [{"url": "/api"}]
    assert "servers" not in await (await client.get("/openapi.json")).get_json()


async def test_docs_files_are_the_packages_and_cached(client: Client) -> None:
    """Each file the page names is served as the package ships it, cached for a year under a name that its
    content changes; a browser's revalidation gets a 304."""
    page = await (await client.get("/docs")).get_data(as_text=True)
    for url in ASSET.findall(page):
        response = await client.get(url)
        name = urlsplit(url).path.rpartition("/")[2]
        shipped = SWAGGER_UI / name if name != "docs.js" else Path(__file__).parents[1] / "docs_page.js"
        assert response.status_code == 200, url
        assert response.mimetype in TYPES[Path(name).suffix], url
        assert await response.get_data() == shipped.read_bytes(), url
        assert set(response.headers["Cache-Control"].split(", ")) == {"public", "max-age=31536000", "immutable"}
        again = await client.get(url, headers={"If-None-Match": response.headers["ETag"]})
        assert (again.status_code, await again.get_data()) == (304, b""), url


@pytest.mark.parametrize(
    "path",
    [
        "/docs/static/swagger-ui.js",  # shipped, but the page does not need it
        "/docs/static/oauth2-redirect.html",
        "/docs/static/VERSION",
        "/docs/static/docs_page.py",
        "/docs/static/../../setup.py",
        "/docs/static/..%2F..%2Fsetup.py",
        "/docs/static/%2e%2e%2fapi.py",
        "/docs/static/",
        "/docs/",
    ],
)
async def test_docs_serves_no_other_file(client: Client, path: str) -> None:
    """Any other name under /docs, a path that climbs out of it included, is a 404."""
    await assert_problem(await client.get(path), 404, "not found on the server")


async def test_docs_routes_are_not_operations(client: Client) -> None:
    """/openapi.json documents the API, not the page that shows it."""
    document = await (await client.get("/openapi.json")).get_json()
    assert [path for path in document["paths"] if path.startswith("/docs")] == []


async def test_docs_page_can_be_switched_off() -> None:
    """API_DOCS false: the page and its files are 404s; /openapi.json stays."""
    app = create_app(settings={"API_DOCS": False})
    async with app.test_app():
        client = app.test_client()
        for path in ("/docs", "/docs/static/swagger-ui-bundle.js"):
            await assert_problem(await client.get(path), 404, "not found on the server")
        assert (await client.get("/openapi.json")).status_code == 200


@pytest.mark.slow
async def test_docs_page_in_a_browser_offline(tmp_path: Path) -> None:
    """Chromium, with the network closed to all but 127.0.0.1, shows every operation on /docs under a root path
    and runs one; nothing left 127.0.0.1 and the page's policy refused nothing. The screenshot is kept."""
    chromium = find_chromium()
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    command, env = lane_command("hypercorn", f"{SERVICE}:create_app()"), lane_env(port, WORKERS="1", ROOT_PATH="/api")
    with serving(command, f"{url}/healthz", env=env, cwd=tmp_path):
        document = json.loads(get(f"{url}/openapi.json")[2])
        seen = await browse(chromium, f"{url}/docs", tmp_path / "profile", artefacts(tmp_path) / "docs_page.png")
    operations = [operation for methods in document["paths"].values() for operation in methods.values()]
    assert sorted(seen.operation_ids) == sorted(operation["operationId"] for operation in operations)
    assert sorted(seen.summaries) == sorted(operation["summary"] for operation in operations)
    assert (seen.blocked, seen.errors) == ([], [])
    assert f"{url}/healthz" in seen.requests  # "Try it out" calls the service under its root path
    assert seen.executed_status == "200"


class Seen:
    """What the browser showed, asked for and complained about."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.blocked: list[str] = []  # requests to any host but 127.0.0.1, aborted
        self.errors: list[str] = []  # console errors (a refused load says so there) and uncaught exceptions
        self.operation_ids: list[str] = []
        self.summaries: list[str] = []
        self.executed_status = ""

    async def route(self, route: Route) -> None:
        """Let a request to 127.0.0.1 through; abort and record any other."""
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            self.requests.append(route.request.url)
            await route.continue_()
        else:
            self.blocked.append(route.request.url)
            await route.abort()

    def console(self, message: ConsoleMessage) -> None:
        """Keep the console's errors."""
        if message.type == "error":
            self.errors.append(message.text)


async def browse(chromium: str, url: str, profile: Path, screenshot: Path) -> Seen:
    """Open `url` in headless Chromium, read its operations, run the first one with "Try it out", screenshot it."""
    seen = Seen()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=CHROMIUM_FLAGS, timeout=SECONDS * 1000
        )
        try:
            context.set_default_timeout(SECONDS * 1000)
            await context.route("**/*", seen.route)
            page = await context.new_page()
            page.on("console", seen.console)
            page.on("pageerror", lambda error: seen.errors.append(str(error)))
            await page.goto(url)
            await page.wait_for_selector(".opblock")
            seen.operation_ids = await page.locator(".opblock-summary-operation-id").all_inner_texts()
            seen.summaries = await page.locator(".opblock-summary-description").all_inner_texts()
            await page.locator("#operations-health-get_healthz .opblock-summary-control").click()
            await page.locator("#operations-health-get_healthz .try-out__btn").click()
            await page.locator("#operations-health-get_healthz .execute").click()
            status = page.locator("#operations-health-get_healthz .live-responses-table tbody .response-col_status")
            seen.executed_status = (await status.first.inner_text()).strip()
            await page.screenshot(path=screenshot, full_page=True)
        finally:
            await context.close()
    return seen


def find_chromium() -> str:
    """Debian's chromium (CHROMIUM names another): CI must have it, as .ci/run installs it; elsewhere, a skip."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("google-chrome")
    if found:
        return found
    reason = "no Chromium: `apt-get install chromium` (.ci/run does, as root), or set CHROMIUM to a Chromium or Chrome"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def artefacts(tmp_path: Path) -> Path:
    """Where the test keeps what a person may want to look at: TEST_ARTEFACTS (CI uploads it), else tmp_path."""
    folder = Path(os.environ.get("TEST_ARTEFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
