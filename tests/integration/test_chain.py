"""The tamper-evident chain: written with the events, verified with the sealing key alone,
exported for an auditor who verifies independently (tools/verify_export.py)."""

from __future__ import annotations

import hmac
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.audit import export_store, verify_store
from adapters.bootstrap import StoreError, StoreLocation, init_store, open_store, resolve_store
from adapters.chain import GENESIS, compute_link, hmac_sha256
from adapters.keys import SEALING_KEY, read_key
from domain.facade import Miljo
from domain.school import School, school_id
from tests.support import ADMIN, REKTOR, FakeClock, SequentialIds

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "verify_export.py"


def build(location: StoreLocation, students: int = 6) -> None:
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        populate(miljo, students)


def populate(miljo: Miljo, students: int) -> None:
    miljo.register_school(
        ADMIN, code="gjesdal", name="Gjesdal ungdomsskole", first_trinn=8, last_trinn=10
    )
    miljo.add_class(ADMIN, school="gjesdal", trinn=8, class_name="8c")
    for n in range(students):
        sid = miljo.register_student(
            ADMIN,
            school="gjesdal",
            student_number=f"24-{n:04d}",
            name=f"Elev Nummer{n}",
            trinn=8,
            class_name="8c",
        )
        miljo.record_observation(
            REKTOR, sid, arena="break", categories=["conflict"], text=f"Uro {n}"
        )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> StoreLocation:
    location = resolve_store(tmp_path_factory.mktemp("pristine") / "miljo.sqlite")
    init_store(location)
    build(location)
    return location


@pytest.fixture
def location(pristine: StoreLocation, tmp_path: Path) -> StoreLocation:
    """A private copy of the pristine store (file and keys) to tamper with."""
    assert pristine.db_path is not None
    assert pristine.keys_dir is not None
    copy = resolve_store(tmp_path / "miljo.sqlite")
    assert copy.db_path is not None
    assert copy.keys_dir is not None
    with sqlite3.connect(pristine.db_path) as source, sqlite3.connect(copy.db_path) as target:
        source.backup(target)
    copy.keys_dir.mkdir()
    for key in pristine.keys_dir.iterdir():
        (copy.keys_dir / key.name).write_bytes(key.read_bytes())
    return copy


def db_of(location: StoreLocation) -> sqlite3.Connection:
    assert location.db_path is not None
    return sqlite3.connect(location.db_path, isolation_level=None)


def rows(location: StoreLocation) -> list[tuple[int, str, int, str, bytes]]:
    with db_of(location) as db:
        return [
            (int(r[0]), r[1], int(r[2]), r[3], bytes(r[4]))
            for r in db.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                "FROM stored_events ORDER BY rowid"
            )
        ]


def test_an_intact_store_verifies(location: StoreLocation) -> None:
    result = verify_store(location)
    assert result.ok, result.reason
    assert result.checked == len(rows(location)) == result.head_position


def key_and_links(location: StoreLocation) -> tuple[bytes, list[bytes]]:
    """The store's sealing key and its stored links, in position order."""
    assert location.keys_dir is not None
    key = read_key(location.keys_dir, SEALING_KEY)
    with db_of(location) as db:
        links = [bytes(r[0]) for r in db.execute("SELECT link FROM miljo_chain ORDER BY position")]
    return key, links


def test_links_are_the_documented_hmac(location: StoreLocation) -> None:
    """Recompute the first links by the formula in docs/audit-export.md."""
    key, links = key_and_links(location)
    previous = GENESIS
    for (position, originator, version, topic, state), link in zip(
        rows(location), links, strict=True
    ):
        previous = compute_link(key, previous, position, originator, version, topic, state)
        assert previous == link


@settings(max_examples=200, deadline=None)
@given(key=st.binary(max_size=200), message=st.binary(max_size=3000))
def test_the_links_hmac_is_the_standard_one(key: bytes, message: bytes) -> None:
    """The chain's HMAC from cached key pads is RFC 2104 HMAC-SHA256 as the standard
    library computes it, for keys shorter, as long as and longer than a block (64 bytes),
    also when the same key is used again (its cached pads are copied, never changed)."""
    expected = hmac.digest(key, message, "sha256")
    assert hmac_sha256(key, message) == expected
    assert hmac_sha256(key, b"other" + message) == hmac.digest(key, b"other" + message, "sha256")
    assert hmac_sha256(key, message) == expected


def test_stored_links_are_the_standard_hmac_of_the_documented_message(
    location: StoreLocation,
) -> None:
    """Independently of compute_link: the stored links are the standard library's
    HMAC-SHA256 over the message docs/audit-export.md defines."""
    key, links = key_and_links(location)
    previous = GENESIS
    for (position, originator, version, topic, state), link in zip(
        rows(location), links, strict=True
    ):
        message = (
            previous
            + position.to_bytes(8, "big")
            + UUID(str(originator)).bytes
            + version.to_bytes(8, "big")
            + len(topic.encode()).to_bytes(4, "big")
            + topic.encode()
            + len(state).to_bytes(4, "big")
            + state
        )
        previous = hmac.digest(key, message, "sha256")
        assert previous == link


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_flipping_any_byte_of_a_stored_event_is_detected(
    location: StoreLocation, data: st.DataObject
) -> None:
    stored = rows(location)
    position, _originator, version, topic, state = data.draw(st.sampled_from(stored))
    column = data.draw(st.sampled_from(["state", "topic", "originator_version"]))
    change: tuple[str, object]
    restore: tuple[str, object]
    if column == "state":
        index = data.draw(st.integers(0, len(state) - 1))
        flipped = bytearray(state)
        flipped[index] ^= 1 << data.draw(st.integers(0, 7))
        change, restore = ("state", bytes(flipped)), ("state", state)
    elif column == "topic":
        change, restore = ("topic", topic + "x"), ("topic", topic)
    else:
        change, restore = ("originator_version", version + 1000), ("originator_version", version)
    update = {  # column names from this fixed set only
        "state": "UPDATE stored_events SET state = ? WHERE rowid = ?",
        "topic": "UPDATE stored_events SET topic = ? WHERE rowid = ?",
        "originator_version": "UPDATE stored_events SET originator_version = ? WHERE rowid = ?",
    }
    with db_of(location) as db:  # committed, so the verifier's own connection sees it
        db.execute(update[change[0]], (change[1], position))
        result = verify_store(location)
        db.execute(update[restore[0]], (restore[1], position))
    assert verify_store(location).ok  # restored for the next example
    assert not result.ok
    assert result.first_failure == position
    assert result.checked == position - 1


@pytest.mark.parametrize("which", ["first", "middle"])
def test_deleting_a_row_is_detected(location: StoreLocation, which: str) -> None:
    stored = rows(location)
    position = stored[0][0] if which == "first" else stored[len(stored) // 2][0]
    with db_of(location) as db:
        db.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
    result = verify_store(location)
    assert not result.ok
    assert result.first_failure == position


def test_deleting_a_row_and_its_link_is_detected_at_the_next_row(location: StoreLocation) -> None:
    stored = rows(location)
    position = stored[3][0]
    with db_of(location) as db:
        db.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
        db.execute("DELETE FROM miljo_chain WHERE position = ?", (position,))
    result = verify_store(location)
    assert not result.ok
    assert result.first_failure == stored[4][0]


def test_deleting_the_newest_row_leaves_an_orphan_link(location: StoreLocation) -> None:
    last = rows(location)[-1][0]
    with db_of(location) as db:
        db.execute("DELETE FROM stored_events WHERE rowid = ?", (last,))
    result = verify_store(location)
    assert (result.ok, result.first_failure) == (False, last)


def test_cutting_off_the_tail_shows_against_an_exported_head(
    location: StoreLocation, tmp_path: Path
) -> None:
    """Truncation (events and links) is only visible against a head recorded elsewhere."""
    before = export_store(location, tmp_path / "before.jsonl")
    last = rows(location)[-1][0]
    with db_of(location) as db:
        db.execute("DELETE FROM stored_events WHERE rowid = ?", (last,))
        db.execute("DELETE FROM miljo_chain WHERE position = ?", (last,))
    after = verify_store(location)
    assert after.ok  # the shortened chain is consistent in itself ...
    assert (after.head_position, after.head_link.hex()) != (
        before.head_position,
        before.head_link,
    )  # ... but its head is not the one the auditor recorded


def test_reordering_rows_is_detected(location: StoreLocation) -> None:
    stored = rows(location)
    a, b = stored[2], stored[5]
    with db_of(location) as db:
        db.execute("BEGIN")
        for target, source in ((a, b), (b, a)):
            db.execute(
                "UPDATE stored_events SET originator_id = ?, originator_version = ?, "
                "topic = ?, state = ? WHERE rowid = ?",
                (source[1] + "-", source[2], source[3], source[4], target[0]),
            )
        db.execute("UPDATE stored_events SET originator_id = rtrim(originator_id, '-')")
        db.execute("COMMIT")
    result = verify_store(location)
    assert (result.ok, result.first_failure) == (False, a[0])


@pytest.mark.parametrize("with_link", [False, True])
def test_replaying_an_old_row_is_detected(location: StoreLocation, with_link: bool) -> None:
    stored = rows(location)
    old = stored[1]
    with db_of(location) as db:
        # The same payload again as a "new" version of its stream, at the end of the log.
        db.execute(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?)",
            (old[1], old[2] + 100, old[3], old[4]),
        )
        new_position = int(db.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0])
        if with_link:
            link = db.execute("SELECT link FROM miljo_chain WHERE position = ?", (old[0],))
            db.execute(
                "INSERT INTO miljo_chain (position, link) VALUES (?, ?)",
                (new_position, link.fetchone()[0]),
            )
    result = verify_store(location)
    assert (result.ok, result.first_failure) == (False, new_position)


def test_a_refused_save_writes_no_link(location: StoreLocation) -> None:
    """The link is written in the events' transaction: a conflicting save leaves neither."""
    with open_store(location, clock=FakeClock()) as miljo:
        before = miljo.event_count()
        school: object = miljo.app.repository.get(school_id("gjesdal"))
        assert isinstance(school, School)
        stale: object = miljo.app.repository.get(school_id("gjesdal"))
        assert isinstance(stale, School)
        school.add_class(trinn=9, class_name="9a", actor=ADMIN, at=FakeClock().now())
        miljo.app.save(school)
        stale.add_class(trinn=9, class_name="9b", actor=ADMIN, at=FakeClock().now())
        with pytest.raises(IntegrityError):
            miljo.app.save(stale)
        assert miljo.event_count() == before + 1
    with db_of(location) as db:
        links = db.execute("SELECT COUNT(*) FROM miljo_chain").fetchone()[0]
    assert links == before + 1
    assert verify_store(location).ok


def test_export_verifies_with_the_standalone_tool(location: StoreLocation, tmp_path: Path) -> None:
    assert location.keys_dir is not None
    export = tmp_path / "export.jsonl"
    summary = export_store(location, export)
    lines = export.read_text(encoding="utf-8").splitlines()
    header, trailer = json.loads(lines[0]), json.loads(lines[-1])
    assert header == {
        "format": "miljo-audit-export",
        "version": 1,
        "chain": "HMAC-SHA256, see docs/audit-export.md",
        "events": summary.events,
    }
    assert trailer == {"head_position": summary.head_position, "head_link": summary.head_link}
    assert set(json.loads(lines[1])) == {
        "position",
        "originator_id",
        "version",
        "topic",
        "state",
        "link",
    }
    ok = run_tool(export, location.keys_dir / SEALING_KEY)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["checked"] == summary.events

    # A tampered export fails the tool at the changed line.
    record = json.loads(lines[3])
    record["topic"] = record["topic"] + "x"
    lines[3] = json.dumps(record)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n", encoding="utf-8")
    broken = run_tool(tampered, location.keys_dir / SEALING_KEY)
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["first_failure"] == record["position"]


def test_export_refuses_to_overwrite(location: StoreLocation, tmp_path: Path) -> None:
    target = tmp_path / "export.jsonl"
    target.write_text("keep me", encoding="utf-8")
    with pytest.raises(StoreError, match="refusing to overwrite"):
        export_store(location, target)
    assert target.read_text(encoding="utf-8") == "keep me"


def test_verify_without_the_sealing_key_is_a_store_error(location: StoreLocation) -> None:
    assert location.keys_dir is not None
    (location.keys_dir / SEALING_KEY).unlink()
    with pytest.raises(StoreError, match=r"sealing\.key is missing"):
        verify_store(location)


def test_an_in_memory_store_has_no_chain() -> None:
    with pytest.raises(StoreError, match="in-memory"):
        verify_store(resolve_store(":memory:"))


def run_tool(export: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), str(export), str(key)],
        capture_output=True,
        text=True,
        check=False,
    )
