"""Webhook signing: secret rotation with overlap (both signatures verify) and ed25519 (v1a)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


async def deliver(d: Doors, target: str) -> None:
    plan = await d.ok("create_distribution_plan", content=factories.content(), targetIds=[target], awaitDelivery=True)
    assert plan["plan"]["status"] == "succeeded"


async def test_rotation_signs_with_both_secrets_during_overlap(d: Doors, receiver: Receiver) -> None:
    created = await d.ok("create_distribution_target", name="w", channel="webhook", config={"url": receiver.url + "/r"})
    target, old = created["target"]["id"], created["revealedSecrets"]["signingSecret"]
    rotated = await d.ok("rotate_target_signing_secret", id=target)
    new = rotated["revealedSecrets"]["signingSecret"]
    assert new != old and new.startswith("whsec_")
    assert old not in str(await d.ok("get_distribution_target", id=target))
    await deliver(d, target)
    request = receiver.at("/r")[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(request.body, request.headers)
    await d.ok("rotate_target_signing_secret", id=target, overlapHours=0)
    await deliver(d, target)
    latest = receiver.at("/r")[-1]
    assert len(latest.headers["webhook-signature"].split(" ")) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(latest.body, latest.headers)


async def test_ed25519_v1a_signatures_verify_with_the_public_key(d: Doors, receiver: Receiver) -> None:
    created = await d.ok(
        "create_distribution_target",
        name="a",
        channel="webhook",
        config={"url": receiver.url + "/a", "signatureScheme": "v1a"},
    )
    public = created["revealedSecrets"]["publicKey"]
    assert public.startswith("whpk_")
    await deliver(d, created["target"]["id"])
    request = receiver.at("/a")[0]
    scheme, signature = request.headers["webhook-signature"].split(",", 1)
    assert scheme == "v1a"
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public.removeprefix("whpk_")))
    key.verify(base64.b64decode(signature), signed)  # raises InvalidSignature if wrong


async def test_only_webhook_targets_rotate(d: Doors) -> None:
    stub = (await d.ok("create_distribution_target", name="s", channel="stub"))["target"]["id"]
    error = await d.error("rotate_target_signing_secret", id=stub)
    assert error["code"] == "VALIDATION_ERROR" and "only webhook targets" in error["message"]
