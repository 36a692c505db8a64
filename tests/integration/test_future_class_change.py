"""A class change takes effect on its date, not when it is recorded.

The class in force on a day is the one whose change is effective on or before that day; the
queries use the day they are asked about (the store's clock; the overview's ``on``; the
instant of an as-of read). Everything goes through the facade, on every store kind. Test data:
Gjesdal ungdomsskole (``conftest.build_gjesdal``); T0 is Monday 2024-08-19 08:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from domain.facade import Miljo
from domain.overview import Overview
from tests.integration.conftest import GJESDAL, Gjesdal
from tests.support import ADMIN, COORDINATOR, T0, FakeClock

TODAY = date(2024, 8, 19)  # T0's date
NEW_TERM = date(2025, 1, 6)  # the change takes effect at the start of the spring term


def kari(store: Miljo) -> UUID:
    return store.register_student(
        ADMIN,
        school=GJESDAL,
        student_number="1001",
        name="Kari Testesen",
        trinn=8,
        class_name="8c",
        registered_on=TODAY,
    )


def students_by_class(overview: Overview) -> dict[str, int]:
    return {c.class_name: c.students for t in overview.trinn_lines for c in t.classes if c.students}


def test_a_future_class_change_takes_effect_on_its_date(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    # given Kari in 8c, moved to 8d from the start of the spring term
    student = kari(store)
    store.change_class(ADMIN, student, trinn=8, class_name="8d", effective_from=NEW_TERM)
    # when the school asks today, then she is still in 8c
    assert store.student_summary(COORDINATOR, student).class_name == "8c"
    assert store.student_case(COORDINATOR, student).class_name == "8c"
    today = store.overview(COORDINATOR, school=GJESDAL)
    assert students_by_class(today) == {"8c": 1}
    # and the overview of a day in the spring term puts her in 8d
    spring = store.overview(COORDINATOR, school=GJESDAL, on=NEW_TERM)
    assert students_by_class(spring) == {"8d": 1}
    assert students_by_class(
        store.overview(COORDINATOR, school=GJESDAL, on=NEW_TERM - timedelta(1))
    ) == {"8c": 1}
    # when the store's clock reaches that day, then every query puts her in 8d
    clock.current = datetime(2025, 1, 6, 7, 0, tzinfo=UTC)
    assert store.student_summary(COORDINATOR, student).class_name == "8d"
    assert store.student_case(COORDINATOR, student).class_name == "8d"
    assert students_by_class(store.overview(COORDINATOR, school=GJESDAL)) == {"8d": 1}
    # and a read as of a day before it still shows 8c
    as_of = store.student_case_as_of(COORDINATOR, student, as_of=clock.current)
    assert as_of is not None
    assert as_of.class_name == "8d"
    earlier = store.student_case_as_of(COORDINATOR, student, as_of=T0 + timedelta(days=1))
    assert earlier is not None
    assert earlier.class_name == "8c"


def test_an_overview_before_registration_leaves_the_student_out(
    store: Miljo, gjesdal: Gjesdal
) -> None:
    kari(store)
    assert students_by_class(store.overview(COORDINATOR, school=GJESDAL)) == {"8c": 1}
    before = store.overview(COORDINATOR, school=GJESDAL, on=TODAY - timedelta(days=1))
    assert students_by_class(before) == {}
