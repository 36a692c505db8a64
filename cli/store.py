"""``miljo store``: create a store and its keys; describe a store (no personal data); rebuild
its read models; back up, restore and copy a store; keep its read models following."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import attrs
import click

from adapters.bootstrap import init_store, resolve_store
from adapters.keys import ALL_KEYS
from adapters.storeops import backup_sqlite, copy_store, follow_views, restore_sqlite
from cli import exit_codes, render
from cli.params import json_option
from cli.wiring import CliContext, pass_cli
from domain.policy import AccessRequest, Operation, Relation, decide, denied


@click.group()
def store() -> None:
    """The store: one SQLite file (or PostgreSQL schema), with its keys in a folder beside it.

    Store commands are for the administrator (policy row admin_store); 'store info', which
    shows no personal data, also for the auditor (verify_store). Any other role: exit 6.

    \b
    Example:
      miljo --as admin:p-admin --store /srv/miljo/gjesdal.sqlite store init
      export MILJO_ACTOR=admin:p-admin MILJO_STORE=/srv/miljo/gjesdal.sqlite
      miljo store info --json
      miljo store rebuild
      miljo store backup /backup/gjesdal-2024-09-20.sqlite
    """


def require(cli: CliContext, operation: Operation) -> None:
    """Check the acting person against ``operation``'s row of the access policy (exit code
    6), before a store, a key or any other file is opened or written. Store commands concern
    no school and no student: only the role decides (``admin_store``: admin;
    ``verify_store``: admin and auditor)."""
    request = AccessRequest(
        actor=cli.actor,
        operation=operation,
        student_id=None,
        relation=Relation.NONE,
        reason=None,
        restricted=False,
    )
    if not decide(request).allowed:
        raise denied(request)


@store.command("init")
@json_option
@pass_cli
def init(cli: CliContext, as_json: bool) -> None:
    """Create the store and its key files. Refuses to overwrite an existing store.

    Back up the keys folder (e.g. miljo.keys/) apart from the store: without the
    index key, student numbers cannot be resolved.

    \b
    Example:
      MILJO_HOME=~/miljo miljo --as admin:p-admin store init
    """
    require(cli, Operation.ADMIN_STORE)
    location = cli.location
    created = init_store(location)
    if as_json:
        document = {
            "action": "store init",
            "id": None,
            "path": location.describe(),
            "keys": [str(path) for path in created],
        }
        render.emit_json(render.STORE_INIT.build(document))
        return
    click.echo(f"Created store {location.describe()}")
    for path in created:
        click.echo(f"Created key file {path}")


@store.command("info")
@json_option
@pass_cli
def info(cli: CliContext, as_json: bool) -> None:
    """Describe the store: path, size, number of events, whether its keys are present,
    and how far the read models (overview, history) have got.

    The read models catch up by themselves when read; "behind" only means that
    events were stored since they were last read.

    \b
    Example:
      miljo store info --json
    """
    require(cli, Operation.VERIFY_STORE)
    location = cli.location
    miljo = cli.open_metadata()
    events = miljo.event_count()
    view_position = miljo.views.position()
    size = 0 if location.db_path is None else location.db_path.stat().st_size
    keys_present = location.keys_dir is not None and all(
        (location.keys_dir / name).is_file() for name in ALL_KEYS
    )
    document = {
        "path": location.describe(),
        "size_bytes": size,
        "event_count": events,
        "keys_dir": None if location.keys_dir is None else str(location.keys_dir),
        "keys_present": keys_present,
        "view_position": view_position,
        "views_behind": view_position < events,
    }
    if as_json:
        render.emit_json(render.STORE_INFO.build(document))
        return
    click.echo(
        render.pairs(
            [
                ("store", document["path"]),
                ("size", f"{size} bytes"),
                ("events", events),
                (
                    "keys",
                    f"{document['keys_dir'] or '-'} ({'present' if keys_present else 'missing'})",
                ),
                (
                    "views",
                    f"at event {view_position}"
                    + (f" ({events - view_position} behind)" if view_position < events else ""),
                ),
            ]
        )
    )


def stderr_is_terminal() -> bool:
    """Progress is shown only to a person watching a terminal, never into a pipe or file."""
    return sys.stderr.isatty()


@store.command("rebuild")
@json_option
@pass_cli
def rebuild(cli: CliContext, as_json: bool) -> None:
    """Rebuild the read models (overview, history) by replaying every stored event.

    Stored events are never changed. Use it after restoring a backup or
    when store info reports the views are behind and you want them ready. Shows a
    progress bar on standard error when that is a terminal.

    \b
    Example:
      miljo store rebuild
    """
    require(cli, Operation.ADMIN_STORE)
    miljo = cli.miljo
    total = miljo.event_count()
    if total == 0 or not stderr_is_terminal():
        replayed = miljo.rebuild_views()
    else:
        with click.progressbar(length=total, label="Replaying events", file=sys.stderr) as bar:

            def step(applied: int, of: int) -> None:
                # ``of`` grows if events arrive during the rebuild.
                bar.length = max(bar.length or 0, of)
                bar.update(applied - bar.pos)

            replayed = miljo.rebuild_views(step)
    position = miljo.views.position()
    if as_json:
        document = {
            "action": "store rebuild",
            "id": None,
            "events_replayed": replayed,
            "view_position": position,
        }
        render.emit_json(render.STORE_REBUILD.build(document))
        return
    click.echo(f"Rebuilt the read models: replayed {replayed} events (view position {position})")


@store.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_cli
def backup(cli: CliContext, file: Path) -> None:
    """Back up a SQLite store into the new file FILE, and its keys into the folder
    FILE's stem + ".keys" beside it (owner-only). Safe while miljo is in use: the copy is
    one consistent snapshot. Refuses to overwrite FILE or its key folder (exit 7).

    Keep the backup's key folder apart from the backup in long-term storage: the
    keys open everything. A PostgreSQL store is backed up with 'store copy --to
    FILE.sqlite' or pg_dump (docs/postgres.md).

    \b
    Example:
      miljo --store /srv/miljo/gjesdal.sqlite store backup /backup/gjesdal-2024-09-20.sqlite
    """
    require(cli, Operation.ADMIN_STORE)
    summary = backup_sqlite(cli.location, file)
    click.echo(f"Backed up {summary.events} events to {summary.path} (keys in {summary.keys_dir})")


@store.command("restore")
@click.argument("backup_file", metavar="BACKUP", type=click.Path(dir_okay=False, path_type=Path))
@pass_cli
def restore(cli: CliContext, backup_file: Path) -> None:
    """Restore BACKUP (made by 'store backup', with its ".keys" folder beside it) as the
    store named by --store, which must not exist yet (exit 7 if it does, or if BACKUP or
    its key folder does not exist).

    Afterwards 'audit verify' checks the restored store.

    \b
    Example:
      miljo --store /srv/miljo/gjesdal.sqlite store restore /backup/gjesdal-2024-09-20.sqlite
    """
    require(cli, Operation.ADMIN_STORE)
    summary = restore_sqlite(backup_file, cli.location)
    click.echo(f"Restored {summary.events} events into {summary.path} (keys in {summary.keys_dir})")


class VerifyFailed(click.ClickException):
    exit_code = exit_codes.VERIFY_FAILED


@store.command("copy")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="TARGET",
    help="The new store: a SQLite file or a postgresql:// URL (must not exist yet).",
)
@click.option(
    "--to-keys",
    "to_keys",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Key folder of a PostgreSQL TARGET (default: as for --store, docs/postgres.md).",
)
@pass_cli
def copy(cli: CliContext, to: str, to_keys: Path | None) -> None:
    """Copy the whole store to a new store TARGET: SQLite to PostgreSQL, PostgreSQL to
    SQLite, or SQLite to SQLite.

    Every stored event is copied as stored (still encrypted, same ids, versions and
    order), with its hash-chain link, the snapshots, the key files and the keyring;
    then the copy's read models are rebuilt and its chain verified (exit 8 if that
    fails). Refuses an existing TARGET (exit 7).

    \b
    Example:
      miljo --store /srv/miljo/gjesdal.sqlite store copy \\
            --to 'postgresql://miljo_gjesdal@db.kommune.no/miljo?schema=gjesdal'
    """
    require(cli, Operation.ADMIN_STORE)
    source = cli.location
    target = resolve_store(to)
    if to_keys is not None:
        if target.postgres is None:
            raise click.UsageError("--to-keys applies to a PostgreSQL TARGET only")
        target = attrs.evolve(target, keys_dir=to_keys.expanduser().absolute())
    summary = copy_store(source, target)
    if not summary.verify.ok:
        raise VerifyFailed(
            f"the copy {summary.target} does not verify at position "
            f"{summary.verify.first_failure}: {summary.verify.reason}"
        )
    click.echo(
        f"Copied {summary.events} events, {summary.links} chain links and "
        f"{summary.snapshots} snapshots to {summary.target} (keys in {summary.keys_dir}); "
        f"views at event {summary.view_position}; chain verified"
    )


@store.command("follow")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05, max=3600),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="How often to look for new events (PostgreSQL also wakes on NOTIFY).",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Print a line per batch applied even when standard output is not a terminal.",
)
@pass_cli
def follow(cli: CliContext, interval: float, verbose: bool) -> None:
    """Keep the read models (overview, history) caught up until stopped (SIGTERM or
    Ctrl-C, exit 0). Prints a line per batch of events applied when standard output is a
    terminal (or with --verbose). Stopping never leaves the views half-applied.

    Run it as a small service beside the store, so reads never wait for a catch-up.

    \b
    Example:
      miljo --store /srv/miljo/gjesdal.sqlite store follow --interval 2 --verbose
    """
    require(cli, Operation.ADMIN_STORE)
    location = cli.location
    miljo = cli.open_metadata()
    loud = verbose or sys.stdout.isatty()
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        # Set from another thread: Event.set takes a lock the interrupted code may hold.
        threading.Thread(target=stop.set, daemon=True).start()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}

    def batch(applied: int, position: int) -> None:
        if loud:
            click.echo(f"applied {applied} events (views at event {position})")

    try:
        if loud:
            click.echo(f"Following {location.describe()} (views at event {miljo.views.position()})")
        follow_views(location, miljo.views, stop, interval=interval, on_batch=batch)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if loud:
        click.echo(f"Stopped (views at event {miljo.views.position()})")
