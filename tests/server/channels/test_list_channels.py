"""``list_channels`` on both doors: every registered channel with schemas an agent can build a target from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from adapters import CHANNELS
from server.app import create_app
from server.keys.service import create_key
from tests.support import factories
from tests.support.doors import Doors, doors

pytestmark = pytest.mark.anyio

QUERY = """
query {
  channels {
    __typename
    ... on ChannelList {
      items { name addressing description configSchema credentialsSchema
              limits { maxBodyBytes maxTextChars maxAttachments maxAttachmentBytes } }
      recommendedNextAction { tool graphql arguments }
    }
  }
}"""

LOCAL = "http://127.0.0.1:9"  # a provider's apiBaseUrl on loopback: creating a target sends nothing
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = _KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()

# A config (and credentials) per channel, each built from the listed schema alone.
VALID: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
    "webhook": ({"url": "http://127.0.0.1:9/hook"}, None),
    "http": ({"url": "http://127.0.0.1:9/push", "method": "PUT"}, {"bearerToken": "abc.def"}),
    "stub": ({"failTimes": 1}, None),
    "discord": ({"webhookId": "123456789012345678", "apiBaseUrl": LOCAL}, {"webhookToken": "tok-" + "x" * 60}),
    "telegram": (
        {"chatId": "@heraldnews", "apiBaseUrl": LOCAL},
        {"botToken": "123456:ABCdefGhIJKlmNoPQRstuVWxyz0123456789"},
    ),
    "whatsapp": ({"phoneNumberId": "1234567890", "apiBaseUrl": LOCAL}, {"accessToken": "EAAG" + "x" * 40}),
    "slack": ({"channel": "C0HERALD1", "apiBaseUrl": LOCAL}, {"botToken": "xoxb-1-2-abcdef"}),
    "mastodon": ({"apiBaseUrl": LOCAL, "maxCharacters": 500}, {"accessToken": "a" * 43}),
    "bluesky": ({"apiBaseUrl": LOCAL}, {"identifier": "herald.example.com", "appPassword": "abcd-efgh-ijkl-mnop"}),
    "gdrive": (
        {"folderId": "0AHeraldSharedDrive", "apiBaseUrl": LOCAL, "tokenUri": LOCAL + "/token"},
        {"clientEmail": "herald@project.iam.gserviceaccount.com", "privateKey": PEM},
    ),
    "feed": ({"maxItems": 20, "public": False}, {"token": "a-long-enough-token-1234"}),
    "email": (
        {"host": "127.0.0.1", "port": 2525, "security": "none", "fromAddress": "herald@example.com"},
        {"username": "herald", "password": "s3cret-password"},
    ),
}


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


async def test_every_channel_is_listed_with_its_schemas_and_limits(d: Doors) -> None:
    body = await d.ok("list_channels")
    listed = {item["name"]: item for item in body["items"]}
    assert list(listed) == [name.value for name in CHANNELS]
    feed = listed["feed"]
    assert (feed["addressing"], feed["limits"]) == (
        "broadcast",
        {"maxBodyBytes": None, "maxTextChars": 200_000, "maxAttachments": None, "maxAttachmentBytes": None},
    )
    assert list(feed["configSchema"]["properties"]) == [
        "title",
        "description",
        "link",
        "language",
        "author",
        "maxItems",
        "public",
        "websubHub",
    ]
    assert feed["configSchema"]["properties"]["maxItems"] == {
        "default": 50,
        "description": "Newest entries a feed document lists.",
        "maximum": 500,
        "minimum": 1,
        "type": "integer",
    }
    assert feed["credentialsSchema"]["required"] == ["token"]
    assert listed["webhook"]["configSchema"]["required"] == ["url"]
    assert "allowRedirects" in listed["webhook"]["configSchema"]["properties"]
    assert listed["stub"]["credentialsSchema"] is None
    assert body["recommendedNextAction"]["tool"] == "create_distribution_target"


async def test_a_target_built_from_the_schemas_alone_is_accepted(d: Doors) -> None:
    listed = {item["name"]: item for item in (await d.ok("list_channels"))["items"]}
    assert set(VALID) == set(listed)
    for name, (config, credentials) in VALID.items():
        jsonschema.validate(config, listed[name]["configSchema"])
        if credentials is not None:
            jsonschema.validate(credentials, listed[name]["credentialsSchema"])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**config, "notAField": 1}, listed[name]["configSchema"])
        extra = {"credentials": credentials} if credentials else {}
        created = await d.ok("create_distribution_target", name=name, channel=name, config=config, **extra)
        assert created["target"]["channel"] == name
    hinted = (await d.ok("list_channels"))["recommendedNextAction"]["arguments"]
    assert (await d.ok("create_distribution_target", **hinted))["dryRun"] is True


def test_graphql_lists_the_same_channels(tmp_path: Path) -> None:
    app = create_app(factories.test_settings(tmp_path))
    with TestClient(app) as client:
        key = create_key(app.state.runtime, "gql")
        response = client.post("/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {key.secret}"})
    body = response.json()
    assert "errors" not in body, body
    result = body["data"]["channels"]
    assert result["__typename"] == "ChannelList"
    names = [item["name"] for item in result["items"]]
    assert names == [name.name for name in CHANNELS]
    feed = result["items"][names.index("FEED")]
    assert feed["addressing"] == "broadcast" and feed["limits"]["maxTextChars"] == 200_000
    assert feed["configSchema"]["properties"]["websubHub"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert result["recommendedNextAction"]["graphql"] == "createDistributionTarget"
