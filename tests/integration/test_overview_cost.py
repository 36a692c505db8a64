"""The overview's reads follow the school's current size, not its students one by one or its
history (domain/overview.py, docs/adr/0014-fast-view-rebuild.md).

No timing here: the test counts what ``compute_overview`` asks the view store for. Adding
students must not add queries (no per-student selects), and history that is over (concerns
discussed, meetings held, assignments ended, students departed) must add neither queries nor
rows read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from datetime import date, timedelta
from typing import Any

from domain.facade import Miljo
from domain.overview import compute_overview
from tests.integration.conftest import GJESDAL, Gjesdal
from tests.support import ADMIN, COORDINATOR, FakeClock

ON = date(2025, 1, 6)


class CountingReader:
    """A ViewReader that counts calls and rows read, by method and table."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.rows = 0

    def _count(self, name: str, result: Any) -> Any:
        self.calls[name] += 1
        if isinstance(result, list):  # rows (counts by category or type are not rows)
            self.rows += len(result)
        return result

    def select(self, table: str, where: Mapping[str, object]) -> list[dict[str, Any]]:
        return self._count(f"select {table}", self.inner.select(table, where))  # type: ignore[no-any-return]  # the inner store's rows

    def select_in_force(
        self, table: str, where: Mapping[str, object], *, on: str
    ) -> list[dict[str, Any]]:
        found = self.inner.select_in_force(table, where, on=on)
        return self._count(f"select_in_force {table}", found)  # type: ignore[no-any-return]  # the inner store's rows

    def latest(
        self, table: str, where: Mapping[str, object], column: str, *, before: str | None = None
    ) -> Any:
        found = self.inner.latest(table, where, column, before=before)
        return self._count(f"latest {table}", found)

    def select_range(
        self,
        table: str,
        where: Mapping[str, object],
        column: str,
        *,
        after: str | None,
        before: str | None,
    ) -> list[dict[str, Any]]:
        found = self.inner.select_range(table, where, column, after=after, before=before)
        return self._count(f"select_range {table}", found)  # type: ignore[no-any-return]  # the inner store's rows

    def select_any(self, table: str, column: str, values: Collection[str]) -> list[dict[str, Any]]:
        found = self.inner.select_any(table, column, values)
        return self._count(f"select_any {table}", found)  # type: ignore[no-any-return]  # the inner store's rows

    def observation_counts(
        self,
        *,
        school: str,
        since: str | None,
        students: Collection[str],
        before: str | None = None,
    ) -> dict[str, int]:
        found = self.inner.observation_counts(
            school=school, since=since, students=students, before=before
        )
        return self._count("observation_counts", found)  # type: ignore[no-any-return]  # the counts

    def event_type_counts(
        self, *, school: str, since: str | None, before: str | None = None
    ) -> dict[str, int]:
        found = self.inner.event_type_counts(school=school, since=since, before=before)
        return self._count("event_type_counts", found)  # type: ignore[no-any-return]  # the counts


def reads(miljo: Miljo, on: date = ON) -> CountingReader:
    miljo.catch_up()
    reader = CountingReader(miljo.views)
    compute_overview(reader, school=GJESDAL, on=on)
    return reader


def register(miljo: Miljo, n: int, class_name: str = "8a") -> Any:
    return miljo.register_student(
        ADMIN,
        school=GJESDAL,
        student_number=f"GJ-{n:04d}",
        name=f"Elev Prøvesen {n}",
        trinn=int(class_name[:-1]),
        class_name=class_name,
        registered_on=date(2024, 8, 19),
    )


def test_more_students_do_not_mean_more_queries(store: Miljo, gjesdal: Gjesdal) -> None:
    for n in range(3):
        register(store, n)
    few = reads(store)
    for n in range(3, 40):
        register(store, n, "9b")
    many = reads(store)
    assert many.calls == few.calls
    # the new students' own rows and placements (their class on the day), nothing per student
    assert many.rows == few.rows + 2 * 37


def test_history_that_is_over_adds_no_queries_and_no_rows(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    students = [register(store, n) for n in range(4)]
    before = reads(store)
    # A term of history that is over by the day of the overview.
    for week in range(12):
        clock.advance(days=7)
        monday = date(2024, 8, 26) + timedelta(days=7 * week)
        student = students[week % len(students)]
        concern = store.raise_concern(COORDINATOR, student, summary="Uro i timen")
        meeting = store.schedule_meeting(
            COORDINATOR, school=GJESDAL, kind="teammote", scheduled_at=clock.now()
        )
        store.add_agenda_item(
            COORDINATOR,
            meeting,
            subject_kind="student",
            title="Uro",
            student_id=student,
            concern_id=concern,
        )
        store.record_meeting_held(COORDINATOR, meeting, held_at=clock.now())  # discusses it
        store.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-mt2",
            target_kind="class",
            trinn=8,
            class_name="8a",
            minutes_per_week=30,
            valid_from=monday,
            valid_to=monday + timedelta(days=4),
        )
        leaver = register(store, 100 + week, "10a")
        store.record_departure(ADMIN, leaver, kind="left", on=monday)
    after = reads(store)
    assert after.calls == before.calls
    assert after.rows == before.rows


def hold_meeting_with_open_action(miljo: Miljo, clock: FakeClock, student: Any) -> None:
    """A held ressursteam whose measure for ``student`` is still open (not completed)."""
    clock.advance(days=7)
    meeting = miljo.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="ressursteam", scheduled_at=clock.now()
    )
    item = miljo.add_agenda_item(
        COORDINATOR, meeting, subject_kind="student", title="Oppfølging", student_id=student
    )
    miljo.record_decision(
        COORDINATOR,
        meeting,
        item_id=item,
        outcome="measure",
        text="Vedtatt i møtet",
        responsible="gj-mt1",
        due=date(2025, 3, 1),
    )
    miljo.record_meeting_held(COORDINATOR, meeting, held_at=clock.now())


def test_open_actions_of_earlier_meetings_are_read_in_one_query(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    """Actions still open from meetings held long ago need their meeting (was it cancelled?)
    and, for one trinn, their agenda item: read for all of them at once, not per meeting."""
    students = [register(store, n) for n in range(4)]
    hold_meeting_with_open_action(store, clock, students[0])
    one = reads(store)
    one_trinn = CountingReader(store.views)
    compute_overview(one_trinn, school=GJESDAL, on=ON, trinn=8)
    for student in students[1:]:
        hold_meeting_with_open_action(store, clock, student)
    four = reads(store)
    four_trinn = CountingReader(store.views)
    overview = compute_overview(four_trinn, school=GJESDAL, on=ON, trinn=8)
    assert len(overview.open_actions) == 4
    assert four.calls == one.calls
    assert four_trinn.calls == one_trinn.calls
    assert one.calls["select_any meetings"] == 1
    assert one_trinn.calls["select_any agenda"] == 1
