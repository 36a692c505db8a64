"""adapters.roster: a roster is validated whole before anything is written, and importing it
again changes nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.bootstrap import open_store
from adapters.roster import (
    MAX_PROBLEMS_SHOWN,
    RosterInvalid,
    RosterRow,
    SchoolClasses,
    apply_import,
    import_roster,
    parse_roster,
    plan_import,
)
from domain.errors import AccessDenied, InvalidValue, NotFound
from domain.facade import Miljo
from domain.values import Actor, Role
from tests.support import (
    ADMIN,
    AUDITOR,
    COORDINATOR,
    INSPEKTOR,
    REKTOR,
    SPED_LEAD,
    TEACHER,
    THERAPIST,
    FakeClock,
    SequentialIds,
    TestHasher,
)

GJESDAL = SchoolClasses(
    code="gjesdal", first_trinn=8, last_trinn=10, classes={"8c": 8, "8d": 8, "9a": 9}
)
HEADER = "student_number,name,trinn,class\n"


def parse(text: str) -> list[RosterRow]:
    return parse_roster(text.encode("utf-8"), GJESDAL, source="test.csv")


def problems(text: str | bytes) -> list[str]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    with pytest.raises(RosterInvalid) as caught:
        parse_roster(data, GJESDAL, source="test.csv")
    return [str(p) for p in caught.value.problems]


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def test_valid_roster_with_bom_blank_lines_and_any_column_order() -> None:
    text = (
        "\ufeffClass, Trinn ,NAME,student_number\n\n"
        "8c,8, Åse  Nordmæla ,2001\n9a,9,Ærlig Øyen,A-7\n\n"
    )
    assert parse(text) == [
        RosterRow(line=3, student_number="2001", name="Åse Nordmæla", trinn=8, class_name="8c"),
        RosterRow(line=4, student_number="A-7", name="Ærlig Øyen", trinn=9, class_name="9a"),
    ]


def test_header_only_is_an_empty_roster() -> None:
    assert parse(HEADER) == []


def test_rows_of_empty_fields_are_blank_lines() -> None:
    assert parse(HEADER + ",,,\n2001,Åse,8,8c\n") == [
        RosterRow(line=3, student_number="2001", name="Åse", trinn=8, class_name="8c")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1: the file is empty; expected the header student_number,name,trinn,class"),
        ("student_number,name,class\n", "line 1: missing column(s): trinn"),
        ("student_number,name,trinn,class,note\n", "line 1: unexpected column(s): 'note'"),
        ("student_number,name,trinn,class,name\n", "line 1: repeated column(s): name"),
        (HEADER + "2001,Åse,8\n", "line 2: expected 4 fields, found 3"),
        (HEADER + "20 01,Åse,8,8c\n", "line 2: malformed student number"),
        (HEADER + ",Åse,8,8c\n", "line 2: missing student number"),
        (HEADER + "2001,  ,8,8c\n", "line 2: empty name"),
        (HEADER + "2001,Åse,åtte,8c\n", "line 2: trinn 'åtte' is not a whole number"),
        (HEADER + "2001,Åse,,8c\n", "line 2: no trinn"),
        (HEADER + "2001,Åse,11,8c\n", "line 2: trinn 11 is outside the school's trinn 8-10"),
        (HEADER + "2001,Åse,8,\n", "line 2: missing class"),
        (HEADER + "2001,Åse,8,8/c\n", "line 2: malformed class name"),
        (HEADER + "2001,Åse,10,10b\n", "line 2: class 10b does not exist at school gjesdal"),
        (HEADER + "2001,Åse,9,8c\n", "line 2: class 8c is in trinn 8, not 9"),
        (HEADER + "2001,Åse,8,8c\n2001,Bjørn,8,8d\n", "line 3: student number repeats line 2"),
        (HEADER + '2001,"Åse\nNordmæla",8,8c\n', "line 2: a field spans several lines"),
        (HEADER + '2001,"Åse,8,8c\n', "line 2: not valid CSV"),
        (HEADER + "2001,Åse\x07,8,8c\n", "line 2: name must not contain control characters"),
        (HEADER + "2001," + "Å" * 201 + ",8,8c\n", "line 2: name must be at most 200 characters"),
    ],
)
def test_each_problem_is_named_with_its_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_wrong_encoding_names_the_line() -> None:
    data = (HEADER + "2001,Ola,8,8c\n2002,Åse,8,8c\n").encode("cp1252")
    assert problems(data) == ["line 3: the file is not UTF-8 text; save it as UTF-8 (CSV UTF-8)"]


def test_every_row_is_checked_and_no_names_are_echoed() -> None:
    text = HEADER + "2001,Åse Nordmæla,8,8c\n2002,Bjørn,12,8c\nx x,Kari,8,9z\n"
    found = problems(text)
    assert found == [
        "line 3: trinn 12 is outside the school's trinn 8-10",
        "line 4: malformed student number (1-20 letters, digits or '-')",
        "line 4: class 9z does not exist at school gjesdal",
    ]
    with pytest.raises(RosterInvalid) as caught:
        parse(text)
    message = str(caught.value)
    assert isinstance(caught.value, InvalidValue)
    assert message.startswith("invalid roster test.csv: 3 problems, nothing imported: line 3")
    for name in ("Åse", "Bjørn", "Kari"):
        assert name not in message


def test_a_long_list_of_problems_is_shortened_in_the_message() -> None:
    rows = "".join(f"{n},Åse,8,9z\n" for n in range(1000, 1000 + MAX_PROBLEMS_SHOWN + 5))
    with pytest.raises(RosterInvalid) as caught:
        parse(HEADER + rows)
    assert len(caught.value.problems) == MAX_PROBLEMS_SHOWN + 5
    assert str(caught.value).endswith("; and 5 more")


NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyzæøåÆØÅ -'", min_size=1, max_size=40).filter(
    lambda s: s.strip() != ""
)
PLACES = st.sampled_from(sorted((trinn, name) for name, trinn in GJESDAL.classes.items()))


@st.composite
def rosters(draw: st.DrawFn) -> list[tuple[str, str, int, str]]:
    numbers = draw(
        st.lists(st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True), unique=True, max_size=15)
    )
    rows = []
    for number in numbers:
        trinn, class_name = draw(PLACES)
        rows.append((number, " ".join(draw(NAMES).split()), trinn, class_name))
    return rows


@settings(max_examples=60, deadline=None)
@given(rosters(), st.booleans())
def test_what_csv_writes_parses_back(rows: list[tuple[str, str, int, str]], bom: bool) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "class", "student_number", "trinn"])
    for number, name, trinn, class_name in rows:
        writer.writerow([name, class_name, number, trinn])
    data = ("\ufeff" if bom else "") + buffer.getvalue()
    parsed = parse_roster(data.encode("utf-8"), GJESDAL)
    assert [(r.student_number, r.name, r.trinn, r.class_name) for r in parsed] == rows
    assert [r.line for r in parsed] == list(range(2, len(rows) + 2))


# ---------------------------------------------------------------------------------------------
# Importing through the facade
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def miljo() -> Iterator[Miljo]:
    with open_store(
        ":memory:", clock=FakeClock(), ids=SequentialIds(), hasher=TestHasher()
    ) as facade:
        facade.register_school(
            ADMIN, code="gjesdal", name="Gjesdal ungdomsskole", first_trinn=8, last_trinn=10
        )
        for trinn, name in ((8, "8c"), (8, "8d"), (9, "9a")):
            facade.add_class(ADMIN, school="gjesdal", trinn=trinn, class_name=name)
        yield facade


ROSTER = (HEADER + "2001,Åse Nordmæla,8,8c\n2002,Bjørn Ærlig,8,8d\n2003,Siri Fjell,9,9a\n").encode()


def test_import_registers_every_new_student(miljo: Miljo) -> None:
    seen: list[int] = []
    report = import_roster(
        miljo, ADMIN, school="gjesdal", data=ROSTER, on_row=lambda row: seen.append(row.line)
    )
    assert (report.rows, report.registered, report.already_present) == (3, 3, 0)
    assert seen == [2, 3, 4]
    student = miljo.find_student(ADMIN, school="gjesdal", student_number="2002")
    case = miljo.student_case(COORDINATOR, student)  # admin reads no case content
    assert (case.name, case.trinn, case.class_name) == ("Bjørn Ærlig", 8, "8d")


def test_importing_again_changes_nothing(miljo: Miljo) -> None:
    import_roster(miljo, ADMIN, school="gjesdal", data=ROSTER)
    events = miljo.event_count()
    report = import_roster(miljo, ADMIN, school="gjesdal", data=ROSTER)
    assert (report.registered, report.already_present) == (0, 3)
    assert miljo.event_count() == events


def test_a_bad_roster_writes_nothing(miljo: Miljo) -> None:
    events = miljo.event_count()
    with pytest.raises(RosterInvalid):
        import_roster(miljo, ADMIN, school="gjesdal", data=ROSTER + b"2004,Ola,8,8x\n")
    assert miljo.event_count() == events
    with pytest.raises(NotFound):
        miljo.find_student(ADMIN, school="gjesdal", student_number="2001")


def test_a_number_registered_meanwhile_counts_as_present(miljo: Miljo) -> None:
    plan = plan_import(miljo, ADMIN, school="gjesdal", data=ROSTER)
    assert len(plan.new) == 3
    miljo.register_student(
        ADMIN, school="gjesdal", student_number="2003", name="Siri", trinn=9, class_name="9a"
    )
    report = apply_import(miljo, ADMIN, plan)
    assert (report.registered, report.already_present) == (2, 1)


@pytest.mark.parametrize("actor", [REKTOR, INSPEKTOR], ids=lambda a: a.role.value)
def test_management_may_import_too(miljo: Miljo, actor: Actor) -> None:
    report = import_roster(miljo, actor, school="gjesdal", data=ROSTER)
    assert (report.registered, report.already_present) == (3, 0)
    miljo.find_student(actor, school="gjesdal", student_number="2003")


@pytest.mark.parametrize(
    "actor",
    [AUDITOR, COORDINATOR, SPED_LEAD, THERAPIST, TEACHER],
    ids=lambda a: a.role.value,
)
def test_roles_that_may_not_register_students_may_not_import(miljo: Miljo, actor: Actor) -> None:
    events = miljo.event_count()
    with pytest.raises(AccessDenied, match="may not register a student"):
        import_roster(miljo, actor, school="gjesdal", data=ROSTER)
    with pytest.raises(AccessDenied):
        plan_import(miljo, actor, school="gjesdal", data=ROSTER)
    assert miljo.event_count() == events


def test_unknown_school(miljo: Miljo) -> None:
    with pytest.raises(NotFound):
        import_roster(miljo, ADMIN, school="sandnes", data=ROSTER)


# ---------------------------------------------------------------------------------------------
# The school scope (docs/adr/0010-access-policy.md, addenda)
# ---------------------------------------------------------------------------------------------

#: The rektor and inspektør of another school: their role may register students, not here.
FOREIGN_REKTOR = Actor(person_id="p-rektor-s", role=Role.REKTOR, schools=frozenset({"sandnes"}))
FOREIGN_INSPEKTOR = Actor(
    person_id="p-insp-s", role=Role.INSPEKTOR, schools=frozenset({"sandnes", "time"})
)
FOREIGN_REFUSAL = "at school gjesdal, not one of its schools"


@pytest.mark.parametrize("actor", [FOREIGN_REKTOR, FOREIGN_INSPEKTOR], ids=["rektor", "inspektor"])
def test_an_actor_of_another_school_is_refused_before_the_roster_is_read(
    miljo: Miljo, actor: Actor
) -> None:
    # given a student at gjesdal and a roster that is not even valid CSV text
    student = miljo.register_student(
        ADMIN, school="gjesdal", student_number="1001", name="Kari", trinn=8, class_name="8c"
    )
    events = miljo.event_count()
    not_a_roster = b"\xff\xfe not UTF-8, not a roster"
    # when a school-bound actor of another school imports it into gjesdal
    with pytest.raises(AccessDenied) as refused:
        import_roster(miljo, actor, school="gjesdal", data=not_a_roster)
    # then the refusal is the facade's own for registering a student at a foreign school,
    # raised before the data is parsed (not RosterInvalid), naming no student
    with pytest.raises(AccessDenied) as facade_refused:
        miljo.register_student(
            actor, school="gjesdal", student_number="2001", name="Åse", trinn=8, class_name="8c"
        )
    assert str(refused.value) == str(facade_refused.value)
    assert str(refused.value) == (
        f"role {actor.role.value} may not register a student {FOREIGN_REFUSAL}"
    )
    with pytest.raises(AccessDenied, match=FOREIGN_REFUSAL):
        plan_import(miljo, actor, school="gjesdal", data=ROSTER)
    # and nothing is written: no student, no access-log entry (the facade's refusals leave
    # none either: a refused case read is not a read)
    with pytest.raises(AccessDenied):
        miljo.student_case(actor, student)
    assert miljo.event_count() == events
    assert miljo.access_log(AUDITOR, student) == []


def test_an_actor_with_the_school_among_its_schools_imports(miljo: Miljo) -> None:
    both = Actor(
        person_id="p-rektor-2", role=Role.REKTOR, schools=frozenset({"sandnes", "gjesdal"})
    )
    report = import_roster(miljo, both, school="gjesdal", data=ROSTER)
    assert (report.registered, report.already_present) == (3, 0)


def test_a_school_bound_actor_is_refused_an_unknown_school_outside_its_scope(
    miljo: Miljo,
) -> None:
    """Refused, not NotFound: whether a school outside the scope exists is not told."""
    with pytest.raises(AccessDenied, match="at school bergen, not one of its schools"):
        import_roster(miljo, FOREIGN_REKTOR, school="bergen", data=ROSTER)


@pytest.mark.parametrize("actor", [ADMIN, FOREIGN_REKTOR], ids=["admin", "rektor"])
def test_a_malformed_school_code_is_invalid_input(miljo: Miljo, actor: Actor) -> None:
    with pytest.raises(InvalidValue, match="school code"):
        import_roster(miljo, actor, school="Gjesdal", data=ROSTER)
