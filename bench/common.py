"""Shared pieces of the benchmark harness: rows of the result table, timing, the machine."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Final

import attrs

#: Library versions printed with every table.
PACKAGES: Final = ("eventsourcing", "orjson", "cryptography", "attrs")


@attrs.frozen
class Row:
    """One line of the result table.

    ``value`` is the absolute figure in ``unit`` (None when not measured; ``note`` says why).
    ``ratio`` compares it with ``basis`` (a row key of the baseline, or a description)."""

    key: str  # stable identifier, e.g. "miljo.observe" (the tests look rows up by it)
    section: str  # "baseline", "miljo" or "physical"
    label: str
    size: str  # store size label ("10k") or "" for rows that do not depend on it
    value: float | None
    unit: str
    ratio: float | None = None
    basis: str = ""
    note: str = ""


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
