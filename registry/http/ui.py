"""The web UI's built files at ``/`` (``ui/`` builds them with Vite into ``ui/dist``).

Page URLs (``/projects/library``) answer ``index.html``, whose script routes on the
client (deep links); files under ``assets/`` carry a content hash in their names and are
cached for a year; ``index.html`` is revalidated on every load, so a new build shows at
once. Every answer carries a strict Content-Security-Policy: the UI has no inline script
or style and talks only to its own origin. The API surfaces and the probes keep their
paths: a request under one of them that no route took is their 404, never the UI's page.
"""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from wharf.registry.http.keys import SETTINGS

# paths the UI never answers (mounted sub-applications, probes, metrics)
RESERVED = ("/v2", "/api", "/service", "/c", "/healthz", "/readyz", "/metrics")
ASSETS = "assets/"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wharf: the web UI is not built</title>
</head><body><h1>The web UI is not built</h1>
<p>Wharf looked for it in <code>{root}</code> and found no <code>index.html</code>.</p>
<p>Build it from the source checkout with <code>make run</code> (it runs
<code>npm ci</code> and <code>npm run build</code> in <code>ui/</code>), or by hand:</p>
<pre>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>or point the <code>ui.dir</code> setting (<code>WHARF_UI__DIR</code>) at a built copy.
The registry API (<code>/v2/</code>) and the management API (<code>/api/v2.0/</code>) work
without it.</p></body></html>
"""

NO_API = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wharf: the web UI needs access control
</title></head><body><h1>The web UI needs access control</h1>
<p>This server runs with <code>auth.enabled: false</code>, so it has no management API
(<code>/api/v2.0</code>) for the UI to talk to. The registry API (<code>/v2/</code>) works.
</p></body></html>
"""


def reserved(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED)


def _not_found() -> web.Response:
    return web.json_response(
        {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]},
        status=404,
        headers={"X-Content-Type-Options": "nosniff"},
    )


def _file(root: Path, relative: str) -> Path | None:
    """The regular file ``relative`` under ``root``, never one outside it."""
    if not relative or "\x00" in relative:
        return None
    try:
        base = root.resolve()
        candidate = (base / relative).resolve()
    except (OSError, ValueError):
        return None
    if candidate == base or base not in candidate.parents or not candidate.is_file():
        return None
    return candidate


def _page(text: str, status: int) -> web.Response:
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
    )


async def serve_ui(request: web.Request) -> web.StreamResponse:
    if reserved(request.path):
        return _not_found()
    settings = request.config_dict[SETTINGS]
    if not settings.auth.enabled:
        # no UI on this server: "/" says why, any other path is an unknown endpoint
        return _page(NO_API, 404) if request.path == "/" else _not_found()
    root = settings.ui.root
    index = root / "index.html"
    relative = request.match_info.get("tail", "")
    found = _file(root, relative)
    if found is not None and found != index.resolve():
        cache = IMMUTABLE if relative.startswith(ASSETS) else "no-cache"
        return web.FileResponse(found, headers={**SECURITY_HEADERS, "Cache-Control": cache})
    last = relative.rsplit("/", 1)[-1]
    if relative.startswith(ASSETS) or "." in last:
        # a missing file (an old build's asset, a typo) is a 404, not the page as script
        return web.Response(
            status=404, text="not found", headers={**SECURITY_HEADERS, "Cache-Control": "no-store"}
        )
    try:
        body = index.read_bytes()
    except OSError:
        if request.path != "/":
            return _not_found()  # only the front door explains; a stray path is a 404
        return _page(NOT_BUILT.format(root=html.escape(str(root))), 503)
    return web.Response(
        body=body,
        content_type="text/html",
        charset="utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


def add_ui_routes(app: web.Application) -> None:
    """The UI's catch-all GET/HEAD route; register after every other route."""
    app.router.add_get("/{tail:.*}", serve_ui)
