"""``miljo store``: create a store and its keys; describe a store (no personal data)."""

from __future__ import annotations

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
    """Describe the store: path, size, number of events, whether its keys are present.

    \b
    Example:
      miljo store info --json
    """
    location = cli.location
    events = cli.open_metadata().event_count()
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
            ]
        )
    )
