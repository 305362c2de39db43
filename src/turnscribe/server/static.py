"""The live demo page (``turnscribe/web/``): ``GET /`` and its few static files.

Only a fixed allow-list of packaged names is served, read through importlib.resources so it
works from a wheel or a zip as well as a source tree; a name not on the list is never looked up
(no path is ever joined from the request, so ``..`` cannot escape). Anything that is not one of
these routes returns None and falls through to the server's own routing, whose 404 is the usual
JSON error (§4.2). A WebSocket upgrade is never answered with a page: ``/`` stays a 404 for
Flux clients that dial the wrong path (§2).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

WEB_PACKAGE = "turnscribe.web"
STATIC_PREFIX = "/static/"

# packaged file -> Content-Type; the page and everything it loads
FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "timeline.js": "text/javascript; charset=utf-8",
    "audio.js": "text/javascript; charset=utf-8",
    "capture-worklet.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
PAGES = {"/": "index.html", "/index.html": "index.html"}


def route(path: str) -> str | None:
    """The packaged file name a request path maps to, or None."""
    if path in PAGES:
        return PAGES[path]
    if path.startswith(STATIC_PREFIX):
        name = path[len(STATIC_PREFIX):]
        if name in FILES:
            return name
    return None


@cache
def _read(name: str) -> bytes:
    # the package never changes while the server runs: read each file once
    return resources.files(WEB_PACKAGE).joinpath(name).read_bytes()


def serve(request: Request, path: str) -> Response | None:
    """The response for a demo-page ``path`` (already split from its query), else None."""
    name = route(path)
    if name is None or "upgrade" in request.headers.get("Connection", "").lower():
        return None
    body = _read(name)
    headers = Headers()
    headers["Content-Type"] = FILES[name]
    headers["Content-Length"] = str(len(body))
    # revalidate on every load: an upgraded server must not run a stale cached app.js
    headers["Cache-Control"] = "no-cache"
    headers["X-Content-Type-Options"] = "nosniff"
    return Response(200, "OK", headers, body)
