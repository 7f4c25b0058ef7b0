"""One-click unsubscribe (RFC 8058) for recipients reached through a label.

The link is ``{HERALD_PUBLIC_URL}/unsubscribe/{token}``; the token is the recipient id, the channel and
an HMAC over workspace, recipient and channel with a key derived from the server secret (any key of
the rotation still verifies), so it cannot be guessed or moved to another recipient. ``GET`` shows a
small confirmation page (mail scanners follow links: a GET never unsubscribes); ``POST`` unsubscribes,
idempotently. A token that does not verify is a 404 and changes nothing.
"""

from __future__ import annotations

import html
import re

import anyio
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from server.activity.recorder import record_event
from server.db import session_scope
from server.models import Recipient
from server.recipients.service import mark
from server.runtime import Runtime

_TOKEN = re.compile(r"^(rcp_[0-9a-z]{26})\.([a-z][a-z0-9_]{0,39})\.([A-Za-z0-9_-]{20,64})$")


def _message(workspace_id: str, recipient_id: str, channel: str) -> str:
    return f"unsubscribe|{workspace_id}|{recipient_id}|{channel}"


def unsubscribe_token(rt: Runtime, workspace_id: str, recipient_id: str, channel: str) -> str:
    return f"{recipient_id}.{channel}.{rt.box.sign(_message(workspace_id, recipient_id, channel))}"


def unsubscribe_url(rt: Runtime, workspace_id: str, recipient_id: str, channel: str) -> str:
    return f"{rt.settings.public_base_url}/unsubscribe/{unsubscribe_token(rt, workspace_id, recipient_id, channel)}"


def _verified(rt: Runtime, token: str) -> tuple[Recipient, str] | None:
    """The recipient and channel a token names, when its signature holds; else None."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    recipient_id, channel, signature = match.groups()
    with session_scope(rt.engine) as session:
        row = session.exec(select(Recipient).where(Recipient.id == recipient_id)).first()
    if row is None or not rt.box.verify(_message(row.workspace_id, recipient_id, channel), signature):
        return None
    return row, channel


def _unsubscribe(rt: Runtime, recipient_id: str, channel: str) -> bool:
    with session_scope(rt.engine) as session:
        row = session.exec(select(Recipient).where(Recipient.id == recipient_id).with_for_update()).first()
        if row is None:
            return False
        if mark(row, channel):
            session.add(row)
            record_event(
                session,
                row.workspace_id,
                "recipient.unsubscribed",
                f"Recipient {row.id} unsubscribed from {channel} through its unsubscribe link.",
                recipient_id=row.id,
                channel=channel,
            )
        return True


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">{content}</body></html>"""


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), content=content), status_code=status)


async def unsubscribe_endpoint(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    token = request.path_params["token"]
    found = await anyio.to_thread.run_sync(_verified, rt, token)
    if found is None:
        return _page("Not found", "<p>This unsubscribe link is not valid.</p>", 404)
    row, channel = found
    if request.method == "GET":
        return _page(
            "Unsubscribe",
            f"<p>Stop receiving messages over {html.escape(channel)}?</p>"
            f'<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">Unsubscribe</button></form>',
        )
    await anyio.to_thread.run_sync(_unsubscribe, rt, row.id, channel)
    return _page("Unsubscribed", f"<p>You are unsubscribed from {html.escape(channel)}.</p>")
