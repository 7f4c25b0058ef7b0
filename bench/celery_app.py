"""The Celery peer: one task, one httpx POST per notification.

Workers run `celery -A bench.celery_app worker`; they read the broker URL and key prefix that
bench.peers puts in BENCH_CELERY_BROKER / BENCH_CELERY_PREFIX (bench-only variables).
"""

from __future__ import annotations

import os
import threading

import httpx
from celery import Celery

app = Celery("bench")
_local = threading.local()


def configure(broker_url: str, key_prefix: str) -> None:
    """Redis broker under its own key prefix; no result backend (nobody reads results)."""
    app.conf.update(
        broker_url=broker_url,
        broker_transport_options={"global_keyprefix": key_prefix},
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )


def _client() -> httpx.Client:
    # One keep-alive client per thread, created after the prefork pool forked.
    if not hasattr(_local, "client"):
        _local.client = httpx.Client(timeout=10)
    return _local.client


@app.task(name="bench.post")
def post(url: str, body: str) -> int:
    response = _client().post(url, content=body, headers={"content-type": "application/json"})
    response.raise_for_status()
    return response.status_code


if "BENCH_CELERY_BROKER" in os.environ:
    configure(os.environ["BENCH_CELERY_BROKER"], os.environ.get("BENCH_CELERY_PREFIX", "herald-bench-celery:"))
