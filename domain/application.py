"""The event-sourced application: one store per school or municipality.

Configuration comes only from the ``env`` the composition root passes in (not from the
process environment), so an embedding program cannot be reconfigured by a stray variable.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.utils import Environment, EnvType

from domain import meeting, school, student, team, vedtak
from domain.codec import register_value_types

VALUE_TYPES: tuple[type[Any], ...] = (
    *getattr(student, "VALUE_TYPES", ()),
    *getattr(vedtak, "VALUE_TYPES", ()),
    *getattr(team, "VALUE_TYPES", ()),
    *getattr(meeting, "VALUE_TYPES", ()),
)

#: Snapshot every N events per aggregate kind (long streams load from the newest snapshot).
SNAPSHOT_INTERVALS: dict[type[Any], int] = {
    school.School: 200,
    student.Student: 50,
    vedtak.Vedtak: 50,
    team.Team: 100,
    meeting.Meeting: 100,
}


class MiljoApplication(Application):
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
