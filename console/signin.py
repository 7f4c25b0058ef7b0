"""Sign in with an API key (checked as the doors check a bearer key) and sign out."""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import Response

from console import session as cookies
from console.web import Visitor, back_to, render, runtime, to_sign_in
from server.errors import Unauthorized
from server.keys.service import authenticate

FIELD_MAX = 200  # longer than any key Herald makes


async def sign_in_page(request: Request) -> Response:
    return render(request, None, "sign_in.html", error=None)


async def sign_in(request: Request) -> Response:
    own = f"{request.url.scheme}://{request.url.netloc}"
    if not cookies.origin_ok(request.headers.get("origin"), own):
        return render(request, None, "sign_in.html", status=403, error="Sign in from this server's own page.")
    form = await request.form()
    key = form.get("key")
    if not isinstance(key, str) or not key.strip() or len(key) > FIELD_MAX:
        return render(request, None, "sign_in.html", status=401, error="Enter an API key.")
    rt = runtime(request)
    try:
        principal = await anyio.to_thread.run_sync(authenticate, rt, f"Bearer {key.strip()}")
    except Unauthorized as exc:
        return render(request, None, "sign_in.html", status=401, error=exc.message)
    value, _ = cookies.issue(rt.box, principal.key_id, rt.settings.console_session_seconds)
    response = back_to("/console/plans")
    response.set_cookie(
        cookies.COOKIE,
        value,
        max_age=rt.settings.console_session_seconds,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def sign_out(request: Request, who: Visitor) -> Response:
    return to_sign_in("signed out")
