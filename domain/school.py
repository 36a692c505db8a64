"""School: a school's classes and its index of student numbers (held as keyed hashes)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.base import MiljoAggregate
from domain.errors import AlreadyExists, InvalidValue, NotFound
from domain.values import Actor, check_class_name, check_school_code, check_text, check_trinn


def school_id(code: str) -> UUID:
    """Schools are public institutions: their id is derived from their code."""
    return uuid5(NAMESPACE_URL, f"miljo:school/{check_school_code(code)}")


class School(MiljoAggregate):
    TOPIC = "miljo:School"

    class Created(MiljoAggregate.Created):
        """Library hook required by explicit topics; never triggered (see Registered)."""

        TOPIC = "miljo:School.Created"

    class Registered(MiljoAggregate.Created):
        TOPIC = "miljo:School.Registered"
        class_version = 1
        code: str
        name: str
        first_trinn: int
        last_trinn: int

        def apply(self, school: School) -> None:
            school.code = self.code
            school.name = self.name
            school.first_trinn = self.first_trinn
            school.last_trinn = self.last_trinn
            school.classes = {}
            school.students = {}
            school.active_students = []

        def summary(self) -> str:
            return f"school {self.code} registered (trinn {self.first_trinn}-{self.last_trinn})"

    class ClassAdded(MiljoAggregate.Event):
        TOPIC = "miljo:School.ClassAdded"
        class_version = 1
        trinn: int
        class_name: str

        def apply(self, school: School) -> None:
            school.classes[self.class_name] = self.trinn

        def summary(self) -> str:
            return f"class {self.class_name} added to trinn {self.trinn}"

    class StudentEnrolled(MiljoAggregate.Event):
        TOPIC = "miljo:School.StudentEnrolled"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        student_id: UUID
        number_key: str

        def apply(self, school: School) -> None:
            school.students[self.number_key] = self.student_id
            school.active_students.append(self.student_id)

        def summary(self) -> str:
            return "student enrolled"

    class StudentDeparted(MiljoAggregate.Event):
        TOPIC = "miljo:School.StudentDeparted"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        student_id: UUID

        def apply(self, school: School) -> None:
            school.active_students.remove(self.student_id)

        def summary(self) -> str:
            return "student departed"

    if TYPE_CHECKING:  # state, set only by apply (not constructor arguments)
        code: str
        name: str
        first_trinn: int
        last_trinn: int
        classes: dict[str, int]
        students: dict[str, UUID]
        active_students: list[UUID]

    @classmethod
    def register(
        cls, *, code: str, name: str, first_trinn: int, last_trinn: int, actor: Actor, at: datetime
    ) -> School:
        check_school_code(code)
        check_text(name, "school name", limit=200)
        check_trinn(first_trinn)
        check_trinn(last_trinn)
        if last_trinn < first_trinn:
            raise InvalidValue("trinn range", "last trinn must not be before first trinn")
        return cls._start(
            cls.Registered,
            id=school_id(code),
            actor=actor,
            at=at,
            code=code,
            name=name,
            first_trinn=first_trinn,
            last_trinn=last_trinn,
        )

    def add_class(self, *, trinn: int, class_name: str, actor: Actor, at: datetime) -> None:
        check_trinn(trinn)
        check_class_name(class_name)
        if not self.first_trinn <= trinn <= self.last_trinn:
            raise InvalidValue(
                "trinn", f"school {self.code} has trinn {self.first_trinn}-{self.last_trinn}"
            )
        if class_name in self.classes:
            raise AlreadyExists(f"class {class_name} already exists at school {self.code}")
        self._record(self.ClassAdded, actor=actor, at=at, trinn=trinn, class_name=class_name)

    def check_class(self, trinn: int, class_name: str) -> None:
        """Raise unless ``class_name`` is a class of this school in ``trinn``."""
        if self.classes.get(class_name) != trinn:
            raise NotFound("class", f"{self.code}/{trinn}/{class_name}")

    def enrol(self, *, student_id: UUID, number_key: str, actor: Actor, at: datetime) -> None:
        if number_key in self.students:
            raise AlreadyExists(f"student number already registered at school {self.code}")
        self._record(
            self.StudentEnrolled, actor=actor, at=at, student_id=student_id, number_key=number_key
        )

    def record_departure(self, *, student_id: UUID, actor: Actor, at: datetime) -> None:
        if student_id not in self.active_students:
            raise NotFound("active student", student_id)
        self._record(self.StudentDeparted, actor=actor, at=at, student_id=student_id)

    def student_by_key(self, number_key: str) -> UUID | None:
        return self.students.get(number_key)

    def __repr__(self) -> str:  # never print student maps
        return f"School(code={self.code!r}, version={self.version})"
