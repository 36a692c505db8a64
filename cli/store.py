"""``miljo store``: create a store and its keys; describe a store (no personal data); rebuild
its read models."""

from __future__ import annotations

import sys

import click

from adapters.bootstrap import init_store
from adapters.keys import ALL_KEYS
from cli import render
from cli.params import json_option
from cli.wiring import CliContext, pass_cli


@click.group()
def store() -> None:
    """The store: one SQLite file, with its keys in a folder beside it.

    \b
    Example:
      miljo --store /srv/miljo/gjesdal.sqlite store init
      miljo --store /srv/miljo/gjesdal.sqlite store info --json
      miljo --store /srv/miljo/gjesdal.sqlite store rebuild
    """


@store.command("init")
@json_option
@pass_cli
def init(cli: CliContext, as_json: bool) -> None:
    """Create the store and its key files. Refuses to overwrite an existing store.

    Back up the keys folder (e.g. miljo.keys/) apart from the store: without the
    index key, student numbers cannot be resolved.

    \b
    Example:
      MILJO_HOME=~/miljo miljo store init
    """
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
