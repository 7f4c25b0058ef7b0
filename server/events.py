"""Plan progress events: what awaitDelivery waits on instead of polling the database.

Embedded mode delivers them in process; Redis mode over pub/sub, so a worker on another
machine wakes the server that is waiting.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import redis
import redis.asyncio as aioredis


class EventBus(Protocol):
    def publish(self, plan_id: str, event: dict[str, Any]) -> None: ...

    def subscribe(self, plan_id: str) -> Any:
        """An async context manager yielding an ``asyncio.Queue`` of events for the plan."""
        ...

    def close(self) -> None: ...


class InProcessEventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = {}

    def publish(self, plan_id: str, event: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._subscribers.get(plan_id, ()))
        for loop, queue in targets:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    @asynccontextmanager
    async def subscribe(self, plan_id: str) -> AsyncIterator[asyncio.Queue]:
        entry: tuple[asyncio.AbstractEventLoop, asyncio.Queue] = (asyncio.get_running_loop(), asyncio.Queue())
        with self._lock:
            self._subscribers.setdefault(plan_id, []).append(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._subscribers[plan_id].remove(entry)
                if not self._subscribers[plan_id]:
                    del self._subscribers[plan_id]

    def close(self) -> None:
        pass


class RedisEventBus:
    def __init__(self, url: str, namespace: str) -> None:
        self._url = url
        self._namespace = namespace
        self._sync = redis.Redis.from_url(url)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()

    def _channel(self, plan_id: str) -> str:
        return f"{self._namespace}:events:plan:{plan_id}"

    def publish(self, plan_id: str, event: dict[str, Any]) -> None:
        self._sync.publish(self._channel(plan_id), json.dumps(event))

    def _client(self) -> aioredis.Redis:
        """One pooled async client per event loop: a wait costs a SUBSCRIBE, not a new connection."""
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = aioredis.Redis.from_url(self._url)
        return client

    @asynccontextmanager
    async def subscribe(self, plan_id: str) -> AsyncIterator[asyncio.Queue]:
        pubsub = self._client().pubsub()
        await pubsub.subscribe(self._channel(plan_id))
        queue: asyncio.Queue = asyncio.Queue()
        reader = asyncio.create_task(_pump(pubsub, queue))
        try:
            yield queue
        finally:
            reader.cancel()
            await pubsub.aclose()

    def close(self) -> None:
        self._sync.close()


async def _pump(pubsub: aioredis.client.PubSub, queue: asyncio.Queue) -> None:
    async for message in pubsub.listen():
        if message.get("type") == "message":
            queue.put_nowait(json.loads(message["data"]))
