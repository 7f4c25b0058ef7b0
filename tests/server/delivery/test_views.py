"""The per-worker cache of decrypted target views: reused while the target is unchanged, rebuilt after any
update, credential change or signing-secret rotation, so no stale credential or config is ever sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from server.crypto import SecretBox
from server.db import session_scope
from server.delivery.views import TargetViews
from server.models import Target
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio


async def deliver(d: Doors, target: str) -> None:
    """One plan to ``target``, awaited: its job was delivered with the view the worker holds now."""
    assert (await factories.plan(d, target, awaitDelivery=True))["plan"]["status"] == "succeeded"


def row(d: Doors, target_id: str) -> Target:
    with session_scope(d.rt.engine) as session:
        found = session.exec(select(Target).where(Target.id == target_id)).one()
        session.expunge(found)
        return found


class CountingBox:
    """The runtime's box, counting decryptions."""

    def __init__(self, box: SecretBox) -> None:
        self.box, self.decrypted = box, 0

    def decrypt_json(self, blob: bytes, context: str) -> dict:
        self.decrypted += 1
        return self.box.decrypt_json(blob, context)


async def test_a_view_is_built_once_per_target_version(tmp_path: Path, receiver: Receiver) -> None:
    async with doors(tmp_path) as d:
        created = await d.ok(
            "create_distribution_target", name="w", channel="webhook", config={"url": receiver.url + "/a"}
        )
        target_id = created["target"]["id"]
        views, box = TargetViews(), CountingBox(d.rt.box)
        first = views.get(row(d, target_id), box)  # type: ignore[arg-type]
        again = views.get(row(d, target_id), box)  # type: ignore[arg-type]
        assert again is first and box.decrypted == 1 and len(views) == 1
        assert first[1] == [created["revealedSecrets"]["signingSecret"]]
        await d.ok("update_distribution_target", id=target_id, config={"url": receiver.url + "/b"})
        updated = views.get(row(d, target_id), box)  # type: ignore[arg-type]
        assert box.decrypted == 2 and len(views) == 1  # the older version is replaced, not kept
        assert str(updated[0].config.url) == receiver.url + "/b"


def test_the_least_recently_used_target_is_dropped_first(tmp_path: Path) -> None:
    rt = factories.runtime(tmp_path)
    views = TargetViews(size=2)
    rows = []
    for name in ("a", "b", "c"):
        factories.call(rt, "create_distribution_target", name=name, channel="stub")
    with session_scope(rt.engine) as session:
        rows = list(session.exec(select(Target).order_by(Target.name)).all())
        for target in rows:
            session.expunge(target)
    a, b, c = rows
    views.get(a, rt.box)
    views.get(b, rt.box)
    views.get(a, rt.box)  # b is now the least recently used
    views.get(c, rt.box)
    assert len(views) == 2 and set(views._views) == {a.id, c.id}
    rt.close()


async def test_after_rotation_the_next_delivery_signs_with_the_new_secret_only(
    tmp_path: Path, receiver: Receiver
) -> None:
    async with doors(tmp_path) as d:
        created = await d.ok(
            "create_distribution_target", name="w", channel="webhook", config={"url": receiver.url + "/r"}
        )
        target, old = created["target"]["id"], created["revealedSecrets"]["signingSecret"]
        await deliver(d, target)  # the worker now holds a view with the old secret
        Webhook(old).verify(receiver.at("/r")[-1].body, receiver.at("/r")[-1].headers)
        rotated = await d.ok("rotate_target_signing_secret", id=target, overlapHours=0)
        new = rotated["revealedSecrets"]["signingSecret"]
        await deliver(d, target)
        latest = receiver.at("/r")[-1]
        assert len(latest.headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(latest.body, latest.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(latest.body, latest.headers)


async def test_after_an_update_the_next_delivery_goes_to_the_new_url(tmp_path: Path, receiver: Receiver) -> None:
    async with doors(tmp_path) as d:
        target = await factories.webhook_target(d, receiver.url + "/before")
        await deliver(d, target)
        await d.ok("update_distribution_target", id=target, config={"url": receiver.url + "/after"})
        await deliver(d, target)
        assert (len(receiver.at("/before")), len(receiver.at("/after"))) == (1, 1)
