"""Read models on SQLite: pull-based catch-up, exactly once.

The view tables (``view_*``) live in the same SQLite file as the events. ``catch_up`` reads
notifications after the tracked position in pages, projects them (``domain.projection``) and
writes the rows and the new position in ONE transaction (``BEGIN IMMEDIATE``), after checking
that the position is still the one the page was read from. A crash before commit leaves both
unchanged; a concurrent catch-up that got there first makes this one re-read. Re-applying a
tracked notification is refused (:class:`AlreadyTracked`).

For an in-memory event store the views live in an in-memory SQLite database.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

from eventsourcing.application import Application

from adapters.fastread import EventReader, NotificationRecord, project_notification
from domain.projection import (
    RETIRED_TABLES,
    SCHEMA_VERSION,
    TABLES,
    TABLES_BY_NAME,
    Op,
    Patch,
    Put,
    Table,
    count_students_categories,
)

PREFIX: Final = "view_"
#: Values per ``IN (...)`` list of ``select_any`` (below every database's parameter limit).
ANY_CHUNK: Final = 500
DEFAULT_PAGE: Final = 500
#: Notifications per page (and transaction) of a full rebuild, which loads in bulk mode.
BULK_PAGE: Final = 5_000
#: A catch-up from position 0 with at least this many notifications pending (a new store
#: view, or one reset by a ``SCHEMA_VERSION`` change) is a full rebuild: it loads in bulk mode.
BULK_THRESHOLD: Final = 20_000
#: The ``meta`` row present while the secondary indexes are dropped for a bulk load.
BULK_MARKER: Final = "bulk_load"
#: At most this many stream -> school entries are kept in memory (then the cache starts over,
#: and lookups go to the ``streams`` table): a rebuild's memory must not grow with the store.
SCHOOL_CACHE_LIMIT: Final = 50_000

Progress = Callable[[int, int], None]
#: ``executemany`` of a DB-API connection or cursor.
ExecuteMany = Callable[[str, list[tuple[Any, ...]]], object]


class AlreadyTracked(Exception):
    """A notification at or before the tracked position was offered again."""


class ViewError(Exception):
    """The view tables cannot be read or written."""


def trim_school_cache(cache: dict[str, str | None]) -> None:
    """Start the stream -> school cache over when it is full (called between pages only: a
    page's new streams are not in the ``streams`` table until the page is written)."""
    if len(cache) >= SCHOOL_CACHE_LIMIT:
        cache.clear()


def _values_of(columns: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A row's values of ``columns``, as a tuple (``KeyError`` if one is missing): one
    ``itemgetter`` call, which returns a tuple for two names or more, the bare value for one."""
    if len(columns) > 1:
        return itemgetter(*columns)
    (column,) = columns
    return lambda row: (row[column],)


class Batch:
    """The row operations of one page, grouped per table for ``executemany``.

    Within a table the operations keep their order (a put, then a patch of that row; a
    delete, then new rows); consecutive operations with the same statement form one run.
    Tables are independent, so the tables may be written in any order. Memory is bounded by
    the page: a batch lives for one transaction.
    """

    def __init__(
        self,
        *,
        upsert: Callable[[str, Sequence[str], Sequence[str]], str],
        table: Callable[[str], str] = lambda name: f"{PREFIX}{name}",
        mark: str = "?",
    ) -> None:
        self._upsert = upsert
        self._table = table
        self._mark = mark
        self._runs: dict[str, list[tuple[str, list[tuple[Any, ...]]]]] = {}
        self._statements: dict[tuple[object, ...], str] = {}
        #: Per table: the upsert statement, its columns and a getter of their values from a
        #: row (the common case, looked up once).
        self._puts: dict[
            str, tuple[str, tuple[str, ...], Callable[[Mapping[str, Any]], tuple[Any, ...]]]
        ] = {}
        self.size = 0

    def add(self, op: Op) -> None:
        if isinstance(op, Put):
            put = self._puts.get(op.table)
            if put is None:
                columns = TABLES_BY_NAME[op.table].columns
                put = self._statement(("put", op.table)), columns, _values_of(columns)
                self._puts[op.table] = put
            statement, columns, values = put
            row = op.row
            try:
                params = values(row)  # every column given: the common case, in C
            except KeyError:
                params = tuple([row.get(c) for c in columns])  # a column left out is NULL
        elif isinstance(op, Patch):
            params = (*op.values.values(), *op.key.values())
            statement = self._statement(("patch", op.table, tuple(op.values), tuple(op.key)))
        else:
            params = tuple(op.key.values())
            statement = self._statement(("delete", op.table, tuple(op.key)))
        runs = self._runs.setdefault(op.table, [])
        if runs and runs[-1][0] is statement:
            runs[-1][1].append(params)
        else:
            runs.append((statement, [params]))
        self.size += 1

    def _statement(self, shape: tuple[Any, ...]) -> str:
        statement = self._statements.get(shape)
        if statement is None:
            statement = self._build(shape)
            self._statements[shape] = statement
        return statement

    def _build(self, shape: tuple[Any, ...]) -> str:
        kind, name = shape[0], shape[1]
        table = self._table(name)
        if kind == "put":
            spec = TABLES_BY_NAME[name]
            return self._upsert(table, spec.columns, spec.key)
        if kind == "patch":
            sets = ", ".join(f"{c} = {self._mark}" for c in shape[2])
            where = " AND ".join(f"{c} = {self._mark}" for c in shape[3])
            return f"UPDATE {table} SET {sets} WHERE {where}"
        where = " AND ".join(f"{c} = {self._mark}" for c in shape[2])
        return f"DELETE FROM {table} WHERE {where}"

    def write(self, executemany: ExecuteMany) -> None:
        """Write every run (inside the caller's transaction) and empty the batch."""
        for runs in self._runs.values():
            for statement, params in runs:
                executemany(statement, params)
        self._runs.clear()
        self.size = 0


#: Rows in force on a date (two placeholders, both the date).
IN_FORCE: Final = "valid_from <= {p} AND (valid_to IS NULL OR valid_to >= {p})"


def where_clause(
    table: str, where: Mapping[str, object], mark: str, needs: Sequence[str] = ()
) -> str:
    """``c1 = ? AND c2 = ?`` for a view table, refusing columns it does not have."""
    spec = TABLES_BY_NAME[table]
    unknown = (set(where) | set(needs)) - set(spec.columns)
    if unknown:
        raise ViewError(f"unknown column {sorted(unknown)[0]} in {table}")
    return " AND ".join(f"{c} = {mark}" for c in where) or "1 = 1"


def range_clause(
    column: str, mark: str, *, after: object | None = None, before: object | None = None
) -> tuple[str, list[object]]:
    """`` AND column > ?`` and `` AND column < ?`` for the bounds given (both exclusive;
    None: unbounded), and their parameters: the since/before limits of the view reads."""
    clause, params = "", []
    if after is not None:
        clause += f" AND {column} > {mark}"
        params.append(after)
    if before is not None:
        clause += f" AND {column} < {mark}"
        params.append(before)
    return clause, params


def _sqlite_upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    marks = ", ".join("?" for _ in columns)
    return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def index_name(table: Table, index: Sequence[str]) -> str:
    """The name of a secondary index of a view table (without a schema)."""
    return f"{PREFIX}{table.name}_{'_'.join(index)}"


def _table_ddl() -> list[str]:
    statements = [
        f"CREATE TABLE IF NOT EXISTS {PREFIX}meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
    ]
    for table in TABLES:
        if table.key == ("position",):
            # The history index is keyed by the store position: make it the table's rowid,
            # so the table is its own key index (one B-tree less to write per event).
            cols = ", ".join(
                "position INTEGER PRIMARY KEY" if c == "position" else c for c in table.columns
            )
            statements.append(f"CREATE TABLE IF NOT EXISTS {PREFIX}{table.name} ({cols})")
            continue
        cols = ", ".join(table.columns)
        key = ", ".join(table.key)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {PREFIX}{table.name} ({cols}, PRIMARY KEY ({key}))"
        )
    return statements


def _index_ddl() -> list[str]:
    return [
        f"CREATE INDEX IF NOT EXISTS {index_name(table, index)} "
        f"ON {PREFIX}{table.name} ({', '.join(index)})"
        for table in TABLES
        for index in table.indexes
    ]


def _ddl() -> list[str]:
    return _table_ddl() + _index_ddl()


class PagedCatchUp(ABC):
    """Catching up page by page, the same for every view store: each page is applied with
    the position it was read after, so a page another process applied first is refused
    (:class:`AlreadyTracked`) and reading goes on from the new position.

    A full rebuild loads in **bulk mode**: in one transaction the tables are emptied, their
    secondary indexes dropped and a marker row (:data:`BULK_MARKER`) written; the pages are
    then applied as in any catch-up (rows and position together, in larger pages), and at the
    end, in one transaction, every index is created and the marker deleted. Whoever finds the
    marker (opening the store, or any catch-up, which runs before every query) creates the
    missing indexes first: a rebuild killed midway leaves whole pages and their position,
    which the next catch-up continues from, and no query runs on a table without its indexes
    (unless it runs while another process is loading).
    """

    app: Application[Any]
    reader: EventReader
    page_size: int
    #: Notifications per page of a full rebuild.
    bulk_page_size: int = BULK_PAGE

    @abstractmethod
    def position(self) -> int:
        """The last notification id applied to the views."""

    @abstractmethod
    def apply(self, notifications: Sequence[NotificationRecord], *, expected_position: int) -> None:
        """Project ``notifications`` and advance the position, atomically."""

    @abstractmethod
    def _start_bulk(self) -> None:
        """In one transaction: empty every view table, drop the secondary indexes, set the
        position to 0 and write the bulk marker."""

    @abstractmethod
    def _finish_bulk(self) -> None:
        """In one transaction: create every missing index and delete the bulk marker."""

    @abstractmethod
    def _bulk_marked(self) -> bool:
        """Whether the bulk marker is present (indexes may be missing)."""

    def pending(self) -> int:
        """How many notifications are stored after the tracked position (at most)."""
        newest = self.app.recorder.max_notification_id() or 0
        return max(0, int(newest) - self.position())

    def catch_up(self, progress: Progress | None = None, *, limit: int | None = None) -> int:
        """Apply every notification after the tracked position; returns how many were applied.

        From position 0 with at least :data:`BULK_THRESHOLD` notifications pending (and no
        ``limit``) this is a full rebuild in bulk mode (:meth:`rebuild`).
        """
        if self._bulk_marked():
            self._finish_bulk()  # a bulk load was interrupted, or runs elsewhere: indexes first
        if limit is None and self.position() == 0 and self.pending() >= BULK_THRESHOLD:
            return self.rebuild(progress)
        return self._pages(progress, limit, self.page_size)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drop every view row and replay the whole store from the first event, in bulk mode
        (secondary indexes created once at the end); returns how many were applied."""
        self._start_bulk()
        try:
            return self._pages(progress, None, self.bulk_page_size)
        finally:
            self._finish_bulk()

    def _pages(self, progress: Progress | None, limit: int | None, page_size: int) -> int:
        applied = 0
        total = self.pending()
        while limit is None or applied < limit:
            start = self.position()
            page = page_size if limit is None else min(page_size, limit - applied)
            notifications = self.reader.page(start, page)
            if not notifications:
                break
            try:
                self.apply(notifications, expected_position=start)
            except AlreadyTracked:
                continue  # another process applied this page first: read on from its position
            applied += len(notifications)
            if progress is not None:
                progress(applied, max(total, applied))
        return applied


class SQLiteViewStore(PagedCatchUp):
    """View tables and their tracked position in one SQLite database."""

    def __init__(
        self, app: Application[Any], path: Path | None, *, page_size: int = DEFAULT_PAGE
    ) -> None:
        self.app = app
        self.page_size = page_size
        try:
            self.db = sqlite3.connect(
                str(path) if path is not None else ":memory:",
                isolation_level=None,
                check_same_thread=False,
                timeout=30,
            )
            self.db.row_factory = sqlite3.Row
            if path is not None:
                self.db.execute("PRAGMA journal_mode=WAL")
            self._school_cache: dict[str, str | None] = {}
            self._ensure_schema()
            self.reader = EventReader(app, self.db, path)
        except sqlite3.DatabaseError as error:
            raise ViewError(f"view tables cannot be opened: {error}") from None

    def close(self) -> None:
        self.db.close()

    # -- schema --------------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                f"CREATE TABLE IF NOT EXISTS {PREFIX}meta "
                "(key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
            )
            row = self.db.execute(
                f"SELECT value FROM {PREFIX}meta WHERE key = 'schema_version'"
            ).fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                # The layout may have changed: drop every view table and build it anew.
                for name in (*(t.name for t in TABLES), *RETIRED_TABLES):
                    self.db.execute(f"DROP TABLE IF EXISTS {PREFIX}{name}")
            for statement in _ddl():  # creates the indexes an interrupted bulk load dropped
                self.db.execute(statement)
            self.db.execute(f"DELETE FROM {PREFIX}meta WHERE key = ?", (BULK_MARKER,))
            if row is None or row[0] != SCHEMA_VERSION:
                self._reset_tables()
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _reset_tables(self) -> None:
        for table in TABLES:
            self.db.execute(f"DELETE FROM {PREFIX}{table.name}")
        self.db.execute(f"DELETE FROM {PREFIX}meta")
        self.db.execute(
            f"INSERT INTO {PREFIX}meta (key, value) VALUES ('schema_version', ?), ('position', 0)",
            (SCHEMA_VERSION,),
        )
        self._school_cache.clear()

    def position(self) -> int:
        row = self.db.execute(f"SELECT value FROM {PREFIX}meta WHERE key = 'position'").fetchone()
        return int(row[0]) if row else 0

    # -- catching up ---------------------------------------------------------------------------

    def apply(self, notifications: Sequence[NotificationRecord], *, expected_position: int) -> None:
        """Project ``notifications`` and advance the position, atomically.

        The page's row operations are collected per table and written with ``executemany``
        (:class:`Batch`), then the position, all in the one transaction.
        """
        self.db.execute("BEGIN IMMEDIATE")
        try:
            position = self.position()
            if position != expected_position or notifications[0].id <= position:
                raise AlreadyTracked(
                    f"view position is {position}; notification {notifications[0].id} refused"
                )
            trim_school_cache(self._school_cache)
            batch = Batch(upsert=_sqlite_upsert)
            last = position
            for notification in notifications:
                if notification.id <= last:
                    raise AlreadyTracked(f"notification {notification.id} is out of order")
                for op in project_notification(self.reader, notification, self._school_of):
                    batch.add(op)
                    if isinstance(op, Put) and op.table == "streams":
                        self._school_cache[str(op.row["stream_id"])] = op.row["school"]
                last = notification.id
            batch.write(self._write_rows)
            self.db.execute(f"UPDATE {PREFIX}meta SET value = ? WHERE key = 'position'", (last,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            self._school_cache.clear()
            raise

    def _start_bulk(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for table in TABLES:
                for index in table.indexes:
                    self.db.execute(f"DROP INDEX IF EXISTS {index_name(table, index)}")
            self._reset_tables()
            self.db.execute(f"INSERT INTO {PREFIX}meta (key, value) VALUES (?, 1)", (BULK_MARKER,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            self._school_cache.clear()
            raise

    def _finish_bulk(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _index_ddl():
                self.db.execute(statement)
            self.db.execute(f"DELETE FROM {PREFIX}meta WHERE key = ?", (BULK_MARKER,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _bulk_marked(self) -> bool:
        row = self.db.execute(
            f"SELECT 1 FROM {PREFIX}meta WHERE key = ?", (BULK_MARKER,)
        ).fetchone()
        return row is not None

    def _write_rows(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """One run of a page's batch (inside the page's transaction)."""
        self.db.executemany(statement, rows)

    def _school_of(self, stream_id: str) -> str | None:
        if stream_id in self._school_cache:
            return self._school_cache[stream_id]
        row = self.db.execute(
            f"SELECT school FROM {PREFIX}streams WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        school = row[0] if row else None
        if row is not None:
            self._school_cache[stream_id] = school
        return school

    # -- reading (domain.ports.ViewReader) -------------------------------------------------------

    def select(self, table: str, where: Mapping[str, object]) -> list[dict[str, Any]]:
        clause = where_clause(table, where, "?")
        rows = self.db.execute(
            f"SELECT * FROM {PREFIX}{table} WHERE {clause}", list(where.values())
        ).fetchall()
        return [dict(row) for row in rows]

    def select_in_force(
        self, table: str, where: Mapping[str, object], *, on: str
    ) -> list[dict[str, Any]]:
        clause = where_clause(table, where, "?", ("valid_from", "valid_to"))
        rows = self.db.execute(
            f"SELECT * FROM {PREFIX}{table} WHERE {clause} AND {IN_FORCE.format(p='?')}",
            [*where.values(), on, on],
        ).fetchall()
        return [dict(row) for row in rows]

    def latest(
        self, table: str, where: Mapping[str, object], column: str, *, before: str | None = None
    ) -> Any:
        bounds, limits = range_clause(column, "?", before=before)
        clause = where_clause(table, where, "?", (column,)) + bounds
        params = [*where.values(), *limits]
        row = self.db.execute(
            f"SELECT MAX({column}) FROM {PREFIX}{table} WHERE {clause} AND {column} IS NOT NULL",
            params,
        ).fetchone()
        return None if row is None else row[0]

    def select_range(
        self,
        table: str,
        where: Mapping[str, object],
        column: str,
        *,
        after: str | None,
        before: str | None,
    ) -> list[dict[str, Any]]:
        bounds, limits = range_clause(column, "?", after=after, before=before)
        clause = where_clause(table, where, "?", (column,)) + bounds
        params = [*where.values(), *limits]
        rows = self.db.execute(
            f"SELECT * FROM {PREFIX}{table} WHERE {clause} AND {column} IS NOT NULL", params
        ).fetchall()
        return [dict(row) for row in rows]

    def select_any(self, table: str, column: str, values: Collection[str]) -> list[dict[str, Any]]:
        where_clause(table, {column: None}, "?")  # refuses a column the table does not have
        found: list[dict[str, Any]] = []
        wanted = list(values)
        for start in range(0, len(wanted), ANY_CHUNK):
            chunk = wanted[start : start + ANY_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            found += (
                dict(row)
                for row in self.db.execute(
                    f"SELECT * FROM {PREFIX}{table} WHERE {column} IN ({marks})", chunk
                )
            )
        return found

    def observation_counts(
        self,
        *,
        school: str,
        since: str | None,
        students: Collection[str],
        before: str | None = None,
    ) -> dict[str, int]:
        bounds, limits = range_clause("recorded_at", "?", after=since, before=before)
        sql = (
            f"SELECT student_id, categories, COUNT(*) FROM {PREFIX}observations "
            f"WHERE school = ?{bounds} GROUP BY student_id, categories"
        )
        params = [school, *limits]
        return count_students_categories(
            ((row[0], row[1], row[2]) for row in self.db.execute(sql, params)), students
        )

    def event_type_counts(
        self, *, school: str, since: str | None, before: str | None = None
    ) -> dict[str, int]:
        bounds, limits = range_clause("recorded_at", "?", after=since, before=before)
        sql = (
            f"SELECT event_type, COUNT(*) FROM {PREFIX}events WHERE school = ?{bounds} "
            "AND event_type NOT LIKE 'AccessLog.%' GROUP BY event_type"
        )
        params = [school, *limits]
        return {row[0]: int(row[1]) for row in self.db.execute(sql, params)}

    def history_rows(self, student_id: str, *, until: str | None = None) -> list[dict[str, Any]]:
        """Every indexed event about a student, in store order (optionally up to an instant)."""
        sql = f"SELECT * FROM {PREFIX}events WHERE student_id = ?"
        params: list[object] = [student_id]
        if until is not None:
            sql += " AND recorded_at <= ?"
            params.append(until)
        sql += " ORDER BY position"
        return [dict(row) for row in self.db.execute(sql, params)]

    def version_at(self, stream_id: str, until: str) -> int | None:
        """The stream's version as recorded at instant ``until`` (None if it did not exist)."""
        row = self.db.execute(
            f"SELECT MAX(version) FROM {PREFIX}events WHERE stream_id = ? AND recorded_at <= ?",
            (stream_id, until),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def counts(self) -> dict[str, int]:
        """Row count of every view table (for ``store info``)."""
        return {
            t.name: int(self.db.execute(f"SELECT COUNT(*) FROM {PREFIX}{t.name}").fetchone()[0])
            for t in TABLES
        }
