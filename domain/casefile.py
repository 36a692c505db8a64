"""A student's case file (which other streams hold records about the student) and the
student's access log (every read of the case: who, what, when, why).

Both are small per-student aggregates with ids derived from the student's random id, so the
facade finds them without an index. They are saved in the same transaction as the records
they point at or the read they log.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs

from domain.base import MiljoAggregate
from domain.values import Actor, check_text


def case_file_id(student_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"miljo:casefile/{student_id}")


def access_log_id(student_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"miljo:accesslog/{student_id}")


class CaseFile(MiljoAggregate):
    """Links from a student to the Vedtak, Meeting and Team streams that concern them."""

    TOPIC = "miljo:CaseFile"

    class Created(MiljoAggregate.Created):
        """Library hook required by explicit topics; never triggered (see Opened)."""

        TOPIC = "miljo:CaseFile.Created"

    class Opened(MiljoAggregate.Created):
        TOPIC = "miljo:CaseFile.Opened"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        student_id: UUID

        def apply(self, case: CaseFile) -> None:
            case.student_id = self.student_id
            case.streams = {}

        def summary(self) -> str:
            return "case file opened"

    class StreamLinked(MiljoAggregate.Event):
        TOPIC = "miljo:CaseFile.StreamLinked"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        student_id: UUID
        stream_id: UUID
        kind: str

        def apply(self, case: CaseFile) -> None:
            case.streams[str(self.stream_id)] = self.kind

        def summary(self) -> str:
            return f"{self.kind} {self.stream_id} linked to the case"

    if TYPE_CHECKING:
        student_id: UUID
        streams: dict[str, str]

    @classmethod
    def open(cls, *, student_id: UUID, actor: Actor, at: datetime) -> CaseFile:
        return cls._start(
            cls.Opened, id=case_file_id(student_id), actor=actor, at=at, student_id=student_id
        )

    def link(self, *, stream_id: UUID, kind: str, actor: Actor, at: datetime) -> bool:
        """Link a stream (idempotent). Returns True if a new link was recorded."""
        if str(stream_id) in self.streams:
            return False
        self._record(
            self.StreamLinked,
            actor=actor,
            at=at,
            student_id=self.student_id,
            stream_id=stream_id,
            kind=kind,
        )
        return True

    def linked(self, kind: str | None = None) -> list[UUID]:
        return [UUID(k) for k, v in self.streams.items() if kind is None or v == kind]

    def __repr__(self) -> str:
        return f"CaseFile(links={len(self.streams)}, version={self.version})"


@attrs.frozen
class AccessEntry:
    """One read of a student's case, as shown to the privacy officer and the person concerned."""

    read_at: datetime
    reader_id: str
    reader_role: str
    what: str
    reason: str | None
    break_glass: bool = False


class AccessLog(MiljoAggregate):
    """Append-only log of reads of one student's case (innsynslogg)."""

    TOPIC = "miljo:AccessLog"

    class Created(MiljoAggregate.Created):
        """Library hook required by explicit topics; never triggered (see Started)."""

        TOPIC = "miljo:AccessLog.Created"

    class Started(MiljoAggregate.Created):
        TOPIC = "miljo:AccessLog.Started"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        student_id: UUID

        def apply(self, log: AccessLog) -> None:
            log.student_id = self.student_id
            log.reads = 0

        def summary(self) -> str:
            return "access log started"

    class CaseRead(MiljoAggregate.Event):
        TOPIC = "miljo:AccessLog.CaseRead"
        #: The access log is kept for the privacy officer and the person concerned: the
        #: stated reasons are sealed under the archival key, so erasure keeps them.
        ARCHIVAL: ClassVar[bool] = True
        #: v2 added ``break_glass`` (v1 reads were never break-glass reads).
        class_version = 2
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"reason"})
        student_id: UUID
        what: str
        reason: str | None
        break_glass: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["break_glass"] = False

        def apply(self, log: AccessLog) -> None:
            log.reads += 1

        def summary(self) -> str:
            flag = " (break-glass)" if self.break_glass else ""
            return f"case read ({self.what}) by {self.actor_role}{flag}"

    if TYPE_CHECKING:
        student_id: UUID
        reads: int

    @classmethod
    def start(cls, *, student_id: UUID, actor: Actor, at: datetime) -> AccessLog:
        return cls._start(
            cls.Started, id=access_log_id(student_id), actor=actor, at=at, student_id=student_id
        )

    def record_read(
        self,
        *,
        what: str,
        reason: str | None,
        actor: Actor,
        at: datetime,
        break_glass: bool = False,
    ) -> None:
        check_text(what, "what was read", limit=100)
        if reason is not None:
            check_text(reason, "reason", limit=500)
        self._record(
            self.CaseRead,
            actor=actor,
            at=at,
            student_id=self.student_id,
            what=what,
            reason=reason,
            break_glass=break_glass,
        )

    def __repr__(self) -> str:
        return f"AccessLog(reads={self.reads}, version={self.version})"


VALUE_TYPES = (AccessEntry,)
