"""The per-worker token cache: one fetch for concurrent callers, refreshed before expiry, dropped on refusal."""

from __future__ import annotations

import asyncio

from adapters.io import Token
from adapters.tokens import MemoryTokenCache, token_key


def test_concurrent_callers_share_one_fetch_and_a_token_is_refreshed_a_margin_before_expiry() -> None:
    now = [1000.0]
    cache = MemoryTokenCache(margin_seconds=60, clock=lambda: now[0])
    seen: list[Token | None] = []

    async def fetch(previous: Token | None) -> Token:
        seen.append(previous)
        await asyncio.sleep(0)
        return Token(f"t{len(seen)}", now[0] + 3600, {"refresh": f"r{len(seen)}"})

    async def scenario() -> list[str]:
        first = await asyncio.gather(*(cache.get("k", fetch) for _ in range(5)))
        now[0] += 3600 - 61  # still 61 s left: kept
        kept = await cache.get("k", fetch)
        now[0] += 2  # 59 s left: inside the margin, fetched again with the old token
        renewed = await cache.get("k", fetch)
        return [t.value for t in first] + [kept.value, renewed.value]

    assert asyncio.run(scenario()) == ["t1"] * 6 + ["t2"]
    assert [p.value if p else None for p in seen] == [None, "t1"]


def test_invalidate_drops_only_the_refused_token_and_keeps_it_as_previous() -> None:
    cache = MemoryTokenCache(clock=lambda: 0.0)
    calls: list[Token | None] = []

    async def fetch(previous: Token | None) -> Token:
        calls.append(previous)
        return Token(f"t{len(calls)}", 3600.0)

    async def scenario() -> str:
        old = await cache.get("k", fetch)
        cache.invalidate("k", Token("someone-else", 3600.0))  # not the cached one: ignored
        assert (await cache.get("k", fetch)).value == "t1"
        cache.invalidate("k", old)
        return (await cache.get("k", fetch)).value

    assert asyncio.run(scenario()) == "t2"
    assert calls[1] is not None and calls[1].value == "t1"


def test_tokens_and_keys_name_no_secret() -> None:
    token = Token("secret-access", 1.0, {"refreshJwt": "secret-refresh"})
    assert "secret" not in repr(token)
    key = token_key("bluesky", "https://pds", "me", "app-password")
    prefix, digest = key.split(":")
    assert prefix == "bluesky" and len(digest) == 32 and int(digest, 16) >= 0
