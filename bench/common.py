"""Shared pieces of the benchmark harness: rows of the result table, timing, the machine."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from typing import Any, Final

import attrs

#: Library versions printed with every table.
PACKAGES: Final = ("eventsourcing", "orjson", "cryptography", "attrs", "psycopg")

#: The storage backends a row can belong to (``Row.backend``), with their table names.
SQLITE: Final = "sqlite"
POSTGRES: Final = "postgres"
BACKEND_NAMES: Final = {SQLITE: "SQLite", POSTGRES: "PostgreSQL"}
#: The note of every PostgreSQL row of a run without a PostgreSQL server.
NO_POSTGRES: Final = "n/a (no PostgreSQL server)"


#: Row key of the overview measured at every size of the run in alternation (after the rest).
ALTERNATING_KEY: Final = "miljo.overview_alt"


@attrs.frozen
class Row:
    """One line of the result table.

    ``value`` is the absolute figure in ``unit`` (None when not measured; ``note`` says why).
    ``ratio`` compares it with ``basis`` (a row key of the baseline, or a description), on
    the same ``backend`` (``SQLITE``, ``POSTGRES``, or "" for rows that use no database)."""

    key: str  # stable identifier, e.g. "miljo.observe" (the tests look rows up by it)
    section: str  # "baseline", "miljo" or "physical"
    label: str
    size: str  # store size label ("10k") or "" for rows that do not depend on it
    value: float | None
    unit: str
    ratio: float | None = None
    basis: str = ""
    note: str = ""
    backend: str = ""


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(action: Callable[[], object]) -> float:
    """Seconds taken by ``action()`` (time.perf_counter)."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median_seconds(action: Callable[[], object], repeats: int, *, warmup: int = 1) -> float:
    """Median wall time of ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        action()
    return median([timed(action) for _ in range(max(1, repeats))])


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def median_rate(batches: Sequence[tuple[int, float]]) -> float:
    """Median of per-batch rates, from (operations, seconds) pairs."""
    return median([rate(count, seconds) for count, seconds in batches])


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict[str, str]:
    """CPU, cores, OS, Python, SQLite and library versions."""
    info = {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count() or "?"),
        "os": platform.platform(),
        "python": sys.version.split()[0] + (" (-O)" if not __debug__ else ""),
        "sqlite": sqlite3.sqlite_version,
    }
    for package in PACKAGES:
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    try:
        load = os.getloadavg()
        info["load"] = f"{load[0]:.2f} (1-min load average at the start)"
    except OSError:
        pass
    return info


def say(text: str) -> None:
    """Progress for the person running the benchmark (stderr, so stdout stays the table)."""
    print(text, file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """``42 s``, ``12 min``, ``1.5 h``: for estimates."""
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds / 3600:,.1f} h"


class Progress:
    """``done / total`` with the rate and the time left, to stderr, at most every ``every``
    seconds (long steps of the 1M size must show that they move and when they will end)."""

    def __init__(self, what: str, *, every: float = 10.0) -> None:
        self.what = what
        self.every = every
        self.start = time.perf_counter()
        self._last = self.start

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self._last < self.every or done >= total:
            return
        self._last = now
        elapsed = now - self.start
        speed = done / elapsed if elapsed > 0 else 0.0
        left = f"about {duration((total - done) / speed)} left" if speed > 0 else "starting"
        share = 100 * done / total if total else 100.0
        say(f"    {self.what}: {done:,} / {total:,} ({share:.0f} %), {speed:,.0f}/s, {left}")


_ABSENT: Final = object()


@contextmanager
def patched(owner: Any, name: str, value: object) -> Iterator[None]:
    """``owner.name = value`` while the block runs; on exit, also after an error, the
    attribute ``owner`` held itself is put back, or removed if it only inherited one."""
    own = vars(owner).get(name, _ABSENT)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if own is _ABSENT:
            delattr(owner, name)
        else:
            setattr(owner, name, own)
