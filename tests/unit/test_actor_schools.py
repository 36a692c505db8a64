"""The schools an actor acts for (domain.values.Actor.schools) and the ``--as`` text format
``ROLE:PERSON-ID[@SCHOOL[,SCHOOL...]]`` (``Actor.parse``)."""

from __future__ import annotations

import pytest

from domain.errors import InvalidValue
from domain.values import Actor, Role


def test_an_actor_has_no_schools_unless_given() -> None:
    assert Actor("p-1", Role.ADMIN).schools == frozenset()


def test_schools_are_checked_codes_and_frozen() -> None:
    actor = Actor("p-1", Role.REKTOR, schools=["gjesdal", "sandnes", "gjesdal"])
    assert actor.schools == frozenset({"gjesdal", "sandnes"})
    assert isinstance(actor.schools, frozenset)
    assert actor == Actor("p-1", Role.REKTOR, schools={"sandnes", "gjesdal"})
    assert hash(actor) == hash(Actor("p-1", Role.REKTOR, schools=("sandnes", "gjesdal")))
    assert actor != Actor("p-1", Role.REKTOR, schools={"gjesdal"})


@pytest.mark.parametrize("schools", [["Gjesdal"], ["gjesdal\n"], [""], ["x"], [7]])
def test_a_school_that_is_not_a_code_is_refused(schools: list[object]) -> None:
    with pytest.raises(InvalidValue, match="school code"):
        Actor("p-1", Role.REKTOR, schools=schools)  # type: ignore[arg-type]  # tested refusal


def test_a_bare_string_is_refused_not_split_into_letters() -> None:
    with pytest.raises(InvalidValue, match="actor schools"):
        Actor("p-1", Role.REKTOR, schools="gjesdal")


def test_schools_are_a_keyword() -> None:
    with pytest.raises(TypeError):
        Actor("p-1", Role.REKTOR, frozenset({"gjesdal"}))  # type: ignore[call-arg]  # tested refusal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("admin:p-admin", Actor("p-admin", Role.ADMIN)),
        ("rektor:p-1@gjesdal", Actor("p-1", Role.REKTOR, schools={"gjesdal"})),
        (
            "miljokoordinator:p-17@gjesdal,sandnes-us",
            Actor("p-17", Role.MILJOKOORDINATOR, schools={"gjesdal", "sandnes-us"}),
        ),
        ("laerer:p-2", Actor("p-2", Role.LAERER)),  # the format allows it; the CLI refuses it
    ],
)
def test_parse(text: str, expected: Actor) -> None:
    assert Actor.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("rektor:p-1@", "actor schools"),
        ("rektor:p-1@gjesdal,", "actor schools"),
        ("rektor:p-1@,gjesdal", "actor schools"),
        ("rektor:p-1@Gjesdal", "school code"),
        ("rektor:p-1@gjesdal sandnes", "school code"),
        ("rektor:p-1@gjesdal@sandnes", "school code"),
        ("rektor:@gjesdal", "person id"),
        ("rektor", "actor"),
        ("sjef:p-1@gjesdal", "actor role"),
    ],
)
def test_parse_refuses(text: str, what: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        Actor.parse(text)
    assert refused.value.what == what
