"""The event-sourced application: one store per school or municipality.

Configuration comes only from the ``env`` the composition root passes in (not from the
process environment), so an embedding program cannot be reconfigured by a stray variable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application, Repository
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.utils import Environment, EnvType, strtobool

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


def project_events(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    """Fold events into an aggregate. The library's default projector asserts
    ``isinstance(event, CanMutateProtocol)`` per event, a runtime Protocol check that cost a
    third of the CPU of replaying a long stream here; miljo's events are all
    ``MiljoAggregate.Event`` (the mapper only builds those), so the check is dropped."""
    for event in domain_events:
        aggregate = event.mutate(aggregate)
    return aggregate


class MiljoRepository(Repository[UUID]):
    """The library's repository with :func:`project_events` as the default projector."""

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: Any = project_events,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        return super().get(
            aggregate_id,
            version=version,
            projector_func=projector_func,
            fastforward_skipping=fastforward_skipping,
            deepcopy_from_cache=deepcopy_from_cache,
        )


#: Older snapshots are kept only at multiples of this many intervals (a ladder for as-of
#: reads); every other older snapshot is deleted once a newer one exists. Each snapshot holds
#: the whole state, so keeping all of them grows with the square of a stream's length.
SNAPSHOT_LADDER = 10


class MiljoApplication(Application[UUID]):
    name = "miljo"
    #: Set by the composition root: deletes a stream's snapshots below a version, except at
    #: multiples of a step (storage-specific, so it lives in adapters/).
    snapshot_pruner: Callable[[UUID, int, int], int] | None = None
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = SNAPSHOT_INTERVALS
    snapshotting_projectors: ClassVar[dict[type[Any], Any]] = dict.fromkeys(
        SNAPSHOT_INTERVALS, project_events
    )

    def construct_repository(self) -> Repository[UUID]:
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return MiljoRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize) if maxsize else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            fastforward_skipping=strtobool(
                self.env.get(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, "n")
            ),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        settings: dict[str, str] = {"IS_SNAPSHOTTING_ENABLED": "y"}
        if env is not None:
            settings.update(env)
        return Environment(name, settings)

    def take_snapshot(
        self,
        aggregate_id: UUID,
        version: int | None = None,
        projector_func: Any = project_events,
    ) -> None:
        """The library's snapshot, then pruning of this stream's older snapshots."""
        if self.snapshots is None:
            raise RuntimeError("snapshots are not enabled for this store")
        aggregate = self.repository.get(
            aggregate_id, version=version, projector_func=projector_func
        )
        snapshot = type(aggregate).Snapshot.take(aggregate)
        self.snapshots.put([snapshot])
        interval = self.snapshotting_intervals.get(type(aggregate))
        if self.snapshot_pruner is not None and interval:
            self.snapshot_pruner(aggregate_id, aggregate.version, interval * SNAPSHOT_LADDER)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_value_types(transcoder, VALUE_TYPES)
