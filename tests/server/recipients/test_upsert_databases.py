"""The bulk upsert on both databases (PostgreSQL: COPY for new rows, a staging table and one
UPDATE … FROM for changed ones): exact rows after create and update, and the bounce an address
change forgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from server.db import session_scope
from server.models import Recipient
from server.runtime import Runtime
from tests.support import factories


@pytest.fixture(params=factories.DATABASES)
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    return factories.runtime_on(request.param, request, tmp_path)


def rows(rt: Runtime) -> list[Recipient]:
    with session_scope(rt.engine) as session:
        return list(session.exec(select(Recipient).order_by(col(Recipient.external_id))).all())


def test_upsert_creates_then_updates_each_row_to_its_own_values(rt: Runtime) -> None:
    people = [
        {"externalId": f"A{n}", "name": f"N{n}", "addresses": {"email": f"a{n}@example.com"}, "labels": ["x"]}
        for n in range(3)
    ]
    created = factories.call(rt, "upsert_recipients", recipients=people)
    assert (created.created, created.updated) == (3, 0)
    with session_scope(rt.engine) as session:
        row = session.exec(select(Recipient).where(Recipient.external_id == "A1")).one()
        row.bounced_at = {"email": "2026-12-01T05:00:00+00:00"}
        session.add(row)
    changed = [
        {**people[0], "name": "Zero", "attributes": {"k": 0}},
        {**people[1], "addresses": {"email": "new1@example.com"}},
        {**people[2], "active": False, "timezone": "Asia/Kolkata"},
    ]
    updated = factories.call(rt, "upsert_recipients", recipients=changed)
    assert (updated.created, updated.updated) == (0, 3)
    assert [r.id for r in updated.recipients] == [r.id for r in created.recipients]
    got = rows(rt)
    assert [(r.name, r.attributes, r.addresses, r.active, r.timezone, r.bounced_at, r.labels) for r in got] == [
        ("Zero", {"k": 0}, {"email": "a0@example.com"}, True, None, {}, ["x"]),
        ("N1", {}, {"email": "new1@example.com"}, True, None, {}, ["x"]),
        ("N2", {}, {"email": "a2@example.com"}, False, "Asia/Kolkata", {}, ["x"]),
    ]
    # The same address keeps its bounce.
    with session_scope(rt.engine) as session:
        row = session.exec(select(Recipient).where(Recipient.external_id == "A2")).one()
        row.bounced_at = {"email": "2026-12-01T05:00:00+00:00"}
        session.add(row)
    factories.call(rt, "upsert_recipients", recipients=[changed[2]])
    assert rows(rt)[2].bounced_at == {"email": "2026-12-01T05:00:00+00:00"}
