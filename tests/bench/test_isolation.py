"""The 429 scenario's pairs: which run goes first, the ratio that counts, the pair the table shows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench import isolation


def _run(rate: float) -> dict:
    return {"deliveries_per_second": rate, "complete": True}


def _pause(during: int | None) -> dict:
    return {"recorded": during is not None, "requests_during_pause": during}


def _scripted(monkeypatch: pytest.MonkeyPatch, rates: list[float], pauses: list[int | None]) -> list[str]:
    """Replace both runs by scripted ones, in call order; returns the order the runs were made in."""
    order: list[str] = []
    rate: Iterator[float] = iter(rates)
    pause = iter(pauses)

    def without(*_: Any) -> dict:
        order.append("baseline")
        return _run(next(rate))

    def with_429(*_: Any) -> dict:
        order.append("limited")
        return {**_run(next(rate)), "pause": _pause(next(pause))}

    monkeypatch.setattr(isolation, "_without", without)
    monkeypatch.setattr(isolation, "_with", with_429)
    return order


def _isolation(pairs: int) -> dict:
    return isolation.isolation(None, None, "iso", ["t0", "t1"], 30, 30, 150, pairs)  # type: ignore[arg-type]


def test_pairs_alternate_which_run_goes_first_and_the_median_ratio_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    order = _scripted(monkeypatch, [100, 90, 80, 100, 100, 50], [0, 0, 0])
    iso = _isolation(3)
    assert order == ["baseline", "limited", "limited", "baseline", "baseline", "limited"]
    assert [pair["first"] for pair in iso["pairs"]] == ["baseline", "limited", "baseline"]
    assert iso["ratios"] == [0.9, 0.8, 0.5]
    assert (iso["ratio"], iso["shown_pair"]) == (0.8, 1)
    assert (iso["limited"]["deliveries_per_second"], iso["baseline"]["deliveries_per_second"]) == (80, 100)


def test_a_pause_that_let_a_request_in_is_the_one_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted(monkeypatch, [100, 95, 95, 100, 100, 95], [0, 0, 1])
    iso = _isolation(3)
    assert (iso["ratio"], iso["shown_pair"], iso["pause"]["requests_during_pause"]) == (0.95, 2, 1)


def test_one_incomplete_run_makes_the_shown_runs_incomplete(monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted(monkeypatch, [100, 90, 80, 100, 100, 50], [0, 0, 0])
    runs = iter([True, True, False, True, True, True])
    original = isolation._pair

    def pair(*args: Any) -> dict:
        done = original(*args)
        done["baseline"]["complete"], done["limited"]["complete"] = next(runs), next(runs)
        return done

    monkeypatch.setattr(isolation, "_pair", pair)
    iso = _isolation(3)
    assert (iso["baseline"]["complete"], iso["limited"]["complete"]) == (False, True)
