"""Per-target rate limits and concurrency caps, enforced across every worker.

Redis mode keeps the state in Redis (one Lua script: atomic check-and-take); the embedded
worker keeps it in process. A denied job is told how long to wait and spends no attempt.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import redis


@dataclass(frozen=True)
class Limits:
    requests: int | None = None
    per_seconds: float | None = None
    max_concurrency: int | None = None

    @property
    def any(self) -> bool:
        return bool(self.requests) or bool(self.max_concurrency)


class Limiter(Protocol):
    def acquire(self, target_id: str, limits: Limits, lease_seconds: float) -> tuple[str | None, float]:
        """(token, 0) when granted; (None, seconds to wait) when held back."""
        ...

    def release(self, target_id: str, token: str) -> None: ...

    def flag_pause(self, target_id: str, seconds: float) -> None:
        """Tell every worker at once that the target answered 429, before the pause is even recorded."""
        ...

    def clear_pause(self, target_id: str) -> None:
        """An operator resumed the target: the flag goes with the recorded pause."""
        ...

    def flagged(self, target_ids: set[str]) -> dict[str, float]:
        """Those of ``target_ids`` flagged as paused right now, with the epoch second the flag ends."""
        ...

    def note_pause(self, target_id: str, until: float) -> None:
        """In memory only, no I/O: this process saw the target answer 429 (``flag_pause`` tells the others)."""
        ...

    def noted(self, target_id: str) -> float | None:
        """In memory only, no I/O: the end of the target's flag as this process last saw it (its own 429s and
        ``flagged`` reads), or None; cheap enough to ask right before each request leaves."""
        ...


class LocalLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}
        self._running: dict[str, dict[str, float]] = {}
        self._paused: dict[str, float] = {}

    def acquire(self, target_id: str, limits: Limits, lease_seconds: float) -> tuple[str | None, float]:
        now = time.monotonic()
        with self._lock:
            running = {t: exp for t, exp in self._running.get(target_id, {}).items() if exp > now}
            self._running[target_id] = running
            if limits.max_concurrency and len(running) >= limits.max_concurrency:
                return None, 0.0
            sent = self._sent.setdefault(target_id, deque())
            if limits.requests and limits.per_seconds:
                while sent and sent[0] <= now - limits.per_seconds:
                    sent.popleft()
                if len(sent) >= limits.requests:
                    return None, sent[0] + limits.per_seconds - now
                sent.append(now)
            token = uuid.uuid4().hex
            running[token] = now + lease_seconds
            return token, 0.0

    def release(self, target_id: str, token: str) -> None:
        with self._lock:
            self._running.get(target_id, {}).pop(token, None)

    def flag_pause(self, target_id: str, seconds: float) -> None:
        self.note_pause(target_id, time.time() + seconds)  # one process: its memory is the flag

    def clear_pause(self, target_id: str) -> None:
        with self._lock:
            self._paused.pop(target_id, None)

    def flagged(self, target_ids: set[str]) -> dict[str, float]:
        now = time.time()
        with self._lock:
            return {t: until for t in target_ids if (until := self._paused.get(t, 0.0)) > now}

    def note_pause(self, target_id: str, until: float) -> None:
        with self._lock:
            self._paused[target_id] = max(self._paused.get(target_id, 0.0), until)

    def noted(self, target_id: str) -> float | None:
        return self.flagged({target_id}).get(target_id)


# KEYS: sent zset, running zset. ARGV: now, window, limit, max_concurrency, token, lease.
_ACQUIRE = """
local now, window, limit, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if cap > 0 and redis.call('ZCARD', KEYS[2]) >= cap then return {0, '0'} end
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  if redis.call('ZCARD', KEYS[1]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, tostring(tonumber(oldest[2]) + window - now)}
  end
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[5])
redis.call('PEXPIRE', KEYS[2], math.ceil(tonumber(ARGV[6]) * 1000) + 1000)
return {1, '0'}
"""


# Pauses a process remembers before it drops the ones that have ended.
NOTED_KEPT = 1024


class RedisLimiter:
    def __init__(self, url: str, namespace: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._namespace = namespace
        self._acquire = self._client.register_script(_ACQUIRE)
        self._lock = threading.Lock()
        self._noted: dict[str, float] = {}  # this process's view of the flags, refreshed by every ``flagged``

    def _keys(self, target_id: str) -> list[str]:
        return [f"{self._namespace}:limit:{target_id}:sent", f"{self._namespace}:limit:{target_id}:running"]

    def acquire(self, target_id: str, limits: Limits, lease_seconds: float) -> tuple[str | None, float]:
        token = uuid.uuid4().hex
        now = self._client.time()
        args = [
            now[0] + now[1] / 1e6,
            limits.per_seconds or 0,
            limits.requests or 0,
            limits.max_concurrency or 0,
            token,
            lease_seconds,
        ]
        granted, wait = self._acquire(keys=self._keys(target_id), args=args)
        return (token, 0.0) if granted else (None, float(wait))

    def release(self, target_id: str, token: str) -> None:
        self._client.zrem(self._keys(target_id)[1], token)

    def _pause_key(self, target_id: str) -> str:
        return f"{self._namespace}:paused:{target_id}"

    def flag_pause(self, target_id: str, seconds: float) -> None:
        until = time.time() + seconds
        self._client.set(self._pause_key(target_id), repr(until), px=max(int(seconds * 1000), 1))
        self.note_pause(target_id, until)

    def clear_pause(self, target_id: str) -> None:
        self._client.delete(self._pause_key(target_id))
        with self._lock:
            self._noted.pop(target_id, None)

    def flagged(self, target_ids: set[str]) -> dict[str, float]:
        ordered = sorted(target_ids)
        values = self._client.mget([self._pause_key(t) for t in ordered]) if ordered else []
        now = time.time()
        found = {t: until for t, value in zip(ordered, values, strict=True) if value and (until := float(value)) > now}
        with self._lock:  # what Redis says wins: a resume in another process lifts the flag here too
            for target_id in ordered:
                if target_id in found:
                    self._noted[target_id] = found[target_id]
                else:
                    self._noted.pop(target_id, None)
        return found

    def note_pause(self, target_id: str, until: float) -> None:
        with self._lock:
            self._noted[target_id] = max(self._noted.get(target_id, 0.0), until)
            if len(self._noted) > NOTED_KEPT:  # flags of targets no batch reads again: forget the ended ones
                now = time.time()
                self._noted = {t: end for t, end in self._noted.items() if end > now}

    def noted(self, target_id: str) -> float | None:
        with self._lock:
            until = self._noted.get(target_id)
        return until if until is not None and until > time.time() else None
