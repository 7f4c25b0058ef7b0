"""What every console page shares: the signed-in principal, calling an operation, rendering a template.

Pages and actions call operations through ``server.dispatch.execute`` with the session's principal, so
scopes, read-only keys, validation and audit are exactly those of the other doors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from console import session as cookies
from console.charts import duration_chart
from server.context import Principal
from server.dispatch import execute, new_request_id
from server.errors import HeraldError, Unauthorized
from server.keys.service import principal_by_id
from server.runtime import Runtime

HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True), undefined=StrictUndefined
)
TEMPLATES.globals["duration_chart"] = duration_chart
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class Visitor:
    """A signed-in request: its session (for the CSRF token) and its key's principal."""

    session: cookies.ConsoleSession
    principal: Principal
    csrf: str


Page = Callable[[Request, Visitor], Awaitable[Response]]


def compact(value: Any) -> Any:
    """JSON without its empty parts (null, [], {}, ""): what an audit row's input says in brief."""
    if isinstance(value, dict):
        kept = {k: compact(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


TEMPLATES.filters["compact"] = compact


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def visitor(request: Request) -> Visitor:
    """The signed-in visitor; ``SessionRefused`` when the cookie is bad or its key was revoked."""
    rt = runtime(request)
    session = cookies.read(rt.box, request.cookies.get(cookies.COOKIE))
    try:
        principal = await anyio.to_thread.run_sync(principal_by_id, rt, session.key_id)
    except Unauthorized as exc:
        raise cookies.SessionRefused(exc.message) from exc
    return Visitor(session=session, principal=principal, csrf=cookies.csrf_token(rt.box, session))


def signed_in(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """A page for signed-in visitors; anyone else goes to the sign-in page."""

    async def endpoint(request: Request) -> Response:
        try:
            who = await visitor(request)
        except cookies.SessionRefused as exc:
            return to_sign_in(str(exc))
        try:
            return await page(request, who)
        except HeraldError as exc:
            return failure(request, who, exc)

    return endpoint


def guarded(action: Page) -> Callable[[Request], Awaitable[Response]]:
    """A form post: signed in, same origin, and carrying the session's CSRF token, or refused unchanged."""

    async def endpoint(request: Request) -> Response:
        try:
            who = await visitor(request)
        except cookies.SessionRefused as exc:
            return to_sign_in(str(exc))
        form = await request.form()
        own = f"{request.url.scheme}://{request.url.netloc}"
        token = form.get("csrf")
        if not cookies.origin_ok(request.headers.get("origin"), own) or not cookies.csrf_ok(
            runtime(request).box, who.session, token if isinstance(token, str) else None
        ):
            return refused(request, who, "The form was refused: its security token is missing or stale. Reload.", 403)
        try:
            return await action(request, who)
        except HeraldError as exc:
            return failure(request, who, exc)

    return endpoint


async def call(request: Request, who: Visitor, tool: str, **arguments: Any) -> dict[str, Any]:
    """Run one operation as the visitor; the result as the doors show it (camelCase JSON)."""
    result = await execute(runtime(request), who.principal, tool, arguments, request_id=new_request_id())
    return result.wire()


def render(request: Request, who: Visitor | None, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(
        request=request, who=who, path=request.url.path, query=request.query_params, **context
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def refused(request: Request, who: Visitor, message: str, status: int) -> HTMLResponse:
    return render(request, who, "refused.html", status=status, message=message, back=_back(request))


def failure(request: Request, who: Visitor, exc: HeraldError) -> HTMLResponse:
    status = 403 if isinstance(exc, Unauthorized) else 404 if exc.code == "NOT_FOUND" else 409
    return refused(request, who, exc.message, status)


def to_sign_in(reason: str | None = None) -> Response:
    response = RedirectResponse("/console/sign-in", status_code=303, headers=SECURITY_HEADERS)
    if reason:
        response.delete_cookie(cookies.COOKIE, path="/console")
    return response


def back_to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)


def _back(request: Request) -> str:
    """Where a refused form returns: the page it was posted from (same origin only)."""
    referer = request.headers.get("referer", "")
    own = f"{request.url.scheme}://{request.url.netloc}"
    return referer.removeprefix(own) if referer.startswith(own + "/console") else "/console/plans"
