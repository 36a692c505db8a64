"""What the protections cost inside a command (``bench/cost.py``, issue 5's cost clause).

* With the timers on, a real command on a real store (SQLite, and PostgreSQL when a server
  is given) records time in every protection component it passes through; a history read
  records the access log's entry too.
* On exit, also after an error, every patched class attribute is the original object again.
* Only the outermost protected frame counts, and an excluded frame inside one is taken out
  of it (fake functions on a fake clock).
* The benchmark's measurement on a small generated store has the protection rows, with
  positive values whose components add up to the total and a share in (0, 10).

No timing is asserted beyond "more than nothing".
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from adapters.bootstrap import StoreLocation, open_store  # noqa: E402
from adapters.chain import ChainedSQLiteApplicationRecorder  # noqa: E402
from bench import cost  # noqa: E402
from bench.common import SQLITE, Row  # noqa: E402
from bench.generate import Profile, build_into, load_manifest, store_files  # noqa: E402
from bench.measure import (  # noqa: E402
    PROTECTION_KEYS,
    MiljoConfig,
    measure_protection,
    measure_store,
)
from bench.raw import RawWriter, sqlite_env  # noqa: E402
from domain.facade import Miljo  # noqa: E402
from tests.integration.conftest import (  # noqa: E402
    build_gjesdal,
    observe_break,
    register_test_student,
    store_of_kind,
)
from tests.support import COORDINATOR, FakeClock, SequentialIds  # noqa: E402

PROTECTED = (cost.CIPHER, cost.KEYS, cost.CHAIN, cost.ACCESS)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def real_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Miljo]:
    """A store with the chain and the keyring (not the in-memory one), with Gjesdal."""
    with store_of_kind(request.param, request, tmp_path_factory) as location:
        assert location is not None
        with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
            build_gjesdal(miljo)
            yield miljo


def test_a_command_records_time_in_every_protection_it_passes(real_store: Miljo) -> None:
    student = register_test_student(real_store)
    observe_break(real_store, student)  # the student's keys exist and are cached
    with cost.protection_timers() as times:
        observe_break(real_store, student)
    for component in PROTECTED:
        assert times.seconds[component] > 0, component
    # the loads access control makes for the command are taken out of its time, and on
    # SQLite the library's own insert out of the chain's
    sqlite = isinstance(real_store.app.recorder, ChainedSQLiteApplicationRecorder)
    assert times.paused == (2 if sqlite else 1)
    assert times.seconds[cost.ACCESS_LOG] == 0  # a command writes no access log entry
    assert times.total == pytest.approx(sum(times.seconds.values()))
    with cost.protection_timers() as read:
        real_store.history(COORDINATOR, student)
    assert read.seconds[cost.ACCESS_LOG] > 0
    assert read.seconds[cost.ACCESS] > 0


def own_attributes() -> dict[tuple[type, str], object]:
    return {(cls, name): vars(cls).get(name) for cls, name, _ in cost.TARGETS}


def test_every_patched_attribute_is_the_original_again_also_after_an_error() -> None:
    before = own_attributes()
    assert all(value is not None for value in before.values())  # every target is its own
    with cost.protection_timers():
        during = own_attributes()
    assert all(during[key] is not before[key] for key in before)
    assert all(vars(cls)[name] is before[cls, name] for cls, name in before)
    with pytest.raises(ZeroDivisionError), cost.protection_timers():
        _ = 1 / 0
    after = own_attributes()
    assert all(after[key] is before[key] for key in before)
    with cost.protection_timers():  # released: the timers can be switched on again
        pass


def test_an_inherited_attribute_is_removed_again_and_timers_do_not_nest() -> None:
    class Base:
        def work(self) -> int:
            return 1

    class Sub(Base):
        pass

    targets: tuple[cost.Target, ...] = ((Sub, "work", cost.KEYS),)
    with cost.protection_timers(targets) as times:
        assert "work" in vars(Sub)
        assert Sub().work() == 1
        with pytest.raises(RuntimeError, match="already on"), cost.protection_timers(targets):
            pass
    assert "work" not in vars(Sub)
    assert times.seconds[cost.KEYS] > 0


class FakeSeconds:
    """Seconds that move only when a fake function says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


CLOCK = FakeSeconds()


class Keys:
    def get(self) -> None:
        CLOCK.now += 2


class Payload:
    def decrypt(self) -> None:  # a cipher that asks the keyring: 1 s of its own
        CLOCK.now += 1
        Keys().get()


class Library:
    def insert(self) -> None:  # the library's own insert: 10 s, encrypting inside (1 s)
        CLOCK.now += 10
        Cipher().encrypt()


class Cipher:
    def encrypt(self) -> None:
        CLOCK.now += 1


class Chain:
    def insert(self) -> None:  # the chain around the library's insert: 4 s of its own
        CLOCK.now += 3
        Library().insert()
        CLOCK.now += 1


FAKE_TARGETS: tuple[cost.Target, ...] = (
    (Keys, "get", cost.KEYS),
    (Payload, "decrypt", cost.CIPHER),
    (Cipher, "encrypt", cost.CIPHER),
    (Chain, "insert", cost.CHAIN),
    (Library, "insert", None),
)


def test_nested_frames_count_once_and_excluded_frames_not_at_all() -> None:
    CLOCK.now = 0.0
    with cost.protection_timers(FAKE_TARGETS, clock=CLOCK) as times:
        Payload().decrypt()  # cipher 3 (its keyring call is inside it), keys 0
        Keys().get()  # keys 2: outermost now
        Chain().insert()  # chain 4: the library's 10 s left out, its encryption: cipher 1
        Library().insert()  # outside any protection: only its encryption counts (cipher 1)
    assert times.seconds[cost.CIPHER] == 3 + 1 + 1
    assert times.seconds[cost.KEYS] == 2
    assert times.seconds[cost.CHAIN] == 4
    assert times.total == 11
    assert CLOCK.now == 3 + 2 + 15 + 11  # everything that ran


# ---------------------------------------------------------------------------------------------
# The benchmark's rows, on a small generated store
# ---------------------------------------------------------------------------------------------

SMALL = Profile(
    label="small",
    events=1_400,
    scale=1,
    students_factor=0.03,
    demo_until=date(2024, 8, 23),
    years=2,
    meeting_every=2,
    vedtak_share=0.1,
    concern_share=0.2,
    long_stream=60,
)
CONFIG = MiljoConfig(
    observe=20,
    assign=10,
    batches=2,
    overview_repeats=1,
    history_repeats=1,
    rebuild_repeats=1,
    cost_history=2,
)
KEYS = (
    "miljo.observe.protection",
    "miljo.observe.protection_share",
    "miljo.assign.protection",
    "miljo.assign.protection_share",
    "miljo.history.protection",
)
COMPONENTS = re.compile(r"(?P<parts>.+?) = (?P<total>[\d,]+) µs = (?P<share>[\d.]+) ")


def us(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.mark.slow
def test_the_measurement_has_the_protection_rows(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    build_into(folder, SMALL, 7, "test", quiet=True)
    location = StoreLocation(*store_files(folder))
    writer = RawWriter(sqlite_env(tmp_path / "raw.sqlite"))
    try:
        manifest = load_manifest(folder)
        rows = measure_store(location, manifest, CONFIG, writer.batch)
        assert not [row for row in rows if row.key in PROTECTION_KEYS]
        rows += measure_protection(location, manifest, CONFIG, writer.batch)
    finally:
        writer.close()
    found: dict[str, Row] = {row.key: row for row in rows}
    for key in KEYS:
        row = found[key]
        assert row.backend == SQLITE
        assert row.value is not None, (key, row.note)
        assert row.value > 0, (key, row.note)
    for command in ("observe", "assign", "history"):
        row = found[f"miljo.{command}.protection"]
        assert row.unit == "µs"
        assert row.value is not None
        match = COMPONENTS.match(row.note)
        assert match is not None, row.note
        parts = {
            name.strip(): us(value)
            for name, value in re.findall(r"([a-z ]+) ([\d,]+) µs", match["parts"])
        }
        assert set(parts) <= set(cost.COMPONENTS)
        assert row.value == pytest.approx(us(match["total"]), abs=0.5)
        # each shown component is rounded to a whole µs
        assert abs(sum(parts.values()) - row.value) <= 0.5 * len(parts) + 0.5
        share = float(match["share"])
        assert 0 < share < 10
        if command != "history":
            assert {cost.CIPHER, cost.KEYS, cost.CHAIN, cost.ACCESS} <= set(parts), row.note
            shown = found[f"miljo.{command}.protection_share"]
            assert shown.unit == "%"
            assert shown.value is not None
            assert 0 < shown.value / 100 < 10
            assert shown.value / 100 == pytest.approx(share, abs=0.006)
            timed = CONFIG.observe if command == "observe" else CONFIG.assign
            assert f"; {timed} commands with the timers on" in row.note, row.note
        else:
            assert cost.ACCESS_LOG in parts, row.note


def test_official_commands_refuse_to_run_with_the_timers_on() -> None:
    assert not cost.timers_on()
    with cost.protection_timers():
        assert cost.timers_on()
        with pytest.raises(RuntimeError, match="must not be timed"):
            cost.require_timers_off("the official record_observation")
    assert not cost.timers_on()
    cost.require_timers_off("the official record_observation")
