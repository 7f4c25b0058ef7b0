"""A plan's attachments: fetched (URL, through the SSRF guard) or decoded (inline base64) once at
create, size-capped, stored in ``plan_attachments`` and handed to channels as ``Attachment(data=…)``.

Fetching happens before the plan's transaction touches the database (no lock is held while a
remote server answers). Job rows never carry the bytes; a worker reads a plan's attachments once
and keeps the last few plans' in memory (they never change).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlmodel import Session, col, select
from yarl import URL

from adapters import Attachment, ConfigError, DeliveryError
from adapters.http_client.client import default_ssl_context
from adapters.http_client.failures import translated_errors
from adapters.http_client.netguard import parse_networks, split_url
from adapters.http_client.pinning import GuardedResolver, checked_literal, looks_literal
from server.config import Settings
from server.db import insert_rows
from server.errors import ValidationFailed
from server.models import PlanAttachment


@dataclass(frozen=True)
class Resolved:
    filename: str
    content_type: str
    data: bytes
    url: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def resolve(settings: Settings, attachments: list[Any]) -> list[Resolved]:
    """Each ``AttachmentInput`` as bytes, or a VALIDATION_ERROR naming ``content.attachments[i]``."""
    resolved, total = [], 0
    for index, item in enumerate(attachments):
        field = f"content.attachments[{index}]"
        if (item.url is None) == (item.data_base64 is None):
            raise ValidationFailed(f"{field}: give exactly one of url or dataBase64.", field=field)
        if item.data_base64 is not None:
            data = _decoded(item.data_base64, field, settings.attachment_max_bytes)
        else:
            data = _fetch(settings, item.url, field)
        total += len(data)
        if total > settings.attachments_max_total_bytes:
            raise ValidationFailed(
                f"{field}: the attachments add up to more than {settings.attachments_max_total_bytes} bytes "
                "(HERALD_ATTACHMENTS_MAX_TOTAL_BYTES); send fewer or smaller files, or links in the body.",
                field=field,
            )
        resolved.append(Resolved(item.filename, item.content_type, data, item.url))
    return resolved


def _decoded(text: str, field: str, cap: int) -> bytes:
    if len(text) > (cap * 4) // 3 + 8:
        raise ValidationFailed(
            f"{field}.dataBase64: larger than {cap} bytes (HERALD_ATTACHMENT_MAX_BYTES).", field=field
        )
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(
            f"{field}.dataBase64 is not valid base64 (standard alphabet, padded).", field=f"{field}.dataBase64"
        ) from None
    if len(data) > cap:
        raise ValidationFailed(
            f"{field}.dataBase64: larger than {cap} bytes (HERALD_ATTACHMENT_MAX_BYTES).", field=field
        )
    if not data:
        raise ValidationFailed(f"{field}.dataBase64 is empty.", field=f"{field}.dataBase64")
    return data


def _fetch(settings: Settings, url: str, field: str) -> bytes:
    try:
        split_url(url)
    except ConfigError as exc:
        raise ValidationFailed(f"{field}.url: {exc.message}", field=f"{field}.url") from None
    try:
        return asyncio.run(
            _get(url, settings.allowed_network_list, settings.delivery_timeout_seconds, settings.attachment_max_bytes)
        )
    except DeliveryError as exc:
        raise ValidationFailed(
            f"{field}.url could not be fetched: {exc.message}", field=f"{field}.url", code="VALIDATION_ERROR"
        ) from None


class _TooLarge(Exception):
    pass


async def _get(url: str, allowed: list[str], timeout: float, cap: int) -> bytes:
    networks = parse_networks(allowed)
    host = URL(url).raw_host or ""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(networks), ssl=default_ssl_context())
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    ) as session:
        with translated_errors(host):
            if looks_literal(host):
                checked_literal(host, networks)
            async with session.get(URL(url), allow_redirects=False) as response:
                if response.status != 200:
                    raise _status_error(response.status)
                if (response.content_length or 0) > cap:
                    raise _too_large(cap)
                body = b""
                async for chunk in response.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > cap:
                        raise _too_large(cap)
                return body


def _status_error(status: int) -> DeliveryError:
    from adapters import PermanentDeliveryError

    return PermanentDeliveryError(
        f"the server answered HTTP {status} (expected 200, no redirects).", status_code=status
    )


def _too_large(cap: int) -> DeliveryError:
    from adapters import PermanentDeliveryError

    return PermanentDeliveryError(f"it is larger than {cap} bytes (HERALD_ATTACHMENT_MAX_BYTES).")


def store(session: Session, plan_id: str, resolved: list[Resolved]) -> None:
    insert_rows(
        session,
        PlanAttachment,
        [
            {
                "plan_id": plan_id,
                "position": i,
                "filename": r.filename,
                "content_type": r.content_type,
                "size": len(r.data),
                "sha256": r.sha256,
                "source_url": r.url,
                "data": r.data,
            }
            for i, r in enumerate(resolved)
        ],
    )


def as_attachments(resolved: list[Resolved]) -> tuple[Attachment, ...]:
    return tuple(Attachment(filename=r.filename, content_type=r.content_type, data=r.data, url=r.url) for r in resolved)


_CACHE_PLANS = 16
_cache: OrderedDict[str, tuple[Attachment, ...]] = OrderedDict()
_cache_lock = threading.Lock()


def load(session: Session, plan_id: str) -> tuple[Attachment, ...]:
    """A plan's attachments, from this process's cache of the last few plans or one query."""
    with _cache_lock:
        if plan_id in _cache:
            _cache.move_to_end(plan_id)
            return _cache[plan_id]
    rows = session.exec(
        select(PlanAttachment).where(PlanAttachment.plan_id == plan_id).order_by(col(PlanAttachment.position))
    ).all()
    found = tuple(
        Attachment(filename=r.filename, content_type=r.content_type, data=r.data, url=r.source_url) for r in rows
    )
    with _cache_lock:
        _cache[plan_id] = found
        while len(_cache) > _CACHE_PLANS:
            _cache.popitem(last=False)
    return found
