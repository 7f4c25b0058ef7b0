"""Keyset pagination over time-sortable ids: bounded pages and an opaque cursor (the last id)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import Session, col
from sqlmodel.sql.expression import SelectOfScalar

Row = TypeVar("Row")


def page(
    session: Session, query: SelectOfScalar[Row], id_column: Any, limit: int, cursor: str | None, *, newest_first: bool
) -> tuple[list[Row], str | None]:
    """One page of ``query`` after ``cursor``, and the cursor of the next page (None on the last)."""
    column = col(id_column)
    if cursor:
        query = query.where(column < cursor if newest_first else column > cursor)
    rows = list(session.exec(query.order_by(column.desc() if newest_first else column).limit(limit + 1)).all())
    items = rows[:limit]
    return items, (getattr(items[-1], "id") if len(rows) > limit and items else None)  # noqa: B009
