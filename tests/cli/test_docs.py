"""docs/cli.md is generated (``make docs``) and must not go stale; every command has help
with an example; every facade operation is reachable from the command line."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import click
import pytest

from cli import docgen, exit_codes
from domain.facade import Miljo

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "cli.md"

#: Facade operations that need no command of their own: plumbing. The read models catch up
#: on every read that uses them (``catch_up``); ``store rebuild`` replays them whole.
RESERVED = {"catch_up"}

COMMANDS = docgen.commands()


def test_docs_cli_md_is_up_to_date() -> None:
    assert DOCS.read_text(encoding="utf-8") == docgen.generate(), (
        "docs/cli.md is stale: run `make docs` (python -m cli.docgen > docs/cli.md)"
    )


def test_docgen_main_prints_the_document(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    docgen.main()
    assert capsysbinary.readouterr().out.decode("utf-8") == docgen.generate()


@pytest.mark.parametrize(
    ("command", "ctx"), COMMANDS, ids=[ctx.command_path for _, ctx in COMMANDS]
)
def test_every_command_has_help_with_an_example(command: click.Command, ctx: click.Context) -> None:
    assert command.help
    assert command.get_short_help_str()
    help_text = command.get_help(ctx)
    match = re.search(r"^  Examples?:\n((?:    .*\n)+)", help_text + "\n", re.MULTILINE)
    assert match, f"{ctx.command_path} has no example"
    first = match.group(1).splitlines()[0].strip()
    assert first.startswith("miljo ") or "miljo " in first, first
    # Every option is documented too.
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{ctx.command_path} {param.opts} has no help"


@pytest.mark.parametrize(
    ("command", "ctx"), COMMANDS, ids=[ctx.command_path for _, ctx in COMMANDS]
)
def test_every_short_help_is_a_whole_sentence(command: click.Command, ctx: click.Context) -> None:
    """Click's short help (the command lists) ends at the first word ending in a full stop,
    so an abbreviation in the first sentence cuts it ("Add a CLASS (e.g.")."""
    short = command.get_short_help_str(limit=1000)
    assert short.count("(") == short.count(")"), f"{ctx.command_path}: {short!r}"
    assert not re.search(r"\b(e\.g|i\.e|cf|etc|ca|f\.eks|bl\.a)\.$", short), short


def test_every_command_is_in_the_docs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for _, ctx in COMMANDS:
        assert f"`{ctx.command_path}`\n" in text


def test_docs_explain_exit_codes_environment_and_completion() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for code, name, _ in exit_codes.MEANINGS:
        assert f"| {code} | `{name}` |" in text
    for variable in ("MILJO_HOME", "MILJO_STORE", "MILJO_ACTOR", "MILJO_FAKE_NOW"):
        assert f"`{variable}`" in text
    assert "*testing aid only*" in text
    assert "_MILJO_COMPLETE=bash_source miljo" in text
    assert "### student show" in text  # the --json schemas


def test_every_facade_operation_is_reachable_from_the_cli() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "cli").glob("*.py"))
    source += (ROOT / "adapters" / "roster.py").read_text(encoding="utf-8")
    operations = {
        name
        for name, member in inspect.getmembers(Miljo, inspect.isfunction)
        if not name.startswith("_") and name != "close"
    }
    unreachable = sorted(name for name in operations - RESERVED if f".{name}(" not in source)
    assert unreachable == []
