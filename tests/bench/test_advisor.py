"""The advisor scenario end to end, on SQLite and on PostgreSQL + Redis: 10,000 advisors, each with
their own approved text and image, through an addressed target (stub standing in for WhatsApp), 1 in
50 addresses hard-bouncing, the failed ones then through a backup target (a second plan: fallback
targets are another piece of work), and the plan report's KPIs. Counts and KPIs are asserted exactly;
the one time bound is the scenario's own SLA (5 minutes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.advisor import SLA_SECONDS, Caller, advisor
from tests.support import factories
from tests.support.waiting import until

pytestmark = pytest.mark.slow
COUNT = 10_000


def wait(condition: Callable[[], bool], timeout: float) -> None:
    until(condition, timeout=timeout, interval=0.2, message="advisor plan final")


@pytest.mark.parametrize("database", factories.DATABASES)
def test_advisor_distribution_with_backup_and_kpis(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = {}
    if database == "postgresql":
        from tests.support import services

        namespace = services.redis_namespace(f"herald-advisor-{services.RUN_TAG}")
        request.addfinalizer(lambda: services.drop_redis_namespace(namespace))
        settings = {"redis_url": services.REDIS_URL, "redis_namespace": namespace}
    rt = factories.runtime_on(database, request, tmp_path, **settings)
    from tasks.worker import DeliveryWorker

    worker = DeliveryWorker(rt)
    worker.start()
    request.addfinalizer(worker.stop)
    result = advisor(Caller(rt), COUNT, bounce_every=50, wait=wait, timeout=SLA_SECONDS)
    primary, backup = result["primary"], result["backup"]
    print(
        f"advisor ({database}): {COUNT} advisors in {result['overall_seconds']} s overall; "
        f"primary {primary['completionSeconds']} s, avg {primary['avgDeliveryMs']} ms, "
        f"p95 {primary['p95DeliveryMs']} ms"
    )
    bounced = COUNT // 50
    assert (primary["totalTargets"], primary["recipients"]) == (COUNT, COUNT)
    assert (primary["deliveredFirstTry"], primary["deliveredAfterRetries"]) == (COUNT - bounced, 0)
    assert (primary["failed"], primary["bounced"], primary["skipped"], primary["pending"]) == (bounced, bounced, 0, 0)
    assert primary["deliveryRate"] == primary["firstAttemptSuccessRate"] == 0.98
    assert primary["withinSla"] is False  # not every delivery made on the primary: the backup's job
    assert primary["completionSeconds"] <= SLA_SECONDS and primary["deliveredWithinSla"] == COUNT - bounced
    assert 0 < primary["avgDeliveryMs"] <= primary["p95DeliveryMs"] <= SLA_SECONDS * 1000
    assert (backup["totalTargets"], backup["deliveredFirstTry"], backup["deliveryRate"], backup["withinSla"]) == (
        bounced,
        bounced,
        1.0,
        True,
    )
    assert result["reached"] == COUNT and result["within_sla"] is True
    assert result["overall_seconds"] <= SLA_SECONDS
