"""Run in a fresh process, so that its time and peak memory are its own.

    python -m bench.child rebuild [STORE] [--repeats N]   # rebuild every view of a store
    python -m bench.child copy SOURCE [TARGET]            # miljo store copy SOURCE -> TARGET

A store named by neither argument is ``MILJO_STORE`` (and, for PostgreSQL, its key folder
``MILJO_KEYS_DIR``): that is how ``bench.measure`` names a PostgreSQL store, so that its
password never appears in a process list. Prints one JSON object on stdout; progress with
the time left goes to stderr.

* ``rebuild``: the events replayed, the seconds of each rebuild, the process's peak
  resident set size (VmHWM) before and after, in KiB, and the rows the views hold after it.
  On SQLite also the seconds of each rebuild spent inside the view connection's SQL calls
  (:class:`TimedConnection`): reading the notifications, writing the rows, committing and
  creating the indexes, with no Python projection between them.
* ``copy``: ``adapters.storeops.copy_store`` (copy, rebuild of the copy's views, verify of its
  chain): events, snapshots, seconds, whether the copy verified, peak RSS in KiB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from adapters.bootstrap import open_store, resolve_store
from adapters.storeops import copy_store
from adapters.views import SQLiteViewStore
from bench.common import Progress, patched, say, timed

if TYPE_CHECKING:
    from adapters.postgres import PostgresViewStore


def peak_rss_kib() -> int:
    """Peak resident set size of this process so far (VmHWM; ru_maxrss where no /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class SqlClock:
    """Sums the seconds spent inside database calls (one clock read per call)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def timed(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


class TimedCursor:
    """A cursor of :class:`TimedConnection`: its ``execute`` and fetches are timed."""

    def __init__(self, cursor: sqlite3.Cursor, clock: SqlClock) -> None:
        self._cursor = cursor
        self._clock = clock

    @property
    def row_factory(self) -> Any:
        return self._cursor.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self._cursor.row_factory = factory

    def execute(self, statement: str, params: Sequence[Any] = (), /) -> TimedCursor:
        self._clock.timed(self._cursor.execute, statement, params)
        return self

    def fetchone(self) -> Any:
        return self._clock.timed(self._cursor.fetchone)

    def fetchall(self) -> list[Any]:
        rows: list[Any] = self._clock.timed(self._cursor.fetchall)
        return rows


class TimedConnection:
    """Stands in for a SQLite view store's connection and sums the seconds spent inside its
    SQL calls (``execute``, ``executemany``, a cursor's ``execute`` and fetches): the time a
    rebuild would take if the Python between the calls cost nothing. The wrapper's own cost
    is one clock read per call, a few thousand calls per rebuild (rows are written per
    ``executemany``, not per row)."""

    def __init__(self, db: sqlite3.Connection, clock: SqlClock) -> None:
        self._db = db
        self._clock = clock

    def execute(self, statement: str, params: Sequence[Any] = (), /) -> TimedCursor:
        return TimedCursor(self._clock.timed(self._db.execute, statement, params), self._clock)

    def executemany(self, statement: str, rows: list[tuple[Any, ...]], /) -> TimedCursor:
        cursor = self._clock.timed(self._db.executemany, statement, rows)
        return TimedCursor(cursor, self._clock)

    def cursor(self) -> TimedCursor:
        return TimedCursor(self._db.cursor(), self._clock)

    def close(self) -> None:
        self._db.close()


@contextlib.contextmanager
def time_sql(views: object) -> Iterator[SqlClock | None]:
    """Time a view store's database calls while the block runs (None: a store of another
    kind); everything is put back on exit.

    * SQLite: a :class:`TimedConnection` stands in for the store's connection and its event
      reader's: every SQL call (reading the notifications, writing the rows, committing,
      creating the indexes).
    * PostgreSQL: the store's write transactions (taking a pooled connection, BEGIN, and at
      the end the pipeline's sync and COMMIT, where the client waits for the server), each
      statement and ``executemany`` inside them (psycopg adapting and sending the rows), and
      the library recorder's ``select_notifications`` (its query, and the library building
      its notification objects, a small Python part counted here too).
    """
    clock = SqlClock()
    if isinstance(views, SQLiteViewStore):
        timed_db = TimedConnection(views.db, clock)
        # The store and its reader call only the methods TimedConnection has (tested).
        with contextlib.ExitStack() as stack:
            stack.enter_context(patched(views, "db", timed_db))
            if getattr(views.reader, "_db", None) is not None:
                stack.enter_context(patched(views.reader, "_db", timed_db))
            yield clock
        return
    # Imported only for a PostgreSQL store: psycopg and its pool would otherwise add about
    # 12 MB to a SQLite rebuild's peak RSS, a figure this child reports.
    if type(views).__module__ == "adapters.postgres":
        from adapters.postgres import PostgresViewStore

        if isinstance(views, PostgresViewStore):
            with _time_postgres(views, clock):
                yield clock
            return
    yield None


@contextlib.contextmanager
def _time_postgres(views: PostgresViewStore, clock: SqlClock) -> Iterator[None]:
    from adapters.postgres import _CursorRun

    write = views._write
    recorder = views.app.recorder
    select = recorder.select_notifications
    many, call = _CursorRun.many, _CursorRun.__call__

    @contextlib.contextmanager
    def timed_write() -> Iterator[Any]:
        manager = write()
        run = clock.timed(manager.__enter__)
        try:
            yield run
        except BaseException as error:
            if not clock.timed(manager.__exit__, type(error), error, error.__traceback__):
                raise
        else:
            clock.timed(manager.__exit__, None, None, None)

    def timed_many(run: _CursorRun, statement: str, rows: list[tuple[Any, ...]], /) -> None:
        clock.timed(many, run, statement, rows)

    def timed_call(run: _CursorRun, statement: str, params: Sequence[object], /) -> Any:
        return clock.timed(call, run, statement, params)

    def timed_select(*args: Any, **kwargs: Any) -> Any:
        return clock.timed(select, *args, **kwargs)

    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(views, "_write", timed_write))
        stack.enter_context(patched(recorder, "select_notifications", timed_select))
        stack.enter_context(patched(_CursorRun, "many", timed_many))
        stack.enter_context(patched(_CursorRun, "__call__", timed_call))
        yield


def rebuild(store: str | None, repeats: int) -> dict[str, object]:
    with open_store(resolve_store(store)) as miljo:
        before = peak_rss_kib()
        events = 0
        seconds = []
        sql_seconds: list[float] = []
        with time_sql(miljo.views) as sql:
            for _ in range(max(1, repeats)):

                def run() -> None:
                    nonlocal events
                    events = miljo.rebuild_views(Progress("rebuild"))

                sql_before = sql.seconds if sql is not None else 0.0
                seconds.append(timed(run))
                if sql is not None:
                    sql_seconds.append(sql.seconds - sql_before)
        sql_calls = sql.calls if sql is not None else None
        after = peak_rss_kib()
        counts = getattr(miljo.views, "counts", None)
        rows = sum(counts().values()) if callable(counts) else None
    return {
        "events": events,
        "seconds": seconds,
        "peak_before_kib": before,
        "peak_kib": after,
        "rows": rows,
        "sql_seconds": sql_seconds or None,
        "sql_calls": sql_calls,  # every repeat's: each timed call costs two clock reads
    }


def copy(source: str, target: str | None) -> dict[str, object]:
    report = Progress("copy")

    def progress(done: int, total: int) -> None:
        report(done, total)
        if done >= total:
            say("    copy: events copied; now the snapshots, the copy's views and its verify")

    start = time.perf_counter()
    summary = copy_store(resolve_store(source), resolve_store(target), progress)
    seconds = time.perf_counter() - start
    return {
        "events": summary.events,
        "snapshots": summary.snapshots,
        "seconds": seconds,
        "verified": summary.verify.ok,
        "peak_kib": peak_rss_kib(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild or copy a store; print JSON.")
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild_parser = commands.add_parser("rebuild", help="rebuild every view of a store")
    rebuild_parser.add_argument("store", nargs="?", help="default: MILJO_STORE")
    rebuild_parser.add_argument("--repeats", type=int, default=1)
    copy_parser = commands.add_parser("copy", help="copy a store into a new one")
    copy_parser.add_argument("source")
    copy_parser.add_argument("target", nargs="?", help="default: MILJO_STORE")
    args = parser.parse_args(argv)
    if args.command == "rebuild":
        result = rebuild(args.store, args.repeats)
    else:
        result = copy(args.source, args.target)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
