#!/usr/bin/env python3
"""Rebuild a student's case from a miljo history export (JSON Lines).

Standalone on purpose: it uses the Python standard library only and imports nothing from
miljo, so an auditor can check an export without the system that wrote it. The line format
is documented in docs/history-export.md.

Usage::

    python tools/replay_export.py EXPORT.jsonl [--student STUDENT_ID]

Reads one JSON object per line (``-`` reads standard input), replays the events in position
order and writes the student's state as JSON to standard output: placement, departure,
current observations (corrections applied), concerns, consents (with withdrawals), referrals
and their statuses, aktivitetsplaner, vedtak (status, granted and delivered minutes), the
team assignments for the student, the restrictions in force and the erasures. Fields erased
before the export (docs/history-export.md, *Erased fields*) replay as the text ``[erased]``.

Exit status: 0 on success, 1 if the export cannot be read or replayed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, Final

Record = dict[str, Any]
Payload = dict[str, Any]
State = dict[str, Any]

#: Keys every export line has (docs/history-export.md).
LINE_KEYS: Final = frozenset(
    {
        "position",
        "stream_id",
        "version",
        "type",
        "topic",
        "class_version",
        "recorded_at",
        "effective",
        "actor_id",
        "actor_role",
        "summary",
        "payload",
    }
)

COMPETENCES: Final = ("teacher", "special_ed_teacher", "miljoterapeut", "assistant")

#: Payload upgrades, ``(type, from_version) -> function`` turning a payload of ``from_version``
#: into one of ``from_version + 1``. Empty while every event type is at class_version 1.
UPCASTERS: Final[dict[tuple[str, int], Callable[[Payload], Payload]]] = {}

#: The class_version this tool understands per event type (types not listed: version 1).
CURRENT_VERSIONS: Final[dict[str, int]] = {}


class ExportError(Exception):
    """The export is malformed or cannot be replayed."""


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def read_records(lines: Iterable[str]) -> list[Record]:
    """Parse and check the lines; returns the records in position order."""
    records: list[Record] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ExportError(f"line {number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise ExportError(f"line {number}: not a JSON object")
        missing = LINE_KEYS - set(record)
        if missing:
            raise ExportError(f"line {number}: missing keys {', '.join(sorted(missing))}")
        if not isinstance(record["position"], int) or not isinstance(record["payload"], dict):
            raise ExportError(f"line {number}: position must be a number, payload an object")
        records.append(upcast(record, number))
    positions = [r["position"] for r in records]
    if positions != sorted(set(positions)):
        raise ExportError("positions are not strictly increasing (lines out of order?)")
    return records


def upcast(record: Record, number: int) -> Record:
    """Bring the payload to the version this tool understands (see UPCASTERS)."""
    kind = str(record["type"])
    version = record["class_version"]
    wanted = CURRENT_VERSIONS.get(kind, 1)
    if not isinstance(version, int) or version < 1:
        raise ExportError(f"line {number}: bad class_version {version!r}")
    if version > wanted:
        raise ExportError(
            f"line {number}: {kind} class_version {version} is newer than this tool ({wanted})"
        )
    payload = dict(record["payload"])
    while version < wanted:
        step = UPCASTERS.get((kind, version))
        if step is None:
            raise ExportError(f"line {number}: no upcaster for {kind} v{version}")
        payload = step(payload)
        version += 1
    return {**record, "class_version": version, "payload": payload}


# ---------------------------------------------------------------------------------------------
# Replaying
# ---------------------------------------------------------------------------------------------


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def new_state(student_id: str) -> State:
    return {
        "student_id": student_id,
        "school_code": None,
        "student_number": None,
        "name": None,
        "trinn": None,
        "class_name": None,
        "registered_on": None,
        "placements": [],
        "active": True,
        "departure": None,
        "observations": [],
        "concerns": [],
        "consents": [],
        "referrals": [],
        "plans": [],
        "vedtak": [],
        "assignments": [],
        "linked": {},
        "restrictions": [],
        "erasures": [],
        "events": 0,
        "last_position": None,
    }


class Replay:
    """Folds the records of one student's export into plain JSON state."""

    def __init__(self, student_id: str) -> None:
        self.state = new_state(student_id)
        self.entries: dict[str, Payload] = {}  # observation originals and corrections
        self.concerns: dict[str, Payload] = {}
        self.consents: dict[str, Payload] = {}
        self.referrals: dict[str, Payload] = {}
        self.plans: dict[str, Payload] = {}
        self.vedtak: dict[str, Payload] = {}
        self.assignments: dict[str, Payload] = {}

    def apply(self, record: Record) -> None:
        handler = HANDLERS.get(str(record["type"]))
        if handler is not None:
            handler(self, record, record["payload"])
        self.state["events"] += 1
        self.state["last_position"] = record["position"]

    # -- student stream --------------------------------------------------------------------------

    def registered(self, record: Record, p: Payload) -> None:
        s = self.state
        s["student_id"] = record["stream_id"]
        for key in ("school_code", "student_number", "name", "trinn", "class_name"):
            s[key] = p[key]
        s["registered_on"] = p["registered_on"]
        s["placements"] = [
            {
                "trinn": p["trinn"],
                "class_name": p["class_name"],
                "effective_from": p["registered_on"],
            }
        ]

    def class_changed(self, record: Record, p: Payload) -> None:
        self.state["trinn"] = p["trinn"]
        self.state["class_name"] = p["class_name"]
        self.state["placements"].append(
            {
                "trinn": p["trinn"],
                "class_name": p["class_name"],
                "effective_from": p["effective_from"],
            }
        )

    def departed(self, record: Record, p: Payload) -> None:
        self.state["active"] = False
        self.state["departure"] = {
            "kind": p["kind"],
            "departed_on": p["departed_on"],
            "to_school": p["to_school"],
        }

    def restricted(self, record: Record, p: Payload) -> None:
        if p["scope"] not in self.state["restrictions"]:
            self.state["restrictions"].append(p["scope"])

    def restriction_lifted(self, record: Record, p: Payload) -> None:
        if p["scope"] in self.state["restrictions"]:
            self.state["restrictions"].remove(p["scope"])

    def erased(self, record: Record, p: Payload) -> None:
        self.state["erasures"].append({"basis": p["basis"], "erased_on": p["erased_on"]})

    def observation(self, record: Record, p: Payload) -> None:
        self._entry(record, p, entry_id=p["observation_id"], corrects=None, reason=None)

    def correction(self, record: Record, p: Payload) -> None:
        self._entry(
            record, p, entry_id=p["correction_id"], corrects=p["corrects"], reason=p["reason"]
        )

    def _entry(
        self, record: Record, p: Payload, *, entry_id: str, corrects: str | None, reason: str | None
    ) -> None:
        self.entries[entry_id] = {
            "entry_id": entry_id,
            "corrects": corrects,
            "arena": p["arena"],
            "categories": list(p["categories"]),
            "text": p["text"],
            "student_voice": p["student_voice"],
            "observed_at": p["observed_at"],
            "recorded_at": record["recorded_at"],
            "author_id": record["actor_id"],
            "author_role": record["actor_role"],
            "reason": reason,
        }

    def concern_raised(self, record: Record, p: Payload) -> None:
        self.concerns[p["concern_id"]] = {
            "concern_id": p["concern_id"],
            "text": p["text"],
            "raised_at": record["recorded_at"],
            "raised_by": record["actor_id"],
            "discussed_in": [],
        }

    def concern_discussed(self, record: Record, p: Payload) -> None:
        self.concerns[p["concern_id"]]["discussed_in"].append(p["meeting_id"])

    def consent_recorded(self, record: Record, p: Payload) -> None:
        self.consents[p["consent_id"]] = {
            "consent_id": p["consent_id"],
            "giver": p["giver"],
            "scope_kind": p["scope_kind"],
            "scope": p["scope"],
            "valid_from": p["valid_from"],
            "valid_to": p["valid_to"],
            "note": p["note"],
            "recorded_at": record["recorded_at"],
            "withdrawn_on": None,
        }

    def consent_withdrawn(self, record: Record, p: Payload) -> None:
        self.consents[p["consent_id"]]["withdrawn_on"] = p["withdrawn_on"]

    def referral_made(self, record: Record, p: Payload) -> None:
        self.referrals[p["referral_id"]] = {
            "referral_id": p["referral_id"],
            "body": p["body"],
            "reason": p["reason"],
            "made_on": p["made_on"],
            "status": "sent",
            "status_changed_on": p["made_on"],
        }

    def referral_status(self, record: Record, p: Payload) -> None:
        referral = self.referrals[p["referral_id"]]
        referral["status"] = p["status"]
        referral["status_changed_on"] = p["changed_on"]

    def plan_created(self, record: Record, p: Payload) -> None:
        self.plans[p["plan_id"]] = {
            "plan_id": p["plan_id"],
            "problem": p["problem"],
            "measures": list(p["measures"]),
            "when": p["when"],
            "responsible": p["responsible"],
            "evaluation_date": p["evaluation_date"],
            "last_evaluated_on": None,
            "closed_on": None,
            "close_reason": None,
        }

    def plan_evaluated(self, record: Record, p: Payload) -> None:
        plan = self.plans[p["plan_id"]]
        plan["evaluation_date"] = p["next_evaluation_date"]
        plan["last_evaluated_on"] = p["evaluated_on"]

    def plan_closed(self, record: Record, p: Payload) -> None:
        plan = self.plans[p["plan_id"]]
        plan["closed_on"] = p["closed_on"]
        plan["close_reason"] = p["reason"]

    # -- vedtak streams --------------------------------------------------------------------------

    def vedtak_opened(self, record: Record, p: Payload) -> None:
        self.vedtak[record["stream_id"]] = {
            "vedtak_id": record["stream_id"],
            "kind": p["kind"],
            "legal_reference": p["legal_reference"],
            "opened_on": p["opened_on"],
            "status": "opened",
            "recommendation": None,
            "granted": None,
            "deviates": False,
            "valid_from": None,
            "valid_to": None,
            "revoked_on": None,
            "expired_on": None,
            "notice_date": None,
            "appeal_deadline": None,
            "appeals": {},
            "deliveries": {},
        }

    def _v(self, record: Record) -> Payload:
        return self.vedtak[record["stream_id"]]

    def recommendation(self, record: Record, p: Payload) -> None:
        v = self._v(record)
        v["recommendation"] = _hours(p["hours"])
        if v["status"] == "opened":
            v["status"] = "recommended"

    def decided(self, record: Record, p: Payload) -> None:
        v = self._v(record)
        v.update(
            status="decided",
            granted=_hours(p["hours"]),
            deviates=p["deviates"],
            valid_from=p["valid_from"],
            valid_to=p["valid_to"],
        )

    def amended(self, record: Record, p: Payload) -> None:
        v = self._v(record)
        v.update(
            granted=_hours(p["hours"]),
            deviates=p["deviates"],
            valid_to=p["valid_to"],
            notice_date=None,  # an amendment is a new decision with its own notice
            appeal_deadline=None,
        )

    def notice(self, record: Record, p: Payload) -> None:
        self._v(record).update(notice_date=p["notice_date"], appeal_deadline=p["appeal_deadline"])

    def appeal_lodged(self, record: Record, p: Payload) -> None:
        self._v(record)["appeals"][p["appeal_number"]] = None

    def appeal_resolved(self, record: Record, p: Payload) -> None:
        self._v(record)["appeals"][p["appeal_number"]] = p["outcome"]

    def delivery(self, record: Record, p: Payload) -> None:
        self._v(record)["deliveries"][p["week_of"]] = _hours(p["minutes"])

    def revoked(self, record: Record, p: Payload) -> None:
        self._v(record).update(status="revoked", revoked_on=p["revoked_on"])

    def expired(self, record: Record, p: Payload) -> None:
        self._v(record).update(status="expired", expired_on=p["expired_on"])

    # -- team, case file -------------------------------------------------------------------------

    def assignment_made(self, record: Record, p: Payload) -> None:
        self.assignments[p["assignment_id"]] = {
            key: p[key]
            for key in (
                "assignment_id",
                "member_id",
                "target_kind",
                "vedtak_id",
                "minutes_per_week",
                "valid_from",
                "valid_to",
                "rotated_from",
            )
        }

    def assignment_ended(self, record: Record, p: Payload) -> None:
        self.assignments[p["assignment_id"]]["valid_to"] = p["ended_on"]

    def linked(self, record: Record, p: Payload) -> None:
        self.state["linked"].setdefault(p["kind"], [])
        if p["stream_id"] not in self.state["linked"][p["kind"]]:
            self.state["linked"][p["kind"]].append(p["stream_id"])

    # -- the result ------------------------------------------------------------------------------

    def result(self) -> State:
        s = dict(self.state)
        s["observations"] = self._current_observations()
        s["concerns"] = list(self.concerns.values())
        s["consents"] = list(self.consents.values())
        s["referrals"] = list(self.referrals.values())
        s["plans"] = list(self.plans.values())
        s["vedtak"] = [_vedtak_result(v) for v in self.vedtak.values()]
        s["assignments"] = list(self.assignments.values())
        return s

    def _current_observations(self) -> list[Payload]:
        """The latest version of each original, ordered by observed time (stable)."""
        corrections: dict[str, list[Payload]] = {}
        originals: list[Payload] = []
        for entry in self.entries.values():
            if entry["corrects"] is None:
                originals.append(entry)
            else:
                corrections.setdefault(entry["corrects"], []).append(entry)
        views = []
        for original in originals:
            chain = corrections.get(original["entry_id"], [])
            shown = chain[-1] if chain else original
            views.append(
                {
                    "observation_id": original["entry_id"],
                    "version_id": shown["entry_id"],
                    "arena": shown["arena"],
                    "categories": shown["categories"],
                    "text": shown["text"],
                    "student_voice": shown["student_voice"],
                    "observed_at": shown["observed_at"],
                    "recorded_at": shown["recorded_at"],
                    "author_id": shown["author_id"],
                    "first_recorded_at": original["recorded_at"],
                    "corrected": bool(chain),
                    "correction_ids": [c["entry_id"] for c in chain],
                    "correction_reason": shown["reason"],
                }
            )
        views.sort(key=lambda v: _instant(v["observed_at"]))
        return views


def _hours(minutes: dict[str, int]) -> dict[str, int]:
    return {c: int(minutes.get(c, 0)) for c in COMPETENCES}


def _vedtak_result(v: Payload) -> Payload:
    valid_to, revoked = _day(v["valid_to"]), _day(v["revoked_on"])
    until = valid_to
    if valid_to is not None and revoked is not None:
        until = min(valid_to, revoked - timedelta(days=1))
    delivered = {c: sum(week[c] for week in v["deliveries"].values()) for c in COMPETENCES}
    result = {k: val for k, val in v.items() if k not in ("appeals", "deliveries")}
    result["in_force_until"] = None if until is None else until.isoformat()
    result["appeal_open"] = any(outcome is None for outcome in v["appeals"].values())
    result["appeals"] = len(v["appeals"])
    result["delivered"] = delivered
    result["delivery_weeks"] = sorted(v["deliveries"])
    return result


HANDLERS: Final[dict[str, Callable[[Replay, Record, Payload], None]]] = {
    "Student.Registered": Replay.registered,
    "Student.ClassChanged": Replay.class_changed,
    "Student.Departed": Replay.departed,
    "Student.ObservationRecorded": Replay.observation,
    "Student.ObservationCorrected": Replay.correction,
    "Student.ConcernRaised": Replay.concern_raised,
    "Student.ConcernDiscussed": Replay.concern_discussed,
    "Student.ConsentRecorded": Replay.consent_recorded,
    "Student.ConsentWithdrawn": Replay.consent_withdrawn,
    "Student.ReferralMade": Replay.referral_made,
    "Student.ReferralStatusChanged": Replay.referral_status,
    "Student.AktivitetsplanCreated": Replay.plan_created,
    "Student.AktivitetsplanEvaluated": Replay.plan_evaluated,
    "Student.AktivitetsplanClosed": Replay.plan_closed,
    "Student.RecordsRestricted": Replay.restricted,
    "Student.RestrictionLifted": Replay.restriction_lifted,
    "Student.PersonalDataErased": Replay.erased,
    "Vedtak.Opened": Replay.vedtak_opened,
    "Vedtak.RecommendationReceived": Replay.recommendation,
    "Vedtak.Decided": Replay.decided,
    "Vedtak.Amended": Replay.amended,
    "Vedtak.NoticeSent": Replay.notice,
    "Vedtak.AppealLodged": Replay.appeal_lodged,
    "Vedtak.AppealResolved": Replay.appeal_resolved,
    "Vedtak.DeliveryRecorded": Replay.delivery,
    "Vedtak.DeliveryCorrected": Replay.delivery,
    "Vedtak.Revoked": Replay.revoked,
    "Vedtak.Expired": Replay.expired,
    "Team.AssignmentMade": Replay.assignment_made,
    "Team.AssignmentEnded": Replay.assignment_ended,
    "CaseFile.StreamLinked": Replay.linked,
}


def student_of(records: list[Record], wanted: str | None) -> str:
    if wanted is not None:
        return wanted
    registered = [r["stream_id"] for r in records if r["type"] == "Student.Registered"]
    if len(set(registered)) != 1:
        raise ExportError("the export has no single Student.Registered event; pass --student")
    return str(registered[0])


def replay(records: list[Record], student_id: str | None = None) -> State:
    """The student's state after every record (in position order) is applied."""
    student = student_of(records, student_id)
    folded = Replay(student)
    for record in records:
        try:
            folded.apply(record)
        except (KeyError, TypeError, ValueError) as error:
            raise ExportError(
                f"position {record['position']} ({record['type']}) cannot be replayed: "
                f"{type(error).__name__} {error}"
            ) from None
    return folded.result()


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Rebuild a student's case from a miljo history export (JSON Lines)."
    )
    parser.add_argument("export", help="the .jsonl file written from export_history ('-': stdin)")
    parser.add_argument("--student", help="the student's id (default: from Student.Registered)")
    args = parser.parse_args(argv)
    try:
        if args.export == "-":
            records = read_records(sys.stdin)
        else:
            with open(args.export, encoding="utf-8") as handle:
                records = read_records(handle)
        state = replay(records, args.student)
    except OSError as error:
        sys.stderr.write(f"replay_export: cannot read {args.export}: {error.strerror}\n")
        return 1
    except ExportError as error:
        sys.stderr.write(f"replay_export: {error}\n")
        return 1
    sys.stdout.write(json.dumps(state, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
