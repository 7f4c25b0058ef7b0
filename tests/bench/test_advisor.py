"""The advisor scenario end to end, on SQLite and on PostgreSQL + Redis: 10,000 advisors, each with
their own approved text and image, through an addressed target (stub standing in for WhatsApp), 1 in
50 addresses hard-bouncing, the bounced ones then through the primary's fallback target (an SMS stand-in,
in the same plan), and the plan report's KPIs. Counts and KPIs are asserted exactly; the one time bound
is the scenario's own SLA (5 minutes)."""

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
    report = result["report"]
    print(
        f"advisor ({database}): {COUNT} advisors in {result['overall_seconds']} s overall; "
        f"avg {report['avgDeliveryMs']} ms, p95 {report['p95DeliveryMs']} ms"
    )
    bounced = COUNT // 50
    # Every primary job, plus one fallback job per bounced advisor.
    assert (report["totalTargets"], report["recipients"]) == (COUNT + bounced, COUNT)
    assert (report["deliveredFirstTry"], report["deliveredAfterRetries"]) == (COUNT, 0)
    assert (report["failed"], report["bounced"], report["skipped"], report["pending"]) == (bounced, bounced, 0, 0)
    assert (report["deliveredViaFallback"], report["deliveryRate"], report["firstAttemptSuccessRate"]) == (
        bounced,
        1.0,
        0.98,
    )
    assert report["withinSla"] is True and report["completionSeconds"] <= SLA_SECONDS
    assert report["deliveredWithinSla"] == COUNT
    assert 0 < report["avgDeliveryMs"] <= report["p95DeliveryMs"] <= SLA_SECONDS * 1000
    assert (result["delivered_primary"], result["delivered_backup"]) == (COUNT - bounced, bounced)
    assert result["reached"] == COUNT and result["within_sla"] is True
    assert result["overall_seconds"] <= SLA_SECONDS
