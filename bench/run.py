"""``make bench`` / ``make bench-quick``: the whole benchmark in one run.

    python -m bench.run                   # sizes 10k, 100k and 1M (stores cached)
    python -m bench.run --quick           # the 10k size with fewer repetitions (smoke check)
    python -m bench.run --sizes 10k,100k  # pick sizes

Measures (1) the bare library baseline, (2) miljo through its embedding API on generated
stores, each on SQLite and on PostgreSQL, (3) physical limits; prints one Markdown table
(stdout) and appends it, dated, with the machine and library versions, to ``--output``
(default docs/benchmarks.md). Progress goes to stderr. See docs/benchmarks.md for what every
row means.

PostgreSQL: ``--postgres URL``, else ``MILJO_BENCH_POSTGRES_URL``, else
``MILJO_TEST_POSTGRES_URL`` (``make bench`` starts a private cluster when none is set and the
server is installed). Without one, the PostgreSQL rows say "n/a (no PostgreSQL server)".
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from adapters.bootstrap import StoreError, StoreLocation
from bench import measure, physical, raw
from bench.common import NO_POSTGRES, POSTGRES, SQLITE, Row, machine, say
from bench.generate import (
    PROFILES,
    ROOT,
    Manifest,
    cached_store,
    code_version,
    copy_store,
    load_manifest,
    profile_for,
    store_files,
)
from bench.pg import Server, connect_server, server_url
from bench.report import render, targets, with_ratios

DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"
DEFAULT_SIZES = "10k,100k,1M"
HEADER = "# Benchmarks\n\nResults of `make bench` and `make bench-quick`, newest last.\n\n"


def parse_sizes(text: str) -> list[str]:
    sizes = []
    for part in text.split(","):
        label = part.strip()
        if label:
            sizes.append(profile_for(label).label)
    if not sizes:
        raise ValueError("give at least one size")
    return sorted(set(sizes), key=lambda s: PROFILES[s].events)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 10k size, fewer repetitions")
    parser.add_argument("--sizes", help=f"comma-separated, from {', '.join(PROFILES)}")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(".bench-cache"),
        help="where generated stores are kept (default ./.bench-cache)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="PostgreSQL server to measure on too (postgresql://USER[:PASSWORD]@HOST[:PORT]/DB);"
        " default MILJO_BENCH_POSTGRES_URL, else MILJO_TEST_POSTGRES_URL; every schema the run"
        " makes there is dropped at its end",
    )
    parser.add_argument(
        "--no-postgres", action="store_true", help="SQLite only (the PostgreSQL rows say n/a)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Markdown file the dated table is appended to",
    )
    return parser.parse_args(argv)


def append(output: Path, text: str) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    existing = output.read_text(encoding="utf-8") if output.exists() else HEADER
    if not existing.endswith("\n\n"):
        existing = existing.rstrip("\n") + "\n\n"
    output.write_text(existing + text, encoding="utf-8")


def postgres_server(args: argparse.Namespace) -> tuple[Server | None, str]:
    """The server, and the line that describes it (or says why there is none)."""
    if args.no_postgres:
        return None, f"{NO_POSTGRES}: --no-postgres"
    server, why = connect_server(server_url(args.postgres))
    if server is None:
        return None, f"{NO_POSTGRES}: {why}"
    return server, server.describe()


def failure(error: Exception) -> str:
    """One line for the table: what failed (the traceback went to stderr)."""
    if isinstance(error, subprocess.CalledProcessError):
        step = error.cmd[3] if len(error.cmd) > 3 else "child"
        return f"the {step} process exited with {error.returncode} (its traceback is on stderr)"
    return " ".join(f"{type(error).__name__}: {error}".split())[:200]


def measure_postgres(
    server: Server,
    work: Path,
    source_dir: Path,
    manifest: Manifest,
    config: measure.MiljoConfig,
    writer: raw.RawWriter,
) -> tuple[list[Row], StoreLocation]:
    """Copy a generated store into a fresh schema (``store copy``) and measure it there.
    The schema stays (the alternating overview reads it again); the run drops every schema
    it made at its end, and its keys are in ``work``."""
    size = manifest.label
    target = server.new_schema(f"miljo_{size.lower()}")
    keys_dir = work / f"{size}-postgres.keys"
    location = StoreLocation(db_path=None, keys_dir=keys_dir, postgres=target)
    source, _ = store_files(source_dir)
    say(f"  {size} (PostgreSQL): store copy of {manifest.events:,} events into a new schema")
    copied = measure.copy_in_child(source, location)
    rows = measure.measure_store(location, manifest, config, writer.batch, POSTGRES, copied)
    return rows, location


def stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C: the scratch folder and the schemas are removed."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        sizes = parse_sizes(args.sizes or ("10k" if args.quick else DEFAULT_SIZES))
    except ValueError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    clock_start = time.perf_counter()
    cache_dir: Path = args.cache_dir.absolute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    base_config = raw.QUICK if args.quick else raw.FULL
    phys_config = physical.QUICK if args.quick else physical.FULL
    miljo_config = measure.QUICK if args.quick else measure.FULL
    info = machine()
    version = code_version()
    server, server_line = postgres_server(args)
    say(f"bench: PostgreSQL: {server_line}")
    work = Path(tempfile.mkdtemp(prefix="work-", dir=cache_dir))
    rows: list[Row] = []
    try:
        say("bench: stores")
        manifests: dict[str, Manifest] = {}
        built: dict[str, bool] = {}
        folders: dict[str, Path] = {}
        for size in sizes:
            folder, now = cached_store(cache_dir, profile_for(size), args.seed)
            folders[size], built[size] = folder, now
            manifests[size] = load_manifest(folder)
        say("bench: (3) physical limits")
        rows += physical.run_physical(work / "physical", phys_config)
        shutil.rmtree(work / "physical", ignore_errors=True)
        say("bench: (1) library baseline")
        lengths = [m.long_events for m in manifests.values() if m.long_events > 0]
        rows += raw.run_baseline(
            raw.sqlite_env(work / "baseline.sqlite"), base_config, lengths, SQLITE
        )
        # the library's own command pattern: each row's store in its own file or schema
        rows += raw.run_library_commands(
            lambda what: raw.sqlite_env(work / f"library-{what}.sqlite"), base_config, SQLITE
        )
        if server is not None:
            pg_env = raw.postgres_env(server.new_schema("baseline"))
            rows += raw.run_baseline(pg_env, base_config, lengths, POSTGRES)
            rows += raw.run_library_commands(
                lambda what: raw.postgres_env(server.new_schema(f"library_{what}")),
                base_config,
                POSTGRES,
            )
        else:
            rows += raw.baseline_rows(
                POSTGRES, raw.stream_lengths(lengths), None, {"": NO_POSTGRES}
            )
            rows += raw.library_command_rows(POSTGRES, None, {"": NO_POSTGRES})
        say("bench: (2) miljo through its embedding API")
        writer = raw.RawWriter(raw.sqlite_env(work / "interleaved.sqlite"))
        pg_writer = (
            raw.RawWriter(raw.postgres_env(server.new_schema("interleaved")))
            if server is not None
            else None
        )
        # The measured copies of each backend, kept for the alternating overview.
        measured: dict[str, list[tuple[StoreLocation, Manifest]]] = {SQLITE: [], POSTGRES: []}
        try:
            for size in sizes:
                copy = work / size
                copy_store(folders[size], copy)
                location = StoreLocation(*store_files(copy))
                rows += measure.measure_store(
                    location, manifests[size], miljo_config, writer.batch, SQLITE
                )
                measured[SQLITE].append((location, manifests[size]))
                if server is not None and pg_writer is not None:
                    try:
                        pg_rows, pg_location = measure_postgres(
                            server, work, folders[size], manifests[size], miljo_config, pg_writer
                        )
                        rows += pg_rows
                        measured[POSTGRES].append((pg_location, manifests[size]))
                    except (subprocess.CalledProcessError, StoreError, psycopg.Error) as error:
                        # report it in the table, keep the other sizes (a 1M run is long)
                        say(f"bench: {size} on PostgreSQL failed:\n{traceback.format_exc()}")
                        failed = f"failed: {failure(error)}"
                        rows += measure.miljo_rows(manifests[size], POSTGRES, None, {"": failed})
                else:
                    rows += measure.miljo_rows(manifests[size], POSTGRES, None, {"": NO_POSTGRES})
            for backend, stores in measured.items():
                if len(stores) > 1:
                    say(f"bench: the overview at every size in alternation ({backend})")
                    rows += measure.alternating_overviews(
                        stores, miljo_config.overview_repeats, backend
                    )
            # Last: the protections' time adds commands to the stores (docs/adr/0018).
            batches = {SQLITE: writer.batch, POSTGRES: pg_writer.batch if pg_writer else None}
            for backend, stores in measured.items():
                batch = batches[backend]
                if stores and batch is not None:
                    say(f"bench: the protections' time in commands ({backend})")
                    for location, manifest in stores:
                        rows += measure.measure_protection(
                            location, manifest, miljo_config, batch, backend
                        )
        finally:
            writer.close()
            if pg_writer is not None:
                pg_writer.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if server is not None:
            server.drop_all()
    order = {"baseline": 0, "miljo": 1, "physical": 2}
    rows.sort(
        key=lambda r: (
            order[r.section],
            r.backend != SQLITE,
            sizes.index(r.size) if r.size else -1,
        )
    )
    rows = with_ratios(rows, sizes)
    found = targets(rows, sizes, manifests)
    title = ("quick" if args.quick else "full") + f" ({', '.join(sizes)})"
    command = "python -m bench.run" + (" --quick" if args.quick else "")
    if args.sizes:
        command += f" --sizes {','.join(sizes)}"
    text = render(
        title=title,
        started=started,
        command=command,
        info=info,
        seed=args.seed,
        version=version,
        postgres=server_line,
        rows=rows,
        manifests=manifests,
        built=built,
        found=found,
        seconds=time.perf_counter() - clock_start,
    )
    print(text)
    append(args.output, text)
    say(f"bench: appended to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
