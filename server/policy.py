"""Content policy as data, on a plan and on a target; the stricter rule wins when both set one."""

from __future__ import annotations

import functools
import json
from typing import Any, Literal

from pydantic import Field

from adapters import ChannelName, Policy
from server.wire import WireModel


class PolicyInput(WireModel):
    excerpt_only: bool = Field(False, description="Send the excerpt instead of the full body.")
    max_length: int | None = Field(None, ge=1, le=200_000, description="Truncate the body to this many characters.")
    truncate: Literal["ellipsis", "word", "hard"] = Field(
        "ellipsis", description="How to cut at maxLength: end with '…', also keep whole words, or cut hard."
    )
    allowed_channels: list[ChannelName] | None = Field(
        None, max_length=20, description="Only these channels may receive the content; other targets are skipped."
    )
    attribution: str | None = Field(None, max_length=300, description="Required credit line, appended when absent.")


def effective_policy(plan_policy: dict[str, Any] | None, target_policy: dict[str, Any] | None) -> Policy:
    """The policy one delivery follows: the stricter of plan and target (the target's truncate wins)."""
    if not plan_policy and not target_policy:
        return _NO_POLICY  # the common case, on every claim: no validation at all
    return _effective(json.dumps(plan_policy or {}, sort_keys=True), json.dumps(target_policy or {}, sort_keys=True))


@functools.lru_cache(maxsize=1024)
def _effective(plan_json: str, target_json: str) -> Policy:
    plan_policy, target_policy = json.loads(plan_json), json.loads(target_json)
    plan = PolicyInput.model_validate(plan_policy or {})
    target = PolicyInput.model_validate(target_policy or {})
    lengths = [n for n in (plan.max_length, target.max_length) if n is not None]
    channel_sets = [set(c) for c in (plan.allowed_channels, target.allowed_channels) if c is not None]
    allowed = tuple(sorted(set.intersection(*channel_sets))) if channel_sets else None
    return Policy(
        excerpt_only=plan.excerpt_only or target.excerpt_only,
        max_length=min(lengths) if lengths else None,
        truncate=target.truncate if target_policy and "truncate" in target_policy else plan.truncate,
        allowed_channels=allowed,
        attribution=target.attribution or plan.attribution,
    )


_NO_POLICY = _effective("{}", "{}")


def channel_refusal(policy: Policy, channel: str) -> str | None:
    if policy.allowed_channels is not None and channel not in policy.allowed_channels:
        allowed = ", ".join(policy.allowed_channels) or "none"
        return f"policy: the {channel} channel is not allowed (allowed: {allowed})"
    return None
