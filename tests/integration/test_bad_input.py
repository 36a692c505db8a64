"""Malformed, oversized and hostile input: the CLI's arguments, the roster CSV importer and the
embedding API, driven by hypothesis.

Hostile values: control characters (NUL, ESC sequences, DEL), 1 MB strings, blank text,
invalid and non-ASCII dates, non-numbers, unknown vocabulary, wrong types where the API
validates types, and files in the wrong encoding (Latin-1, UTF-16), with NUL bytes, broken
quoting or the wrong shape. For each:

* nothing escapes but the documented outcome: a one-line ``miljo: error:`` message and the
  documented exit code (2 for malformed input) from the CLI, a ``RosterInvalid`` listing the
  problems from the importer, a :class:`~domain.errors.DomainError` from the API; never a
  traceback or an internal error;
* nothing is written on rejection (the store's event count is unchanged);
* a student's name or free text is never echoed in an error message;
* what is accepted reads back exactly as given.

The failures these tests found (wrong encodings reaching the CLI as lone surrogates, far
dates and instants, huge exponents, identifiers with a trailing newline, control characters
that the roster importer turned into spaces) are fixed: the hypothesis strategies draw those
classes too, and the regression tests at the end pin each one (docs/reliability.md).
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import attrs
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bootstrap import open_store
from adapters.roster import RosterInvalid, import_roster
from cli import exit_codes
from cli.main import cli as miljo_command
from domain.errors import DomainError, InvalidValue
from domain.facade import Miljo
from domain.student import MAX_NAME_LENGTH
from domain.values import EARLIEST_YEAR, LATEST_YEAR, MAX_TEXT_LENGTH, HoursByCompetence
from tests.integration.workers import (
    MEMBERS,
    SCHOOL,
    StoreUnderTest,
    build_scenario,
    postgres_store,
    report,
    sqlite_store,
)
from tests.support import ADMIN, COORDINATOR, REKTOR, FakeClock, stored_event_count

FAKE_NOW: Final = "2024-09-20T10:00:00+02:00"
ADMIN_AS: Final = "admin:p-admin"
COORDINATOR_AS: Final = "miljokoordinator:gj-mt1@gjesdal"
#: Every name and free text the tests write carries this marker: it must never appear in an
#: error message.
SECRET: Final = "Hemmelig"
MEGABYTE: Final = 1_000_000
#: Every argument slot gets this many hostile values (16 slots).
CLI_EXAMPLES_PER_SLOT: Final = 7
#: Roster files: every kind of damage is tried this often, and good files four times as often.
ROSTER_EXAMPLES_PER_KIND: Final = 5
API_EXAMPLES: Final = 100


def bounded(examples: int) -> settings:
    """At most ``examples`` inputs, no deadline (every example does I/O); the store is set up
    once per test and shared by its examples on purpose."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# ---------------------------------------------------------------------------------------------
# The store every example runs against, and how to count what it holds
# ---------------------------------------------------------------------------------------------


@attrs.define
class Bench:
    store: StoreUnderTest
    folder: Path  # for roster files
    runner: CliRunner
    tried: int = 0

    def stored(self) -> int:
        """Stored events, counted in the events table without keys (read-only)."""
        return stored_event_count(self.store.location)

    def invoke(self, actor: str, args: Sequence[str]) -> Result:
        env: dict[str, str | None] = {
            "MILJO_STORE": self.store.argument,
            "MILJO_KEYS_DIR": None,
            "MILJO_ACTOR": actor,
            "MILJO_FAKE_NOW": FAKE_NOW,
            "MILJO_HOME": None,
            "MILJO_DEBUG": None,
            **self.store.env,
        }
        return self.runner.invoke(miljo_command, list(args), env=env)

    def figures_of(self, target: str) -> str:
        """The name the figures of ``target`` are reported under (per backend)."""
        return f"bad_input[{target}:{self.store.kind}]"


@pytest.fixture
def bench(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Bench:
    """The scenario's store on ``backend``, shared by every example of a test."""
    if backend == "postgres":
        store = postgres_store(request.getfixturevalue("postgres_schema"), tmp_path / "pg.keys")
    else:
        store = sqlite_store(tmp_path)
    with open_store(store.location, clock=FakeClock()) as miljo:
        build_scenario(miljo)
    return Bench(store=store, folder=tmp_path, runner=CliRunner())


def _terminal(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    def write(line: str) -> None:
        with capsys.disabled():
            sys.stderr.write(f"\n{line}\n")

    return write


def one_error_line(result: Result) -> str:
    """The CLI failed the documented way: one stderr line, no traceback, no stdout."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[:500]
    assert lines[0].startswith("miljo: error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


# ---------------------------------------------------------------------------------------------
# Hostile values
# ---------------------------------------------------------------------------------------------

CONTROL_CHARACTERS: Final = [chr(c) for c in (*range(9), 11, 12, *range(14, 32), 127)]
HOSTILE_SNIPPETS: Final = [
    "\x00",
    "\x1b[31m",
    "\x1b]0;pwned\x07",
    "\r",
    "\x08\x08\x08",
    "\x7f",
    "\x0b",
    "\x1f",
]


def not_option(text: str) -> bool:
    """Values given on the command line never start with '-' (click would read an option)."""
    return not text.startswith("-")


def with_control(prefix: str = SECRET) -> st.SearchStrategy[str]:
    """Text with at least one control character other than newline and tab."""
    return st.tuples(
        st.text(max_size=30),
        st.one_of(st.sampled_from(HOSTILE_SNIPPETS), st.sampled_from(CONTROL_CHARACTERS)),
        st.text(max_size=30),
    ).map(lambda parts: f"{prefix} {parts[0]}{parts[1]}{parts[2]}")


def oversized(limit: int) -> st.SearchStrategy[str]:
    """Longer than ``limit`` characters, up to 1 MB (1 000 000 characters)."""
    return st.integers(limit + 1, MEGABYTE).map(lambda n: (SECRET + "Ø" * n)[:n])


BLANK: Final = st.sampled_from(["", " ", "\t", "\n\n", " \t \n "])


def with_surrogate(prefix: str = SECRET) -> st.SearchStrategy[str]:
    """Text with a lone surrogate: how Python passes on an argument that is not UTF-8."""
    return st.tuples(
        st.text(max_size=20), st.characters(categories=["Cs"]), st.text(max_size=20)
    ).map(lambda parts: f"{prefix} {parts[0]}{parts[1]}{parts[2]}")


def bad_text(limit: int, *, blank: bool = True) -> st.SearchStrategy[str]:
    options = [with_control(), oversized(limit), with_surrogate()]
    if blank:
        options.append(BLANK)
    return st.one_of(*options)


_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def in_years(day: date) -> bool:
    """The years the domain accepts dates and instants in."""
    return EARLIEST_YEAR <= day.year <= LATEST_YEAR


def is_cli_date(text: str) -> bool:
    """What ``cli.params.IsoDate`` accepts."""
    stripped = text.strip()
    if not _DATE.fullmatch(stripped):
        return False
    try:
        return in_years(date.fromisoformat(stripped))
    except ValueError:
        return False


BAD_DATES: Final = st.one_of(
    st.sampled_from(
        [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "24-01-01",
            "2024-1-1",
            "2024/01/01",
            "20240101",
            "2024-01-01T00:00",
            "٢٠٢٤-٠١-٠١",
            "0000-01-01",
            "0001-01-01",
            "1899-12-31",
            "2201-01-01",
            "9999-12-31",
            "+2024-01-01",
            "i går",
            "",
            "\x00",
        ]
    ),
    st.text(max_size=20),
).filter(lambda s: not is_cli_date(s) and not_option(s))


def is_aware_instant(text: str) -> bool:
    """What ``cli.params.Instant`` accepts."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return False
    return parsed.tzinfo is not None and parsed.utcoffset() is not None and in_years(parsed)


BAD_INSTANTS: Final = st.one_of(
    st.sampled_from(
        [
            "2024-09-02T10:15:00",
            "2024-09-02 10:15",
            "2024-09-02T25:00:00+02:00",
            "2024-09-02T10:15:00+25:00",
            "2024-09-02T10:15:00 Europe/Oslo",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "1899-12-31T23:00:00+00:00",
            "now",
            "NaN",
            "",
        ]
    ),
    st.text(max_size=30),
).filter(lambda s: not is_aware_instant(s) and not_option(s))


def is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


BAD_TRINN: Final = st.one_of(
    st.sampled_from(["åtte", "8.0", "8,5", "", "VIII", "0x8", "8e0", "∞"]), st.text(max_size=8)
).filter(lambda s: not is_int(s) and not_option(s))

_STUDENT_NUMBER: Final = re.compile(r"[A-Za-z0-9-]{1,20}")
BAD_NUMBERS: Final = st.one_of(
    st.sampled_from(
        [
            "",
            "10 01",
            "1001;DROP TABLE stored_events",
            "../1001",
            "١٠٠١",
            "x" * 21,
            "10\x0001",
            "S-1\n",
            "N-1\n",
            "\nN-1",
        ]
    ),
    st.text(max_size=25),
).filter(lambda s: not _STUDENT_NUMBER.fullmatch(s) and not_option(s))

_SCHOOL_CODE: Final = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")
BAD_CODES: Final = st.one_of(
    st.sampled_from(
        [
            "",
            "G",
            "Gjesdal",
            "gjes dal",
            "gjesdal/../x",
            "æøå",
            "a" * 41,
            "trudvang\n",
            SCHOOL + "\n",
        ]
    ),
    st.text(max_size=45),
).filter(lambda s: not _SCHOOL_CODE.fullmatch(s) and not_option(s))

_TRINN_RANGE: Final = re.compile(r"^\s*(\d{1,2})\s*(?:-\s*(\d{1,2})\s*)?$")


def is_good_range(text: str) -> bool:
    match = _TRINN_RANGE.match(text)
    if match is None:
        return False
    first = int(match.group(1))
    last = int(match.group(2) or first)
    return 1 <= first <= last <= 13


BAD_RANGES: Final = st.one_of(
    st.sampled_from(["10-8", "0-5", "1-14", "99", "8 - ", "åtte-ti", "8..10", ""]),
    st.text(max_size=10),
).filter(lambda s: not is_good_range(s) and not_option(s))


def is_acceptable_hours(text: str) -> bool:
    """Hours the CLI and the domain both accept (so the command would not be malformed):
    exactly whole minutes, 1 to 10**7 of them."""
    try:
        number = Decimal(text.strip().replace(",", ".", 1))
    except InvalidOperation:
        return False
    if not number.is_finite() or number <= 0 or number.adjusted() > 10:
        return False
    exact = Context(prec=100, traps=[InvalidOperation, Overflow, Inexact])
    try:
        minutes = exact.multiply(number, 60)
    except ArithmeticError:
        return False
    return minutes == minutes.to_integral_value() and 0 < minutes <= 10**7


BAD_HOURS: Final = st.one_of(
    st.sampled_from(
        [
            "-1",
            "1.001",
            "0",
            "NaN",
            "Infinity",
            "-Infinity",
            "7,5,5",
            "syv",
            "",
            "9e999999999",
            "1e-999999999",
            "9E+999999",
            "1" + "0" * 40,
        ]
    ),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=12),
).filter(lambda s: not is_acceptable_hours(s) and not_option(s))


def not_in(choices: Sequence[str]) -> st.SearchStrategy[str]:
    return st.text(max_size=15).filter(lambda s: s not in choices and not_option(s))


# ---------------------------------------------------------------------------------------------
# The CLI
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class CliCase:
    actor: str
    args: tuple[str, ...]
    slot: str


def _register_case(slot: str, value: str) -> CliCase:
    args = {
        "number": "N-1",
        "name": f"{SECRET} Testesen",
        "trinn": "8",
        "class": "8a",
        "registered-on": "2024-08-19",
    }
    args[slot] = value
    argv = (
        "student", "register", "--school", SCHOOL, args["number"], "--name", args["name"],
        "--trinn", args["trinn"], "--class", args["class"],
        "--registered-on", args["registered-on"],
    )  # fmt: skip
    return CliCase(ADMIN_AS, argv, f"student register {slot}")


def _observe_case(slot: str, value: str) -> CliCase:
    args = {
        "arena": "break",
        "category": "conflict",
        "text": f"{SECRET}: uro i friminuttet",
        "voice": f"{SECRET}: jeg ble lei meg",
        "observed-at": "2024-09-02T10:15:00+02:00",
    }
    args[slot] = value
    argv = (
        "student", "observe", "--school", SCHOOL, "S-1", "--arena", args["arena"],
        "--category", args["category"], "--text", args["text"], "--voice", args["voice"],
        "--observed-at", args["observed-at"],
    )  # fmt: skip
    return CliCase(COORDINATOR_AS, argv, f"student observe {slot}")


def _school_case(slot: str, value: str) -> CliCase:
    args = {"code": "trudvang", "name": f"{SECRET} skule", "trinn": "1-5"}
    args[slot] = value
    argv = ("school", "register", args["code"], "--name", args["name"], "--trinn", args["trinn"])
    return CliCase(ADMIN_AS, argv, f"school register {slot}")


def _assign_case(slot: str, value: str) -> CliCase:
    args = {"hours": "7.5", "from": "2024-08-19", "to": "2024-12-20", "target": "class"}
    args[slot] = value
    argv = (
        "team", "assign", "--school", SCHOOL, MEMBERS[1], "--target", args["target"],
        "--trinn", "8", "--class", "8a", "--hours", args["hours"], "--from", args["from"],
        "--to", args["to"],
    )  # fmt: skip
    return CliCase(COORDINATOR_AS, argv, f"team assign {slot}")


ARENAS: Final = ("classroom", "break", "sfo", "way_to_school", "home", "online", "other")
CATEGORIES: Final = (
    "wellbeing", "social", "conflict", "bullying", "absence", "behaviour", "learning",
    "family", "health", "other",
)  # fmt: skip
TARGETS: Final = ("student", "class", "trinn", "sfo", "school")


def _slot(
    build: Callable[[str, str], CliCase], slot: str, values: st.SearchStrategy[str]
) -> st.SearchStrategy[CliCase]:
    return values.map(lambda value: build(slot, value))


CLI_SLOTS: Final = (
    _slot(_register_case, "number", BAD_NUMBERS),
    _slot(_register_case, "name", bad_text(MAX_NAME_LENGTH)),
    _slot(_register_case, "trinn", BAD_TRINN),
    _slot(_register_case, "registered-on", BAD_DATES),
    _slot(_observe_case, "text", bad_text(MAX_TEXT_LENGTH)),
    _slot(_observe_case, "voice", bad_text(MAX_TEXT_LENGTH, blank=False)),
    _slot(_observe_case, "arena", not_in(ARENAS)),
    _slot(_observe_case, "category", not_in(CATEGORIES)),
    _slot(_observe_case, "observed-at", BAD_INSTANTS),
    _slot(_school_case, "code", BAD_CODES),
    _slot(_school_case, "name", bad_text(200)),
    _slot(_school_case, "trinn", BAD_RANGES),
    _slot(_assign_case, "hours", BAD_HOURS),
    _slot(_assign_case, "from", BAD_DATES),
    _slot(_assign_case, "to", BAD_DATES),
    _slot(_assign_case, "target", not_in(TARGETS)),
)


def test_cli_rejects_malformed_arguments_with_usage_error(
    bench: Bench,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    slots: set[str] = set()

    def check(case: CliCase) -> None:
        bench.tried += 1
        slots.add(case.slot)
        before = bench.stored()
        result = bench.invoke(case.actor, case.args)
        line = one_error_line(result)
        assert result.exit_code == exit_codes.USAGE_ERROR, (case.slot, line)
        assert SECRET not in line
        assert bench.stored() == before

    for cases in CLI_SLOTS:
        bounded(CLI_EXAMPLES_PER_SLOT)(given(case=cases)(check))()
    report(
        bench.figures_of("cli"),
        {
            "inputs_tried": bench.tried,
            "argument_slots": f"{len(slots)}/{len(CLI_SLOTS)}",
            "rejected_with_exit_2": bench.tried,
            "internal_errors": 0,
            "events_written_on_rejection": 0,
        },
        record_property,
        _terminal(capsys),
    )


# ---------------------------------------------------------------------------------------------
# The roster importer (adapters.roster, and `miljo import roster`)
# ---------------------------------------------------------------------------------------------

NAMES: Final = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"]),
    min_size=1,
    max_size=40,
).map(lambda s: f"{SECRET} {s}")
GOOD_ROWS: Final = st.lists(
    st.tuples(NAMES, st.sampled_from(["8a", "8b", "9a", "9b"])), min_size=0, max_size=6
)


@attrs.frozen
class Roster:
    data: bytes
    rows: tuple[tuple[str, str, int, str], ...]  # number, name, trinn, class
    bad: str | None  # what makes the file invalid (None: a good file)


def _csv(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


HEADER: Final = ("student_number", "name", "trinn", "class")
MUTATIONS: Final = (
    "latin-1",
    "utf-16",
    "nul",
    "control",
    "oversized",
    "trinn",
    "class",
    "mismatch",
    "duplicate",
    "fields",
    "header",
    "multiline",
    "quote",
    "empty",
    "number",
    "binary",
)


@st.composite
def rosters(draw: st.DrawFn, serial: Iterator[int], mutation: str | None) -> Roster:
    good = draw(GOOD_ROWS)
    batch = next(serial)
    rows = [
        (f"B{batch}-{i}", name, {"8a": 8, "8b": 8, "9a": 9, "9b": 9}[cls], cls)
        for i, (name, cls) in enumerate(good)
    ]
    if draw(st.booleans()):
        rows.append(("S-1", f"{SECRET} Sølvi Prøvestad", 8, "8a"))  # already registered
    cells = [[n, name, str(t), c] for n, name, t, c in rows]
    where = draw(st.integers(0, len(cells)))
    bad_row = [f"X{batch}", f"{SECRET} Feil", "8", "8a"]
    header: list[str] = list(HEADER)
    encoding = "utf-8"
    tail = ""
    prefix = b""
    if mutation == "latin-1":
        cells.insert(where, [f"L{batch}", f"{SECRET} Ærlig Øyvindsen", "8", "8a"])
        encoding = "latin-1"
    elif mutation == "utf-16":
        encoding = "utf-16"
    elif mutation in ("nul", "control"):
        # Every control character the command line refuses, also those str.split() counts as
        # white space (VT, FF, FS..US); a carriage return makes the field span lines.
        control = draw(
            st.one_of(st.sampled_from(HOSTILE_SNIPPETS), st.sampled_from(CONTROL_CHARACTERS))
        )
        bad_row[1] += "\x00" if mutation == "nul" else control
        cells.insert(where, bad_row)
    elif mutation == "oversized":
        bad_row[1] = draw(oversized(MAX_NAME_LENGTH))
        cells.insert(where, bad_row)
    elif mutation == "trinn":
        bad_row[2] = draw(st.sampled_from(["åtte", "8.0", "", "99", "-8", "٨", " 8 8"]))
        cells.insert(where, bad_row)
    elif mutation == "class":
        bad_row[3] = draw(st.sampled_from(["8z", "10a", "8a/..", "", "x" * 17]))
        cells.insert(where, bad_row)
    elif mutation == "mismatch":
        bad_row[2] = "9"
        cells.insert(where, bad_row)
    elif mutation == "duplicate":
        cells.insert(where, bad_row)
        cells.append([bad_row[0], f"{SECRET} Dobbel", "8", "8b"])
    elif mutation == "fields":
        cells.insert(where, [*bad_row, draw(st.sampled_from(["", "ekstra"]))])
    elif mutation == "header":
        header = draw(
            st.sampled_from(
                [HEADER[:3], (*HEADER, "epost"), ("elevnummer", *HEADER[1:]), (*HEADER, "name")]
            )
        )
        header = list(header)
    elif mutation == "multiline":
        bad_row[1] = f"{SECRET}\nFlerlinje"
        cells.insert(where, bad_row)
    elif mutation == "quote":
        tail = f'X{batch},"{SECRET} uten slutt,8,8a\n'
    elif mutation == "empty":
        cells, header = [], []
        prefix = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\n\n", b" , , \n"]))
    elif mutation == "number":
        bad_row[0] = draw(st.sampled_from(["10 01", "x" * 21, "10;01", "١٠٠١", ""]))
        cells.insert(where, bad_row)
    elif mutation == "binary":
        prefix = draw(st.binary(min_size=1, max_size=64).filter(_not_utf8))
    text = (_csv([header]) if header else "") + _csv(cells) + tail
    if draw(st.booleans()) and encoding == "utf-8" and mutation != "empty":
        text = "\ufeff" + text  # Excel's "CSV UTF-8" starts with a byte-order mark
    data = prefix + text.encode(encoding, errors="replace")
    return Roster(data=data, rows=tuple(rows), bad=mutation)


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _serial() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


def test_roster_import_rejects_bad_files_whole_and_imports_good_ones_exactly(
    bench: Bench,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = {"files_tried": 0, "bad_files_rejected": 0, "good_files_imported": 0}
    mutations: set[str] = set()
    registered = 0
    serial = _serial()
    folder = bench.folder / "rosters"
    folder.mkdir()

    def check(roster: Roster) -> None:
        nonlocal registered
        figures["files_tried"] += 1
        before = bench.stored()
        with open_store(bench.store.location) as miljo:
            refusal: RosterInvalid | None = None
            try:
                result = import_roster(
                    miljo, ADMIN, school=SCHOOL, data=roster.data, source="elever.csv"
                )
            except RosterInvalid as error:
                refusal = error
            if refusal is not None:
                assert roster.bad is not None, str(refusal)
                assert refusal.problems
                assert SECRET not in str(refusal)
                assert bench.stored() == before
                mutations.add(roster.bad)
                figures["bad_files_rejected"] += 1
            else:
                assert roster.bad is None, f"a {roster.bad} file was imported"
                new = [r for r in roster.rows if r[0] != "S-1"]
                assert result.registered == len(new)
                assert result.rows == len(roster.rows)
                assert bench.stored() == before + 2 * len(new)
                _check_imported(miljo, new)
                registered += len(new)
                figures["good_files_imported"] += 1
        if roster.bad is not None:
            # The same file through the command: exit 2, one line, nothing written.
            path = folder / "elever.csv"
            path.write_bytes(roster.data)
            cli_result = bench.invoke(ADMIN_AS, ["import", "roster", str(path), "--school", SCHOOL])
            line = one_error_line(cli_result)
            assert cli_result.exit_code == exit_codes.USAGE_ERROR, line
            assert SECRET not in line
            assert bench.stored() == before

    for mutation in (None, *MUTATIONS):
        examples = ROSTER_EXAMPLES_PER_KIND * (4 if mutation is None else 1)
        bounded(examples)(given(roster=rosters(serial, mutation))(check))()
    report(
        bench.figures_of("roster"),
        {
            **figures,
            "damage_kinds_rejected": f"{len(mutations)}/{len(MUTATIONS)}",
            "students_registered_from_good_files": registered,
            "events_written_on_rejection": 0,
        },
        record_property,
        _terminal(capsys),
    )


def _check_imported(miljo: Miljo, rows: Sequence[tuple[str, str, int, str]]) -> None:
    for number, name, trinn, class_name in rows:
        student_id = miljo.find_student(ADMIN, school=SCHOOL, student_number=number)
        case = miljo.student_case(COORDINATOR, student_id)
        assert (case.name, case.trinn, case.class_name) == (
            " ".join(name.split()),
            trinn,
            class_name,
        )


# ---------------------------------------------------------------------------------------------
# The embedding API (domain.facade.Miljo)
# ---------------------------------------------------------------------------------------------

TEXTS: Final[st.SearchStrategy[Any]] = st.one_of(
    st.text(max_size=300).map(lambda s: f"{SECRET} {s}"),
    bad_text(MAX_TEXT_LENGTH),
    st.binary(max_size=20),
)
#: Valid free text at its limit, in any script: the payload cipher and the field sealing must
#: give it back byte for byte.
LONG_TEXTS: Final = st.one_of(
    NAMES,
    st.tuples(NAMES, st.integers(1, MAX_TEXT_LENGTH - 100)).map(
        lambda t: (t[0] + " ø\tå\næ 😀" * t[1])[:MAX_TEXT_LENGTH]
    ),
)
IDENTIFIERS: Final[st.SearchStrategy[Any]] = st.one_of(
    st.text(max_size=45),
    st.from_regex(r"[a-z0-9][a-z0-9-]{1,12}", fullmatch=True),
    st.binary(max_size=10),
)
#: Mostly plausible dates, some at or past the ends of the calendar (``date.min``, ``date.max``).
DATES: Final[st.SearchStrategy[Any]] = st.one_of(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    st.sampled_from([date.min, date(1899, 12, 31), date(2201, 1, 1), date.max]),
    st.dates(),
)
FAR_OFFSETS: Final = [timezone(timedelta(hours=h)) for h in (-12, -1, 1, 14)]
INSTANTS: Final[st.SearchStrategy[Any]] = st.one_of(
    st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2030, 1, 1),
        timezones=st.sampled_from([UTC, None]),
    ),
    # Past the ends of the calendar once converted to UTC, or outside 1900-2200.
    st.sampled_from(
        [datetime.min.replace(tzinfo=tz) for tz in FAR_OFFSETS]
        + [datetime.max.replace(tzinfo=tz) for tz in FAR_OFFSETS]
    ),
    st.datetimes(timezones=st.sampled_from([UTC, *FAR_OFFSETS])),
)
PERCENTS: Final[st.SearchStrategy[Any]] = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.integers(-(10**30), 10**30),
    st.text(max_size=12),
    st.floats(),
)


@attrs.frozen
class ApiCall:
    name: str
    run: Callable[[Miljo], object]
    check: Callable[[Miljo, object], None]


def _no_check(_: Miljo, __: object) -> None:
    return None


@st.composite
def api_calls(draw: st.DrawFn, students: Sequence[Any]) -> ApiCall:
    kinds = ["register", "observe", "school", "member", "assign", "consent"]
    kind = draw(st.sampled_from(kinds))
    # Half of the registrations and observations are valid, with unusual content (any
    # Unicode letter, mark, symbol or punctuation, up to the length limit): those must read
    # back exactly as given.
    valid = kind in ("register", "observe") and draw(st.booleans())
    if kind == "register":
        number = draw(st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True))
        if valid:
            name = draw(NAMES)
            trinn, class_name = draw(st.sampled_from([(8, "8a"), (9, "9b")]))
        else:
            number = draw(st.one_of(st.just(number), IDENTIFIERS))
            name = draw(TEXTS)
            trinn = draw(st.one_of(st.integers(-5, 20), st.booleans(), st.sampled_from([8, 9])))
            class_name = draw(st.one_of(st.sampled_from(["8a", "9b"]), IDENTIFIERS))
        registered_on = draw(DATES)

        def register(miljo: Miljo) -> object:
            return miljo.register_student(
                ADMIN,
                school=SCHOOL,
                student_number=number,
                name=name,
                trinn=trinn,
                class_name=class_name,
                registered_on=registered_on,
            )

        def registered(miljo: Miljo, new_id: object) -> None:
            assert isinstance(new_id, UUID)
            case = miljo.student_case(COORDINATOR, new_id)
            assert (case.student_number, case.name, case.class_name) == (number, name, class_name)

        return ApiCall("register_student", register, registered)
    if kind == "observe":
        student = draw(st.sampled_from(students))
        if valid:
            text = draw(LONG_TEXTS)
            voice = draw(st.one_of(st.none(), NAMES))
            arena = draw(st.sampled_from(ARENAS))
            categories = draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3))
            observed_at = None
        else:
            text = draw(TEXTS)
            voice = draw(st.one_of(st.none(), TEXTS))
            arena = draw(st.one_of(st.sampled_from(ARENAS), st.text(max_size=10)))
            categories = draw(
                st.lists(st.one_of(st.sampled_from(CATEGORIES), st.text(max_size=8)), max_size=3)
            )
            observed_at = draw(st.one_of(st.none(), INSTANTS))

        def observe(miljo: Miljo) -> object:
            return miljo.record_observation(
                COORDINATOR,
                student,
                arena=arena,
                categories=categories,
                text=text,
                observed_at=observed_at,
                student_voice=voice,
            )

        def observed(miljo: Miljo, new_id: object) -> None:
            case = miljo.student_case(COORDINATOR, student)
            [entry] = [o for o in case.observations if o.observation_id == new_id]
            assert (entry.text, entry.student_voice) == (text, voice)

        return ApiCall("record_observation", observe, observed)
    if kind == "school":
        code = draw(IDENTIFIERS)
        name = draw(TEXTS)
        first, last = draw(st.integers(-2, 15)), draw(st.integers(-2, 15))
        return ApiCall(
            "register_school",
            lambda miljo: miljo.register_school(
                ADMIN, code=code, name=name, first_trinn=first, last_trinn=last
            ),
            _no_check,
        )
    if kind == "member":
        member = draw(IDENTIFIERS)
        profession = draw(st.one_of(st.sampled_from(["sosionom", "assistent"]), IDENTIFIERS))
        percent = draw(PERCENTS)
        return ApiCall(
            "add_member",
            lambda miljo: miljo.add_member(
                ADMIN,
                school=SCHOOL,
                member_id=member,
                profession=profession,
                position_percent=percent,
                joined_on=date(2024, 8, 1),
            ),
            _no_check,
        )
    if kind == "assign":
        target = draw(st.one_of(st.sampled_from(TARGETS), st.text(max_size=8)))
        minutes = draw(st.one_of(st.integers(-(10**12), 10**12), st.sampled_from([0, 30, 10**7])))
        valid_from = draw(DATES)
        valid_to = draw(st.one_of(st.none(), DATES))
        level = draw(st.one_of(st.none(), st.integers(-3, 16)))
        group = draw(st.one_of(st.none(), st.sampled_from(["8a", "9b"]), IDENTIFIERS))
        return ApiCall(
            "assign",
            lambda miljo: miljo.assign(
                COORDINATOR,
                school=SCHOOL,
                member_id=MEMBERS[2],
                target_kind=target,
                minutes_per_week=minutes,
                valid_from=valid_from,
                valid_to=valid_to,
                trinn=level,
                class_name=group,
            ),
            _no_check,
        )
    student = draw(st.sampled_from(students))
    giver = draw(st.one_of(st.sampled_from(["guardian", "student"]), st.text(max_size=8)))
    scope_kind = draw(st.one_of(st.sampled_from(["body", "meeting_kind"]), st.text(max_size=8)))
    scope = draw(st.one_of(st.sampled_from(["ppt", "bup", "arbeidslag"]), st.text(max_size=8)))
    valid_from, valid_to = draw(DATES), draw(st.one_of(st.none(), DATES))
    note = draw(st.one_of(st.none(), TEXTS))
    return ApiCall(
        "record_consent",
        lambda miljo: miljo.record_consent(
            COORDINATOR,
            student,
            giver=giver,
            scope_kind=scope_kind,
            scope=scope,
            valid_from=valid_from,
            valid_to=valid_to,
            note=note,
        ),
        _no_check,
    )


def test_embedding_api_refuses_hostile_values_with_domain_errors(
    bench: Bench,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcomes = {"inputs_tried": 0, "refused": 0, "accepted": 0}
    methods: set[str] = set()
    clock = FakeClock(datetime(2024, 9, 20, 8, 0, tzinfo=UTC))
    with open_store(bench.store.location, clock=clock) as miljo:
        students = miljo.students_of(ADMIN, SCHOOL)

        @bounded(API_EXAMPLES)
        @given(call=api_calls(students))
        def check(call: ApiCall) -> None:
            outcomes["inputs_tried"] += 1
            methods.add(call.name)
            clock.advance(seconds=1)
            before = miljo.event_count()
            refusal: DomainError | None = None
            try:
                result = call.run(miljo)
            except DomainError as error:
                refusal = error
            if refusal is not None:
                assert miljo.event_count() == before, f"{call.name} wrote before refusing"
                assert SECRET not in str(refusal)
                outcomes["refused"] += 1
            else:
                assert miljo.event_count() > before
                call.check(miljo, result)
                outcomes["accepted"] += 1

        check()
    report(
        bench.figures_of("api"),
        {
            **outcomes,
            "methods": len(methods),
            "other_exceptions": 0,
            "events_written_on_refusal": 0,
        },
        record_property,
        _terminal(capsys),
    )


# ---------------------------------------------------------------------------------------------
# Regression tests: failures these tests found, now fixed (docs/reliability.md)
# ---------------------------------------------------------------------------------------------


def _surrogate(raw: bytes) -> str:
    """How Python hands a program an argument that is not UTF-8 (PEP 383)."""
    return raw.decode("utf-8", "surrogateescape")


def refused_as_usage_error(bench: Bench, before: int, result: Result) -> str:
    """Exit 2, one line that shows no name or free text, nothing written."""
    assert bench.stored() == before
    line = one_error_line(result)
    assert result.exit_code == exit_codes.USAGE_ERROR, line
    assert SECRET not in line
    return line


@pytest.mark.parametrize("option", ["--text", "--voice"])
@pytest.mark.parametrize(
    "raw", [b"\xe6rlig \xf8yvind", b"\xff\xfe", b"ok \xc3"], ids=["latin-1", "bom", "cut"]
)
def test_text_in_the_wrong_encoding_is_usage_error(bench: Bench, raw: bytes, option: str) -> None:
    """Was exit 1 "internal error (TypeError)" from orjson: check_text let lone surrogates in."""
    texts = {"--text": f"{SECRET} uro", "--voice": f"{SECRET} stemme"}
    texts[option] = f"{SECRET} {_surrogate(raw)}"
    before = bench.stored()
    result = bench.invoke(
        COORDINATOR_AS,
        ["student", "observe", "--school", SCHOOL, "S-1", "--arena", "break",
         "--category", "conflict", "--text", texts["--text"], "--voice", texts["--voice"]],
    )  # fmt: skip
    line = refused_as_usage_error(bench, before, result)
    assert "UTF-8" in line


def test_a_name_in_the_wrong_encoding_is_refused_by_the_api(bench: Bench) -> None:
    name = f"{SECRET} " + _surrogate(b"\xc5se Latin-1")
    with open_store(bench.store.location, clock=FakeClock()) as miljo:
        before = miljo.event_count()
        with pytest.raises(InvalidValue, match="UTF-8") as refused:
            miljo.register_student(
                ADMIN, school=SCHOOL, student_number="E-1", name=name, trinn=8, class_name="8a"
            )
        assert refused.value.what == "student name"
        assert SECRET not in str(refused.value)
        assert miljo.event_count() == before


@pytest.mark.parametrize(
    "period",
    [("--from", "9999-12-31"), ("--from", "2024-08-19", "--to", "9999-12-31"),
     ("--from", "0001-01-01"), ("--from", "1899-12-31"), ("--from", "2201-01-01")],
    ids=["from-max", "to-max", "from-min", "before-1900", "after-2200"],
)  # fmt: skip
def test_far_dates_in_an_assignment_are_refused(bench: Bench, period: tuple[str, ...]) -> None:
    """Was exit 1 "internal error (OverflowError)": capacity weeks ran past date.max."""
    before = bench.stored()
    result = bench.invoke(
        COORDINATOR_AS,
        ["team", "assign", "--school", SCHOOL, MEMBERS[1], "--target", "school",
         "--hours", "1", *period],
    )  # fmt: skip
    line = refused_as_usage_error(bench, before, result)
    assert f"{EARLIEST_YEAR}-{LATEST_YEAR}" in line


def test_the_year_bounds_themselves_are_accepted(bench: Bench) -> None:
    before = bench.stored()
    result = bench.invoke(
        COORDINATOR_AS,
        ["team", "assign", "--school", SCHOOL, MEMBERS[1], "--target", "school",
         "--hours", "1", "--from", "2024-08-19", "--to", "2200-12-31"],
    )  # fmt: skip
    assert result.exit_code == exit_codes.OK, result.stderr
    assert bench.stored() == before + 1


#: Team commands through the API with a date at an end of the calendar (the CLI refuses these
#: when it parses them; the domain must refuse them too, before any week arithmetic).
FAR_TEAM_COMMANDS: Final[dict[str, Callable[[Miljo, date, UUID], object]]] = {
    "assign from": lambda m, day, _: m.assign(
        COORDINATOR, school=SCHOOL, member_id=MEMBERS[2], target_kind="school",
        minutes_per_week=60, valid_from=day,
    ),
    "assign to": lambda m, day, _: m.assign(
        COORDINATOR, school=SCHOOL, member_id=MEMBERS[2], target_kind="school",
        minutes_per_week=60, valid_from=date(2024, 8, 19), valid_to=day,
    ),
    "add member": lambda m, day, _: m.add_member(
        ADMIN, school=SCHOOL, member_id="gj-ny", profession="sosionom",
        position_percent="50", joined_on=day,
    ),
    "change position": lambda m, day, _: m.change_position(
        ADMIN, school=SCHOOL, member_id=MEMBERS[2], position_percent="40", effective_from=day
    ),
    "appoint coordinator": lambda m, day, _: m.appoint_coordinator(
        ADMIN, school=SCHOOL, member_id=MEMBERS[2], effective_from=day
    ),
    "end assignment": lambda m, day, assignment: m.end_assignment(
        COORDINATOR, school=SCHOOL, assignment_id=assignment, ended_on=day, reason="Slutt"
    ),
    "rotate": lambda m, day, assignment: m.rotate_assignment(
        COORDINATOR, school=SCHOOL, assignment_id=assignment, to_member_id=MEMBERS[2], on=day
    ),
    "member left": lambda m, day, _: m.record_member_left(
        ADMIN, school=SCHOOL, member_id=MEMBERS[2], left_on=day
    ),
}  # fmt: skip


@pytest.mark.parametrize("day", [date.min, date(1899, 12, 31), date(2201, 1, 1), date.max])
def test_far_dates_reaching_the_team_through_the_api_are_invalid_values(
    bench: Bench, day: date
) -> None:
    clock = FakeClock(datetime(2024, 9, 20, 8, 0, tzinfo=UTC))
    with open_store(bench.store.location, clock=clock) as miljo:
        assignment = miljo.assign(
            COORDINATOR, school=SCHOOL, member_id=MEMBERS[1], target_kind="school",
            minutes_per_week=60, valid_from=date(2024, 8, 19),
        )  # fmt: skip
        before = miljo.event_count()
        for name, command in FAR_TEAM_COMMANDS.items():
            with pytest.raises(InvalidValue, match=f"{EARLIEST_YEAR}-{LATEST_YEAR}"):
                command(miljo, day, assignment)
            assert miljo.event_count() == before, name


@pytest.mark.parametrize(
    "instant",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1899-12-31T12:00:00+00:00"],
    ids=["before-year-one-in-utc", "after-date-max-in-utc", "before-1900"],
)
def test_an_instant_outside_the_years_is_refused(bench: Bench, instant: str) -> None:
    """Was exit 1 "internal error (OverflowError)": converting to UTC fell before year 1."""
    before = bench.stored()
    result = bench.invoke(
        COORDINATOR_AS,
        ["student", "observe", "--school", SCHOOL, "S-1", "--arena", "break",
         "--category", "conflict", "--text", f"{SECRET} uro", "--observed-at", instant],
    )  # fmt: skip
    line = refused_as_usage_error(bench, before, result)
    assert f"{EARLIEST_YEAR}-{LATEST_YEAR}" in line


@pytest.mark.parametrize(
    "observed_at",
    [datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
     datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
     datetime(1899, 12, 31, 12, tzinfo=UTC)],
    ids=["before-year-one-in-utc", "after-date-max-in-utc", "before-1900"],
)  # fmt: skip
def test_an_instant_outside_the_years_is_an_invalid_value_in_the_api(
    bench: Bench, observed_at: datetime
) -> None:
    with open_store(bench.store.location, clock=FakeClock()) as miljo:
        [student, *_] = miljo.students_of(ADMIN, SCHOOL)
        before = miljo.event_count()
        with pytest.raises(InvalidValue, match=f"{EARLIEST_YEAR}-{LATEST_YEAR}") as refused:
            miljo.record_observation(
                COORDINATOR, student, arena="break", categories=["conflict"],
                text=f"{SECRET} uro", observed_at=observed_at,
            )  # fmt: skip
        assert refused.value.what == "observed time"
        assert miljo.event_count() == before


@pytest.mark.parametrize(
    "hours", ["9e999999999", "9E+999999", "1" + "0" * 40, "1e-999999999", "7.5" + "0" * 80 + "1"]
)
def test_huge_or_tiny_hours_exponent_is_usage_error(bench: Bench, hours: str) -> None:
    """Was exit 1 "internal error (Overflow)": hours times 60 overflowed the decimal context
    (and 1e-999999999 hours silently became 0 minutes)."""
    before = bench.stored()
    result = bench.invoke(
        COORDINATOR_AS,
        ["team", "assign", "--school", SCHOOL, MEMBERS[1], "--target", "school",
         "--hours", hours, "--from", "2024-08-19"],
    )  # fmt: skip
    line = refused_as_usage_error(bench, before, result)
    assert "--hours" in line


@pytest.mark.parametrize(
    "args",
    [
        ("student", "register", "--school", SCHOOL, "S-1\n", "--name", f"{SECRET} Dobbel",
         "--trinn", "8", "--class", "8a"),
        ("student", "register", "--school", SCHOOL + "\n", "N-9", "--name", f"{SECRET} Ny",
         "--trinn", "8", "--class", "8a"),
        ("school", "register", SCHOOL + "\n", "--name", f"{SECRET} skule", "--trinn", "8-10"),
        ("school", "add-class", SCHOOL, "8a\n", "--trinn", "8"),
    ],
    ids=["student-number", "school-code", "new-school-code", "new-class"],
)  # fmt: skip
def test_identifiers_with_a_trailing_newline_are_malformed(
    bench: Bench, args: tuple[str, ...]
) -> None:
    """Was exit 0: '^...$' with re.match accepts a final newline, so 'S-1\\n' registered a
    second student S-1 (and 'gjesdal\\n' a second school)."""
    before = bench.stored()
    result = bench.invoke(ADMIN_AS, args)
    line = refused_as_usage_error(bench, before, result)
    assert line.startswith("miljo: error: invalid "), line


def test_a_person_id_with_a_trailing_newline_is_malformed(bench: Bench) -> None:
    before = bench.stored()
    result = bench.invoke(
        "miljokoordinator:gj-mt1\n",
        ["student", "observe", "--school", SCHOOL, "S-1", "--arena", "break",
         "--category", "conflict", "--text", f"{SECRET} uro"],
    )  # fmt: skip
    line = refused_as_usage_error(bench, before, result)
    assert "person id" in line
    with open_store(bench.store.location, clock=FakeClock()) as miljo:
        with pytest.raises(InvalidValue, match="person id"):
            miljo.add_member(
                ADMIN, school=SCHOOL, member_id=MEMBERS[1] + "\n", profession="sosionom",
                position_percent="50",
            )  # fmt: skip
        assert len(miljo.students_of(ADMIN, SCHOOL)) == 3  # no second S-1 either


#: Control characters that str.split() counts as white space (VT, FF, FS, GS, RS, US).
SPLIT_CONTROLS: Final = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f"]


@pytest.mark.parametrize("control", SPLIT_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_roster_refuses_control_characters_that_split_counts_as_space(
    bench: Bench, control: str, tmp_path: Path
) -> None:
    """Were imported as a space where the command line refuses the same name (exit 2)."""
    data = _csv(
        [HEADER, ["R-1", f"{SECRET} Ok", "8", "8a"], ["R-2", f"{SECRET}{control}Feil", "8", "8b"]]
    ).encode()
    before = bench.stored()
    with (
        open_store(bench.store.location, clock=FakeClock()) as miljo,
        pytest.raises(RosterInvalid) as refused,
    ):
        import_roster(miljo, ADMIN, school=SCHOOL, data=data, source="elever.csv")
    assert [str(p) for p in refused.value.problems] == [
        "line 3: name must not contain control characters"
    ]
    assert bench.stored() == before
    path = tmp_path / "elever.csv"
    path.write_bytes(data)
    result = bench.invoke(ADMIN_AS, ["import", "roster", str(path), "--school", SCHOOL])
    line = refused_as_usage_error(bench, before, result)
    assert "line 3: name must not contain control characters" in line
    # The command line refuses the same name the same way.
    result = bench.invoke(
        ADMIN_AS,
        ["student", "register", "--school", SCHOOL, "R-2", "--name", f"{SECRET}{control}Feil",
         "--trinn", "8", "--class", "8b"],
    )  # fmt: skip
    assert "must not contain control characters" in refused_as_usage_error(bench, before, result)


def test_roster_still_collapses_white_space_in_names(bench: Bench) -> None:
    """Tabs, no-break and other spaces are white space, not control characters: collapsed."""
    data = _csv([HEADER, ["R-3", f" {SECRET}\tÅse\u00a0 Nordmæla\u2003", "8", "8a"]]).encode()
    with open_store(bench.store.location, clock=FakeClock()) as miljo:
        imported = import_roster(miljo, ADMIN, school=SCHOOL, data=data, source="elever.csv")
        assert (imported.rows, imported.registered) == (1, 1)
        student = miljo.find_student(ADMIN, school=SCHOOL, student_number="R-3")
        assert miljo.student_case(COORDINATOR, student).name == f"{SECRET} Åse Nordmæla"


# ---------------------------------------------------------------------------------------------
# Known failures (reported; see docs/reliability.md)
# ---------------------------------------------------------------------------------------------

VEDTAK_HOURS: Final = HoursByCompetence.from_hours(miljoterapeut=380)


def _decided_vedtak(miljo: Miljo, clock: FakeClock, student: UUID, valid_to: date) -> UUID:
    vedtak = miljo.open_vedtak(REKTOR, student, kind="individually_adapted_education")
    miljo.record_recommendation(
        REKTOR, vedtak, recommended_on=date(2024, 9, 20), hours=VEDTAK_HOURS, summary="Tilråding"
    )
    clock.advance(days=1)
    miljo.decide_vedtak(
        REKTOR, vedtak, hours=VEDTAK_HOURS, organisation="Miljøterapeut i klassen",
        content="Støtte i friminutt", reasons="Sakkyndig vurdering", valid_from=date(2024, 9, 23),
        valid_to=valid_to,
    )  # fmt: skip
    return vedtak


VEDTAK_FAR_DATES: Final[dict[str, tuple[date, Callable[[Miljo, UUID], object]]]] = {
    "valid_to": (
        date(2025, 6, 20),
        lambda m, v: m.amend_vedtak(
            REKTOR,
            v,
            hours=HoursByCompetence.from_hours(miljoterapeut=380),
            organisation="I klassen",
            content="Sosial trening",
            reasons="Behov",
            valid_to=date.max,
        ),
    ),
    "notice": (
        date(2025, 6, 20),
        lambda m, v: m.send_vedtak_notice(REKTOR, v, notice_date=date(9999, 12, 30)),
    ),
    "delivery": (
        date(2025, 6, 20),
        lambda m, v: m.record_delivery(
            COORDINATOR, v, week_of=date(9999, 12, 27), minutes=HoursByCompetence()
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(VEDTAK_FAR_DATES))
def test_far_dates_reaching_a_vedtak_through_the_api_are_invalid_values(
    bench: Bench, case: str
) -> None:
    clock = FakeClock(datetime(2024, 9, 20, 8, 0, tzinfo=UTC))
    valid_to, command = VEDTAK_FAR_DATES[case]
    with open_store(bench.store.location, clock=clock) as miljo:
        [student, *_] = miljo.students_of(ADMIN, SCHOOL)
        vedtak = _decided_vedtak(miljo, clock, student, valid_to)
        before = miljo.event_count()
        with pytest.raises(InvalidValue, match=f"{EARLIEST_YEAR}-{LATEST_YEAR}"):
            command(miljo, vedtak)
        assert miljo.event_count() == before
