"""Who a plan reaches through its addressed targets: recipients by ids and labels, each once, and the
jobs they get (one per addressed target and recipient), with a skip reason where none can be sent.

A target is *addressed* when its channel's ``addressing`` is ``"recipient"``, or ``"either"`` (the
``stub`` channel) and the plan names recipients; a broadcast target gets one job whatever the plan names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from adapters import ChannelName, RecipientView, get_channel
from server.db import one_of
from server.errors import NotFound, ValidationFailed
from server.hints import hint
from server.ids import check_id
from server.models import Recipient
from server.recipients.repository import has_label, is_unsubscribed
from server.targets.repository import check_labels

COLUMNS = (
    col(Recipient.id),
    col(Recipient.external_id),
    col(Recipient.name),
    col(Recipient.addresses),
    col(Recipient.attributes),
    col(Recipient.timezone),
    col(Recipient.labels),
    col(Recipient.unsubscribed),
    col(Recipient.bounced_at),
    col(Recipient.active),
)
# What deciding who gets a job needs; the attributes and labels only a rendered payload reads.
LIGHT = (
    col(Recipient.id),
    col(Recipient.external_id),
    col(Recipient.addresses),
    col(Recipient.unsubscribed),
    col(Recipient.bounced_at),
    col(Recipient.active),
)
_CHUNK = 5_000


@dataclass
class Audience:
    recipients: list[Row] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    named_ids: int = 0

    def __bool__(self) -> bool:
        return bool(self.recipients)


def is_addressed(channel: str, has_recipients: bool) -> bool:
    mode = get_channel(channel).addressing
    return mode == "recipient" or (mode == "either" and has_recipients)


@dataclass(frozen=True)
class Reach:
    """How a target reaches a recipient: the address key it reads (and unsubscriptions and bounces are
    kept under), and whether any address will do (a stub target without ``addressKey``)."""

    key: str
    any_address: bool = False


def reach(channel: str, config: dict[str, Any] | None) -> Reach:
    """A channel's targets use the address named like the channel; a stub target the ``addressKey`` of its
    config (to stand in for another channel), else ``stub`` or any address."""
    if channel == ChannelName.STUB:
        key = (config or {}).get("addressKey")
        return Reach(key) if key else Reach(ChannelName.STUB.value, any_address=True)
    return Reach(channel)


def address_for(how: Reach, addresses: dict[str, Any]) -> str | None:
    """The recipient's address for ``how``."""
    found = addresses.get(how.key)
    if found is None and how.any_address and addresses:
        found = addresses[sorted(addresses)[0]]
    return None if found is None else str(found)


def skip_reason(recipient: Row, how: Reach) -> str | None:
    """Why ``recipient`` gets nothing this way (the same reason text is counted)."""
    if not recipient.active:
        return "recipient inactive"
    if is_unsubscribed(recipient.unsubscribed or [], how.key):
        return f"recipient unsubscribed from {how.key}"
    if how.key in (recipient.bounced_at or {}):
        return f"recipient's {how.key} address bounced"
    if address_for(how, recipient.addresses or {}) is None:
        return f"recipient has no {how.key} address"
    return None


def resolve(session: Session, workspace_id: str, ids: list[str], labels: list[str], limit: int) -> Audience:
    ids = [check_id("recipient", rid, "recipientIds") for rid in dict.fromkeys(ids)]
    labels = check_labels(labels, "recipientLabels")
    found: dict[str, Row] = {}
    for start in range(0, len(ids), _CHUNK):
        query = sa_select(*LIGHT).where(
            col(Recipient.workspace_id) == workspace_id, one_of(session, Recipient.id, ids[start : start + _CHUNK])
        )
        found.update({row.id: row for row in session.execute(query)})
    missing = [rid for rid in ids if rid not in found]
    if missing:
        raise NotFound(
            f"Unknown recipient id(s) in this workspace: {', '.join(missing[:10])}"
            + (f" and {len(missing) - 10} more." if len(missing) > 10 else "."),
            field="recipientIds",
            next_action=hint("list_recipients", "List recipients to find the right ids."),
        )
    rows = [found[rid] for rid in ids]
    if labels:
        query = (
            sa_select(*LIGHT)
            .where(col(Recipient.workspace_id) == workspace_id, or_(*map(has_label, labels)))
            .order_by(col(Recipient.id))
        )
        rows += [row for row in session.execute(query) if row.id not in found]
        if len(rows) == len(ids):
            raise ValidationFailed(
                f"No recipient is on any of the lists {labels}.",
                field="recipientLabels",
                next_action=hint("list_recipients", "List recipients by label to check the lists.", label=labels[0]),
            )
    if len(rows) > limit:
        raise ValidationFailed(
            f"A plan may address at most {limit} recipients (HERALD_MAX_RECIPIENTS_PER_PLAN); "
            f"this one names {len(rows)}.",
            field="recipientIds",
        )
    return Audience(recipients=rows, labels=labels, named_ids=len(ids))


def full(session: Session, ids: list[str]) -> dict[str, Row]:
    """Whole rows (attributes and labels too) of a few recipients: those whose payloads are rendered."""
    found: dict[str, Row] = {}
    for start in range(0, len(ids), _CHUNK):
        query = sa_select(*COLUMNS).where(one_of(session, Recipient.id, ids[start : start + _CHUNK]))
        found.update({row.id: row for row in session.execute(query)})
    return found


def view(recipient: Row, how: Reach, unsubscribe_url: str | None = None) -> RecipientView:
    return RecipientView(
        id=recipient.id,
        address=address_for(how, recipient.addresses or {}) or "",
        external_id=recipient.external_id,
        name=recipient.name,
        timezone=recipient.timezone,
        attributes=dict(recipient.attributes or {}),
        labels=tuple(recipient.labels or ()),
        unsubscribe_url=unsubscribe_url,
    )


def overrides(data_overrides: dict[str, Any], audience: Audience) -> dict[str, dict[str, Any]]:
    """``recipientContent`` keyed by recipient id: each key (an id or an externalId) must name a recipient
    the plan addresses."""
    if not data_overrides:
        return {}
    by_key: dict[str, str] = {}
    for row in audience.recipients:
        by_key[row.id] = row.id
        if row.external_id is not None:
            by_key.setdefault(row.external_id, row.id)
    result: dict[str, dict[str, Any]] = {}
    for key, override in data_overrides.items():
        rid = by_key.get(key)
        if rid is None:
            raise ValidationFailed(
                f"recipientContent key {key!r} is neither the id nor the externalId "
                "of a recipient this plan addresses.",
                field=f"recipientContent.{key}",
                next_action=hint("list_recipients", "Check the recipients' ids and externalIds.", search=key),
            )
        result[rid] = {**override.model_dump(mode="json", exclude_none=True), "_key": key}
    return result
