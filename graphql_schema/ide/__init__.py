"""GraphiQL served by Herald itself, from an installed package: it works without internet.

The GraphiQL, React and ReactDOM builds come from the ``graphene-django-graphiql-static`` wheel (static
files only; Herald never imports its Django code). The page and its start script are Herald's own. The
page loads nothing from another origin (its Content-Security-Policy says so to the browser).

The bearer header is filled in from ``sessionStorage["herald.apiKey"]``: the page's key field stores it
there (this tab only, never a URL or a cookie), and a future console that signs a user in can store the
same item before opening the page.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

ASSET_PACKAGE = "graphene_django_graphiql_static"
ASSETS_PATH = "/graphql/assets"
# What the page loads, in order: the package's builds, then Herald's start script.
VENDORED = {
    "react.production.min.js": "text/javascript",
    "react-dom.production.min.js": "text/javascript",
    "graphiql.min.js": "text/javascript",
    "graphiql.min.css": "text/css",
}
OWN = {"herald-graphiql.js": "text/javascript", "herald-graphiql.css": "text/css"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _vendored_dir() -> Traversable:
    return resources.files(ASSET_PACKAGE) / "static" / ASSET_PACKAGE


def _file(name: str) -> Traversable | None:
    if name in VENDORED:
        return _vendored_dir() / name
    if name in OWN:
        return resources.files(__package__) / name
    return None


def page() -> str:
    css = "".join(
        f'<link rel="stylesheet" href="{ASSETS_PATH}/{n}">' for n in ("graphiql.min.css", "herald-graphiql.css")
    )
    scripts = [n for n in VENDORED if n.endswith(".js")] + ["herald-graphiql.js"]
    js = "".join(f'<script src="{ASSETS_PATH}/{n}"></script>' for n in scripts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Herald GraphiQL</title>'
        f"{css}</head><body>"
        '<form id="herald-key" hidden><label>API key (kept in this tab only) '
        '<input id="herald-key-input" type="password" autocomplete="off" placeholder="hk_…"></label>'
        '<button type="submit">Use</button></form>'
        '<button id="herald-forget" type="button" hidden>Forget the key</button>'
        f'<div id="graphiql">Loading…</div>{js}</body></html>'
    )


def ide_response() -> HTMLResponse:
    return HTMLResponse(page(), headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    found = _file(name)
    if found is None or not found.is_file():
        return PlainTextResponse("Not found.", status_code=404)
    media = VENDORED.get(name) or OWN[name]
    return Response(
        found.read_bytes(),
        media_type=f"{media}; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
