"""Run in a fresh process: rebuild every view of a store and report time and peak memory.

``python -m bench.child STORE_FILE [--repeats N]`` prints one JSON object: the events
replayed, the seconds of each rebuild, and the process's peak resident set size (VmHWM)
before and after, in KiB.
"""

from __future__ import annotations

import argparse
import json
import resource
from collections.abc import Sequence
from pathlib import Path

from adapters.bootstrap import open_store
from bench.common import timed


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild a store's views; print JSON.")
    parser.add_argument("store", type=Path)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    with open_store(args.store) as miljo:
        before = peak_rss_kib()
        events = 0
        seconds = []
        for _ in range(max(1, args.repeats)):

            def rebuild() -> None:
                nonlocal events
                events = miljo.rebuild_views()

            seconds.append(timed(rebuild))
        after = peak_rss_kib()
    print(
        json.dumps(
            {"events": events, "seconds": seconds, "peak_before_kib": before, "peak_kib": after}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
