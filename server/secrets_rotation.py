"""`herald secrets rotate`: re-encrypt every stored secret under the newest key in HERALD_SECRET_KEYS."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from sqlmodel import col, select

from server.db import session_scope
from server.models import IdempotencyRecord, Target
from server.runtime import Runtime

BATCH = 200


def progress_bar(out: TextIO = sys.stderr, width: int = 30) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        filled = width * done // total if total else width
        out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            out.write("\n")
        out.flush()

    return show


def rotate_all(rt: Runtime, report: Callable[[int, int], None] | None = None) -> int:
    """Re-encrypt target credentials and stored idempotent responses; returns how many were rewritten."""
    with session_scope(rt.engine) as session:
        targets = list(session.exec(select(Target.id).where(col(Target.credentials_blob).is_not(None))).all())
        stored = select(IdempotencyRecord.id).where(col(IdempotencyRecord.response_blob).is_not(None))
        records = [record_id for record_id in session.exec(stored).all() if record_id is not None]
    total, done = len(targets) + len(records), 0
    for start in range(0, len(targets), BATCH):
        done += _rotate_targets(rt, targets[start : start + BATCH])
        report and report(done, total)
    for start in range(0, len(records), BATCH):
        done += _rotate_records(rt, records[start : start + BATCH])
        report and report(done, total)
    if report and total == 0:
        report(0, 0)
    return done


def _rotate_targets(rt: Runtime, ids: list[str]) -> int:
    with session_scope(rt.engine) as session:
        for target in session.exec(select(Target).where(col(Target.id).in_(ids)).with_for_update()).all():
            bound = f"target:{target.id}"
            target.credentials_blob = rt.box.encrypt(rt.box.decrypt(target.credentials_blob, bound), bound)  # type: ignore[arg-type]
            session.add(target)
    return len(ids)


def _rotate_records(rt: Runtime, ids: list[int]) -> int:
    with session_scope(rt.engine) as session:
        for record in session.exec(
            select(IdempotencyRecord).where(col(IdempotencyRecord.id).in_(ids)).with_for_update()
        ).all():
            bound = f"idempotency:{record.workspace_id}:{record.key}"
            record.response_blob = rt.box.encrypt(rt.box.decrypt(record.response_blob, bound), bound)  # type: ignore[arg-type]
            session.add(record)
    return len(ids)
