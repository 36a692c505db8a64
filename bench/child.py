"""Run in a fresh process, so that its time and peak memory are its own.

    python -m bench.child rebuild [STORE] [--repeats N]   # rebuild every view of a store
    python -m bench.child copy SOURCE [TARGET]            # miljo store copy SOURCE -> TARGET

A store named by neither argument is ``MILJO_STORE`` (and, for PostgreSQL, its key folder
``MILJO_KEYS_DIR``): that is how ``bench.measure`` names a PostgreSQL store, so that its
password never appears in a process list. Prints one JSON object on stdout; progress with
the time left goes to stderr.

* ``rebuild``: the events replayed, the seconds of each rebuild, the process's peak
  resident set size (VmHWM) before and after, in KiB, and the rows the views hold after it.
* ``copy``: ``adapters.storeops.copy_store`` (copy, rebuild of the copy's views, verify of its
  chain): events, snapshots, seconds, whether the copy verified, peak RSS in KiB.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Sequence

from adapters.bootstrap import open_store, resolve_store
from adapters.storeops import copy_store
from bench.common import Progress, say, timed


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


def rebuild(store: str | None, repeats: int) -> dict[str, object]:
    with open_store(resolve_store(store)) as miljo:
        before = peak_rss_kib()
        events = 0
        seconds = []
        for _ in range(max(1, repeats)):

            def run() -> None:
                nonlocal events
                events = miljo.rebuild_views(Progress("rebuild"))

            seconds.append(timed(run))
        after = peak_rss_kib()
        counts = getattr(miljo.views, "counts", None)
        rows = sum(counts().values()) if callable(counts) else None
    return {
        "events": events,
        "seconds": seconds,
        "peak_before_kib": before,
        "peak_kib": after,
        "rows": rows,
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
