"""The event-sourced application: one store per school or municipality.

Configuration comes only from the ``env`` the composition root passes in (not from the
process environment), so an embedding program cannot be reconfigured by a stray variable.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.utils import Environment, EnvType

from domain.casefile import VALUE_TYPES as CASEFILE_VALUE_TYPES
from domain.casefile import AccessLog, CaseFile
from domain.codec import register_value_types
from domain.meeting import VALUE_TYPES as MEETING_VALUE_TYPES
from domain.meeting import Meeting
from domain.school import School
from domain.student import VALUE_TYPES as STUDENT_VALUE_TYPES
from domain.student import Student
from domain.team import VALUE_TYPES as TEAM_VALUE_TYPES
from domain.team import Team
from domain.vedtak import VALUE_TYPES as VEDTAK_VALUE_TYPES
from domain.vedtak import Vedtak

VALUE_TYPES: tuple[type[Any], ...] = (
    *STUDENT_VALUE_TYPES,
    *VEDTAK_VALUE_TYPES,
    *TEAM_VALUE_TYPES,
    *MEETING_VALUE_TYPES,
    *CASEFILE_VALUE_TYPES,
)

#: Snapshot every N events per aggregate kind (long streams load from the newest snapshot).
SNAPSHOT_INTERVALS: dict[type[Any], int] = {
    School: 200,
    Student: 50,
    Vedtak: 50,
    Team: 100,
    Meeting: 100,
    CaseFile: 100,
    AccessLog: 200,
}


class MiljoApplication(Application[UUID]):
    name = "miljo"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = SNAPSHOT_INTERVALS

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        settings: dict[str, str] = {"IS_SNAPSHOTTING_ENABLED": "y"}
        if env is not None:
            settings.update(env)
        return Environment(name, settings)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_value_types(transcoder, VALUE_TYPES)
