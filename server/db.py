"""Engines and sessions for SQLite (embedded) and PostgreSQL; URLs accepted as users write them."""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
from psycopg import sql
from sqlalchemy import JSON, ColumnElement, Engine, Table, any_, bindparam, create_engine, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import class_mapper
from sqlmodel import Session, SQLModel

from server.config import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)


def database_url(settings: Settings) -> str:
    url = settings.database_url or f"sqlite:///{(settings.data_dir / 'herald.db').as_posix()}"
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


# 19 digits in a row may be an integer beyond 64 bits, which orjson would read as a float.
_LONG_DIGITS, _LONG_DIGITS_TEXT = re.compile(rb"\d{19}"), re.compile(r"\d{19}")


def json_loads(text: str | bytes | memoryview) -> Any:
    """JSON columns as the database returns them: orjson, several times faster than the standard
    library on the rows the hot paths read. What orjson reads differently or refuses goes to the
    standard library, so every stored value loads exactly as before: long runs of digits (an integer
    beyond 64 bits) and NaN or Infinity (which ``json.dumps`` writes)."""
    if isinstance(text, memoryview):
        text = bytes(text)
    if (_LONG_DIGITS_TEXT if isinstance(text, str) else _LONG_DIGITS).search(text) is None:  # type: ignore[arg-type]
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def make_engine(settings: Settings) -> Engine:
    url = database_url(settings)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, json_deserializer=json_loads)


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, json_deserializer=json_loads)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Manage transactions ourselves so every one starts with BEGIN IMMEDIATE: a deferred
        # transaction that upgrades to a writer fails at once under WAL instead of waiting.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def table_of(model: type[SQLModel]) -> Table:
    """The table a table model (``table=True``) is mapped to."""
    table = class_mapper(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def insert_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert many plain rows into ``model``'s table in the session's transaction: COPY on PostgreSQL
    (a 10,000-job plan in tens of milliseconds), one executemany elsewhere. Every row has the same keys."""
    if not rows:
        return
    table = table_of(model)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    # Only JSON columns need encoding: the rest go to COPY as they are, without a call per value.
    encoded = {name for name in columns if isinstance(table.c[name].type, JSON)}
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([_copy_value(row[name]) if name in encoded else row[name] for name in columns])


def update_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Update many rows of ``model``'s table by ``id``, each to its own values: on PostgreSQL a COPY into
    a temporary table and one ``UPDATE … FROM`` (10,000 rows in one statement), elsewhere one
    executemany. Every row has the same keys, ``id`` among them."""
    if not rows:
        return
    table = table_of(model)
    columns = [name for name in rows[0] if name != "id"]
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        statement = (
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}") for name in columns})
        )
        connection.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])
        return
    staging = sql.Identifier(f"staging_{table.name}_{zlib.crc32(','.join(columns).encode()):08x}")
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    listed = sql.SQL(", ").join(map(sql.Identifier, ["id", *columns]))
    # Column types copied, no constraints; per connection, emptied at every commit.
    cursor.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS SELECT {} FROM {} WITH NO DATA").format(
            staging, listed, sql.Identifier(table.name)
        )
    )
    with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staging, listed)) as copy:
        for row in rows:
            copy.write_row([_copy_value(row[name]) for name in ["id", *columns]])
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = s.{}").format(sql.Identifier(name), sql.Identifier(name)) for name in columns
    )
    cursor.execute(
        sql.SQL("UPDATE {} AS t SET {} FROM {} AS s WHERE t.id = s.id").format(
            sql.Identifier(table.name), assignments, staging
        )
    )
    cursor.execute(sql.SQL("DELETE FROM {}").format(staging))


def _copy_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


_CONFLICTS = ("40P01", "40001")  # PostgreSQL: deadlock detected, serialization failure


def retry_on_conflict(transaction: Callable[[], T], tries: int = 3) -> T:
    """Run ``transaction`` (a whole transaction) again when the database aborted it over a lock
    conflict; anything else, or a conflict on the last try, is raised."""
    for tries_left in range(tries - 1, -1, -1):
        try:
            return transaction()
        except OperationalError as exc:
            if tries_left == 0 or getattr(exc.orig, "sqlstate", None) not in _CONFLICTS:
                raise
            log.info("transaction met a lock conflict; running it again")
    raise AssertionError("unreachable")


def one_of(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL one array parameter (``= ANY``) instead of one per value,
    which SQLAlchemy would otherwise render anew on every call with a batch of ids."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)
