"""School: given events, when command, then events or error."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.errors import AlreadyExists, InvalidValue, NotFound
from domain.school import School, school_id
from tests.support import ADMIN, T0, TestHasher, new_events, replay


def registered() -> School:
    school = School.register(
        code="gjesdal",
        name="Gjesdal ungdomsskole",
        first_trinn=8,
        last_trinn=10,
        actor=ADMIN,
        at=T0,
    )
    new_events(school)
    return school


def test_register_records_event_with_actor_and_time() -> None:
    school = School.register(
        code="gjesdal",
        name="Gjesdal ungdomsskole",
        first_trinn=8,
        last_trinn=10,
        actor=ADMIN,
        at=T0,
    )
    [event] = new_events(school)
    assert isinstance(event, School.Registered)
    assert event.originator_id == school_id("gjesdal")
    assert (event.actor_id, event.actor_role, event.timestamp) == ("p-admin", "admin", T0)
    assert (school.first_trinn, school.last_trinn) == (8, 10)


@pytest.mark.parametrize(
    ("code", "first", "last"),
    [("Gjesdal", 8, 10), ("g", 8, 10), ("gjesdal", 0, 10), ("gjesdal", 10, 8), ("gjesdal", 8, 14)],
)
def test_register_rejects_bad_values(code: str, first: int, last: int) -> None:
    with pytest.raises(InvalidValue):
        School.register(code=code, name="X", first_trinn=first, last_trinn=last, actor=ADMIN, at=T0)


def test_add_class_within_trinn_range() -> None:
    school = registered()
    school.add_class(trinn=8, class_name="8c", actor=ADMIN, at=T0)
    [event] = new_events(school)
    assert isinstance(event, School.ClassAdded)
    assert school.classes == {"8c": 8}
    school.check_class(8, "8c")
    with pytest.raises(NotFound):
        school.check_class(9, "8c")


def test_add_class_outside_range_is_refused() -> None:
    school = registered()
    with pytest.raises(InvalidValue, match="trinn"):
        school.add_class(trinn=7, class_name="7a", actor=ADMIN, at=T0)
    assert new_events(school) == []


def test_duplicate_class_is_refused() -> None:
    school = registered()
    school.add_class(trinn=8, class_name="8c", actor=ADMIN, at=T0)
    with pytest.raises(AlreadyExists):
        school.add_class(trinn=8, class_name="8c", actor=ADMIN, at=T0)


def test_student_number_is_unique_and_held_as_keyed_hash() -> None:
    school = registered()
    key = TestHasher().digest("student-number:gjesdal", "12345")
    sid = UUID(int=7)
    school.enrol(student_id=sid, number_key=key, actor=ADMIN, at=T0)
    [event] = new_events(school)
    assert isinstance(event, School.StudentEnrolled)
    assert "12345" not in repr(vars(event))
    assert event.subject_id() == sid
    with pytest.raises(AlreadyExists):
        school.enrol(student_id=UUID(int=8), number_key=key, actor=ADMIN, at=T0)
    assert school.student_by_key(key) == sid


def test_departure_requires_active_student() -> None:
    school = registered()
    with pytest.raises(NotFound):
        school.record_departure(student_id=UUID(int=7), actor=ADMIN, at=T0)


def test_replay_rebuilds_equal_state() -> None:
    school = School.register(
        code="gjesdal",
        name="Gjesdal ungdomsskole",
        first_trinn=8,
        last_trinn=10,
        actor=ADMIN,
        at=T0,
    )
    school.add_class(trinn=9, class_name="9a", actor=ADMIN, at=T0)
    school.enrol(student_id=UUID(int=1), number_key="k1", actor=ADMIN, at=T0)
    school.record_departure(student_id=UUID(int=1), actor=ADMIN, at=T0)
    events = new_events(school)
    assert replay(events) == school
