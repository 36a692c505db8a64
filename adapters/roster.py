"""Import a school's roster from CSV: validate every row first, then register the new students.

The file is UTF-8 (a byte-order mark is tolerated) with the header
``student_number,name,trinn,class`` (any column order). The whole file is checked before
anything is written: a bad file is rejected whole, with every problem listed by line number
(:class:`RosterInvalid`, an ``InvalidValue``). Rows whose student number is already registered
at the school are skipped and counted, so importing the same file twice changes nothing.

Problems name line numbers, columns, trinn and class names, never a student's name or number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import attrs

from domain.errors import AlreadyExists, InvalidValue, NotFound
from domain.facade import Miljo
from domain.policy import (
    FACADE_OPERATIONS,
    AccessRequest,
    Relation,
    decide,
    denied,
    scope_denied,
)
from domain.student import MAX_NAME_LENGTH, check_student_number
from domain.values import (
    Actor,
    check_class_name,
    check_school_code,
    check_text,
    has_control_characters,
)

ROSTER_COLUMNS: Final = ("student_number", "name", "trinn", "class")
MAX_PROBLEMS_SHOWN: Final = 20

_WHOLE_NUMBER = re.compile(r"[0-9]{1,2}")


@attrs.frozen
class RosterRow:
    """One valid student row (``line`` is the file's line number, header = line 1)."""

    line: int
    student_number: str = attrs.field(repr=False)
    name: str = attrs.field(repr=False)
    trinn: int
    class_name: str


@attrs.frozen
class RosterProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class RosterInvalid(InvalidValue):
    """The roster file cannot be imported; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: Sequence[RosterProblem]) -> None:
        shown = "; ".join(str(p) for p in problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        if more > 0:
            shown += f"; and {more} more"
        count = f"{len(problems)} problem" + ("" if len(problems) == 1 else "s")
        super().__init__(f"roster {source}", f"{count}, nothing imported: {shown}")
        self.problems = list(problems)


@attrs.frozen
class SchoolClasses:
    """What validating a roster needs to know about the school."""

    code: str
    first_trinn: int
    last_trinn: int
    classes: Mapping[str, int]  # class name -> trinn


@attrs.frozen
class RosterPlan:
    """A validated roster: every row, and the rows not yet registered at the school."""

    school_code: str
    rows: list[RosterRow]
    new: list[RosterRow]

    @property
    def already_present(self) -> int:
        return len(self.rows) - len(self.new)


@attrs.frozen
class RosterReport:
    school_code: str
    rows: int
    registered: int
    already_present: int


# ---------------------------------------------------------------------------------------------
# Parsing and validation (pure)
# ---------------------------------------------------------------------------------------------


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RosterInvalid(
            source,
            [RosterProblem(line, "the file is not UTF-8 text; save it as UTF-8 (CSV UTF-8)")],
        ) from None


def _check_header(cells: list[str], line: int) -> list[RosterProblem]:
    problems = []
    missing = [c for c in ROSTER_COLUMNS if c not in cells]
    if missing:
        problems.append(RosterProblem(line, "missing column(s): " + ", ".join(missing)))
    unknown = [c for c in cells if c not in ROSTER_COLUMNS]
    if unknown:
        shown = ", ".join(repr(c) for c in unknown)
        problems.append(RosterProblem(line, "unexpected column(s): " + shown))
    repeated = sorted({c for c in cells if cells.count(c) > 1})
    if repeated:
        problems.append(RosterProblem(line, "repeated column(s): " + ", ".join(repeated)))
    return problems


def _check_row(
    line: int, values: Mapping[str, str], school: SchoolClasses
) -> tuple[RosterRow | None, list[RosterProblem]]:
    reasons: list[str] = []
    number = values["student_number"].strip()
    if not number:
        reasons.append("missing student number")
    else:
        try:
            check_student_number(number)
        except InvalidValue:
            reasons.append("malformed student number (1-20 letters, digits or '-')")
    # White space is collapsed (a tab or a no-break space becomes one space), but control
    # characters are refused as the command line refuses them (domain.values.check_text),
    # also the ones str.split() counts as white space (VT, FF, FS-US).
    name = " ".join(values["name"].split())
    if has_control_characters(values["name"]):
        reasons.append("name must not contain control characters")
    elif not name:
        reasons.append("empty name")
    else:
        try:
            check_text(name, "name", limit=MAX_NAME_LENGTH)
        except InvalidValue as error:
            reasons.append(f"name {error.reason}")
    trinn_text = values["trinn"].strip()
    trinn: int | None = None
    if not _WHOLE_NUMBER.fullmatch(trinn_text):
        reasons.append(f"trinn {trinn_text!r} is not a whole number" if trinn_text else "no trinn")
    else:
        trinn = int(trinn_text)
        if not school.first_trinn <= trinn <= school.last_trinn:
            reasons.append(
                f"trinn {trinn} is outside the school's trinn "
                f"{school.first_trinn}-{school.last_trinn}"
            )
            trinn = None
    class_name = values["class"].strip()
    if not class_name:
        reasons.append("missing class")
    else:
        try:
            check_class_name(class_name)
        except InvalidValue:
            reasons.append("malformed class name")
        else:
            known = school.classes.get(class_name)
            if known is None:
                reasons.append(f"class {class_name} does not exist at school {school.code}")
            elif trinn is not None and known != trinn:
                reasons.append(f"class {class_name} is in trinn {known}, not {trinn}")
    problems = [RosterProblem(line, reason) for reason in reasons]
    if problems or trinn is None:
        return None, problems
    row = RosterRow(line=line, student_number=number, name=name, trinn=trinn, class_name=class_name)
    return row, []


def parse_roster(data: bytes, school: SchoolClasses, *, source: str = "file") -> list[RosterRow]:
    """Every student row of ``data``, or :class:`RosterInvalid` listing every problem."""
    text = _decode(data, source)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[RosterRow] = []
    problems: list[RosterProblem] = []
    first_line_of: dict[str, int] = {}
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append(RosterProblem(start, f"not valid CSV ({error})"))
            break
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if header is None:
            header = [cell.strip().lower() for cell in record]
            header_problems = _check_header(header, start)
            if header_problems:
                raise RosterInvalid(source, header_problems)
            continue
        if len(record) != len(header):
            problems.append(
                RosterProblem(start, f"expected {len(header)} fields, found {len(record)}")
            )
            continue
        if reader.line_num != start:
            problems.append(RosterProblem(start, "a field spans several lines"))
            continue
        values = dict(zip(header, record, strict=True))
        row, row_problems = _check_row(start, values, school)
        problems.extend(row_problems)
        number = values["student_number"].strip()
        first = first_line_of.setdefault(number, start) if number else start
        if first != start:
            problems.append(RosterProblem(start, f"student number repeats line {first}"))
        elif row is not None:
            rows.append(row)
    if header is None:
        problems.append(
            RosterProblem(1, "the file is empty; expected the header " + ",".join(ROSTER_COLUMNS))
        )
    if problems:
        raise RosterInvalid(source, problems)
    return rows


# ---------------------------------------------------------------------------------------------
# Import through the facade
# ---------------------------------------------------------------------------------------------


def authorize_import(actor: Actor, school: str) -> None:
    """Refuse an actor who may not register students at ``school``, before the roster is read
    and before the store is touched: the school scope first, then the role, as the facade's
    ``register_student`` checks them, with the same :class:`~domain.errors.AccessDenied`
    (role, operation and school code only; docs/adr/0010-access-policy.md). Pure."""
    operation = FACADE_OPERATIONS["register_student"]
    refusal = scope_denied(actor, operation, [check_school_code(school)])
    if refusal is not None:
        raise refusal
    request = AccessRequest(
        actor=actor,
        operation=operation,
        student_id=None,
        relation=Relation.NONE,
        reason=None,
        restricted=False,
    )
    if not decide(request).allowed:
        raise denied(request)


def plan_import(
    miljo: Miljo, actor: Actor, *, school: str, data: bytes, source: str = "file"
) -> RosterPlan:
    """Validate the whole roster and find which rows are new. Writes nothing."""
    authorize_import(actor, school)
    view = miljo.school(actor, school)
    classes = SchoolClasses(
        code=view.code,
        first_trinn=view.first_trinn,
        last_trinn=view.last_trinn,
        classes=dict(view.classes),
    )
    rows = parse_roster(data, classes, source=source)
    new = []
    for row in rows:
        try:
            miljo.find_student(actor, school=school, student_number=row.student_number)
        except NotFound:
            new.append(row)
    return RosterPlan(school_code=view.code, rows=rows, new=new)


def apply_import(
    miljo: Miljo,
    actor: Actor,
    plan: RosterPlan,
    *,
    on_row: Callable[[RosterRow], None] | None = None,
) -> RosterReport:
    """Register the plan's new rows, one transaction per student, calling ``on_row`` after each.

    A number registered meanwhile by someone else counts as already present.
    """
    registered = 0
    for row in plan.new:
        try:
            miljo.register_student(
                actor,
                school=plan.school_code,
                student_number=row.student_number,
                name=row.name,
                trinn=row.trinn,
                class_name=row.class_name,
            )
        except AlreadyExists:
            pass
        else:
            registered += 1
        if on_row is not None:
            on_row(row)
    return RosterReport(
        school_code=plan.school_code,
        rows=len(plan.rows),
        registered=registered,
        already_present=len(plan.rows) - registered,
    )


def import_roster(
    miljo: Miljo,
    actor: Actor,
    *,
    school: str,
    data: bytes,
    source: str = "file",
    on_row: Callable[[RosterRow], None] | None = None,
) -> RosterReport:
    """Validate, then register every student in the roster not yet at the school."""
    plan = plan_import(miljo, actor, school=school, data=data, source=source)
    return apply_import(miljo, actor, plan, on_row=on_row)
