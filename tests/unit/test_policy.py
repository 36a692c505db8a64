"""The need-to-know access policy (domain/policy.py): every role x operation cell, need-to-know,
break-glass, restricted records, the auditor, the facade-method mapping, and the school scope.

The expected matrix below is written out literally, on purpose independent of POLICY.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import domain.policy as policy_module
from domain.errors import AccessDenied
from domain.facade import Miljo
from domain.policy import (
    DESCRIPTIONS,
    FACADE_OPERATIONS,
    LIFECYCLE_METHODS,
    MUNICIPALITY_WIDE,
    POLICY,
    READ_OPERATIONS,
    WRITE_OPERATIONS,
    AccessRequest,
    Decision,
    Grant,
    Operation,
    Relation,
    decide,
    denied,
    in_school_scope,
    is_school_bound,
    scope_denied,
)
from domain.values import Actor, Role

STUDENT = UUID("6f1c2a5e-3b7d-4e8f-9a0b-1c2d3e4f5a6b")

# Column order of EXPECTED (role values, as stored in events).
ROLES = (
    "rektor",
    "inspektor",
    "spesialpedagogisk_ansvarlig",
    "miljokoordinator",
    "miljoterapeut",
    "laerer",
    "auditor",
    "admin",
)

# A allow, N need-to-know, B break-glass, - deny.
#            rektor, inspektor, spesped, koordinator, miljoterapeut, laerer, auditor, admin
EXPECTED: dict[str, str] = {
    "register_school": "- - - - - - - A",
    "add_class": "A A - - - - - A",
    "register_student": "A A - - - - - A",
    "change_class": "A A - - - - - A",
    "record_departure": "A A - - - - - A",
    "record_observation": "A A A A A A - -",
    "correct_observation": "A A A A N N - -",
    "raise_concern": "A A A A A A - -",
    "record_consent": "A A A A N N - -",
    "withdraw_consent": "A A A A N N - -",
    "make_referral": "A A A A N N - -",
    "change_referral": "A A A A N N - -",
    "manage_aktivitetsplan": "A A A A N N - -",
    "open_vedtak": "A A A - - - - -",
    "record_recommendation": "A A A - - - - -",
    "decide_vedtak": "A - - - - - - -",
    "send_notice": "A A - - - - - -",
    "manage_appeal": "A A - - - - - -",
    "record_delivery": "A A A A N N - -",
    "record_vedtak_expiry": "A A A - - - - -",
    "manage_team": "A A - A - - - A",
    "assign": "A A - A - - - -",
    "schedule_meeting": "A A A A - - - -",
    "manage_meeting": "A A A A N N - -",
    "read_school": "A A A A A A A A",
    "read_team": "A A A A A - A A",
    "read_overview": "A A A A - - A -",
    "read_case": "A A A A N N A B",
    "read_meeting": "A A A A N N A B",
    "read_restricted": "B - - - - - A -",
    "read_access_log": "A - - - - - A -",
    "export_case": "A A - - - - A B",
    "erase_personal_data": "A - - - - - - B",
    "restrict_record": "A - - - - - - -",
    "verify_store": "- - - - - - A A",
    "admin_store": "- - - - - - - A",
}

TOKENS = {
    "A": Grant.ALLOW,
    "N": Grant.NEED_TO_KNOW,
    "B": Grant.BREAK_GLASS,
    "-": Grant.DENY,
}

EXPECTED_READS = {
    "read_school",
    "read_team",
    "read_overview",
    "read_case",
    "read_meeting",
    "read_restricted",
    "read_access_log",
    "export_case",
    "verify_store",
}

# Every public method of the facade and the operation it performs, written out.
EXPECTED_FACADE = {
    "restrict_records": "restrict_record",
    "lift_restriction": "restrict_record",
    "erase_personal_data": "erase_personal_data",
    "register_school": "register_school",
    "add_class": "add_class",
    "school": "read_school",
    "students_of": "read_school",
    "find_student": "read_school",
    "student_summary": "read_school",
    "register_student": "register_student",
    "change_class": "change_class",
    "record_departure": "record_departure",
    "record_observation": "record_observation",
    "correct_observation": "correct_observation",
    "raise_concern": "raise_concern",
    "record_consent": "record_consent",
    "withdraw_consent": "withdraw_consent",
    "make_referral": "make_referral",
    "change_referral_status": "change_referral",
    "create_aktivitetsplan": "manage_aktivitetsplan",
    "evaluate_aktivitetsplan": "manage_aktivitetsplan",
    "close_aktivitetsplan": "manage_aktivitetsplan",
    "open_vedtak": "open_vedtak",
    "record_recommendation": "record_recommendation",
    "decide_vedtak": "decide_vedtak",
    "amend_vedtak": "decide_vedtak",
    "revoke_vedtak": "decide_vedtak",
    "send_vedtak_notice": "send_notice",
    "lodge_appeal": "manage_appeal",
    "resolve_appeal": "manage_appeal",
    "record_delivery": "record_delivery",
    "correct_delivery": "record_delivery",
    "record_vedtak_expiry": "record_vedtak_expiry",
    "form_team": "manage_team",
    "add_member": "manage_team",
    "change_position": "manage_team",
    "appoint_coordinator": "manage_team",
    "record_member_left": "manage_team",
    "assign": "assign",
    "end_assignment": "assign",
    "rotate_assignment": "assign",
    "schedule_meeting": "schedule_meeting",
    "add_participant": "manage_meeting",
    "add_external_participant": "manage_meeting",
    "add_agenda_item": "manage_meeting",
    "record_note": "manage_meeting",
    "record_decision": "manage_meeting",
    "complete_action": "manage_meeting",
    "record_meeting_held": "manage_meeting",
    "close_minutes": "manage_meeting",
    "amend_minutes": "manage_meeting",
    "cancel_meeting": "manage_meeting",
    "team": "read_team",
    "overview": "read_overview",
    "student_case": "read_case",
    "student_case_as_of": "read_case",
    "history": "read_case",
    "vedtak": "read_case",
    "meeting": "read_meeting",
    "meeting_school": "read_school",
    "access_log": "read_access_log",
    "export_history": "export_case",
}


def actor_for(role: str) -> Actor:
    return Actor(f"p-{role[:12]}", Role(role))


def ask(
    role: str,
    operation: str,
    *,
    relation: Relation = Relation.NONE,
    reason: str | None = None,
    restricted: bool = False,
    student_id: UUID | None = STUDENT,
) -> Decision:
    return decide(
        AccessRequest(
            actor=actor_for(role),
            operation=Operation(operation),
            student_id=student_id,
            relation=relation,
            reason=reason,
            restricted=restricted,
        )
    )


CELLS = [
    pytest.param(operation, role, token, id=f"{operation}-{role}")
    for operation, row in EXPECTED.items()
    for role, token in zip(ROLES, row.split(), strict=True)
]


# ---------------------------------------------------------------------------------------------
# The matrix, cell by cell
# ---------------------------------------------------------------------------------------------


def test_expected_table_and_policy_cover_every_operation_and_role() -> None:
    assert set(ROLES) == {r.value for r in Role}
    assert set(EXPECTED) == {o.value for o in Operation}
    assert all(len(row.split()) == len(ROLES) for row in EXPECTED.values())
    assert set(POLICY) == set(Operation)
    for operation, row in POLICY.items():
        assert set(row) == set(Role), operation


@pytest.mark.parametrize(("operation", "role", "token"), CELLS)
def test_policy_cell_holds_the_expected_grant(operation: str, role: str, token: str) -> None:
    assert POLICY[Operation(operation)][Role(role)] is TOKENS[token]


@pytest.mark.parametrize(("operation", "role", "token"), CELLS)
def test_cell_allows_and_refuses_as_expected(operation: str, role: str, token: str) -> None:
    # Reading a restricted record always needs a reason; give one where the cell would allow.
    base = "tilsynssak 2024/17" if operation == "read_restricted" else None
    if token == "A":
        decision = ask(role, operation, reason=base)
        assert decision == Decision(allowed=True, break_glass=False, rule=decision.rule)
        assert decision.rule.endswith(": allowed")
    elif token == "N":
        assert not ask(role, operation, reason=base).allowed
        assert not ask(role, operation, reason="akutt situasjon i friminuttet").allowed
        for relation in (Relation.ASSIGNED, Relation.NAMED):
            decision = ask(role, operation, relation=relation, reason=base)
            assert decision.allowed
            assert not decision.break_glass
    elif token == "B":
        for missing in (None, "", "  \n\t"):
            refused = ask(role, operation, relation=Relation.ASSIGNED, reason=missing)
            assert not refused.allowed
            assert not refused.break_glass
        granted = ask(role, operation, reason="sak 2024/88: overføring til ny skole")
        assert granted.allowed
        assert granted.break_glass
    else:
        for relation in Relation:
            for reason in (None, "begrunnelse"):
                refused = ask(role, operation, relation=relation, reason=reason)
                assert not refused.allowed
                assert refused.rule.endswith(": refused")


def test_the_reasoning_table_in_the_source_matches_policy() -> None:
    """The commented matrix in domain/policy.py documents exactly the POLICY values."""
    source = Path(inspect.getfile(policy_module)).read_text(encoding="utf-8")
    rows = re.findall(r"^# \| ([a-z_]+) +\| ([ANBD ]+?) +\|", source, flags=re.MULTILINE)
    letters = {"A": Grant.ALLOW, "N": Grant.NEED_TO_KNOW, "B": Grant.BREAK_GLASS, "D": Grant.DENY}
    documented = {
        op: tuple(letters[t] for t in grants.split()) for op, grants in rows if op != "operation"
    }
    assert set(documented) == {o.value for o in Operation}
    for operation, row in POLICY.items():
        assert documented[operation.value] == tuple(row[Role(r)] for r in ROLES), operation


def test_reads_and_writes_partition_the_operations() -> None:
    assert {o.value for o in READ_OPERATIONS} == EXPECTED_READS
    assert set(Operation) == READ_OPERATIONS | WRITE_OPERATIONS
    assert not READ_OPERATIONS & WRITE_OPERATIONS


def test_every_operation_has_a_description() -> None:
    assert set(DESCRIPTIONS) == set(Operation)
    assert all(text.strip() for text in DESCRIPTIONS.values())
    assert len(set(DESCRIPTIONS.values())) == len(DESCRIPTIONS)


# ---------------------------------------------------------------------------------------------
# Domain rules
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_only_the_rektor_decides_vedtak(role: str) -> None:
    decision = ask(role, "decide_vedtak", relation=Relation.ASSIGNED, reason="frist")
    assert decision.allowed is (role == "rektor")


def test_the_inspektor_prepares_but_does_not_decide() -> None:
    for operation in ("open_vedtak", "record_recommendation", "send_notice", "manage_appeal"):
        assert ask("inspektor", operation).allowed
    assert not ask("inspektor", "decide_vedtak").allowed


@pytest.mark.parametrize("operation", sorted(o.value for o in WRITE_OPERATIONS))
def test_the_auditor_never_writes(operation: str) -> None:
    for relation in Relation:
        for reason in (None, "kontroll"):
            for restricted in (False, True):
                decision = ask(
                    "auditor", operation, relation=relation, reason=reason, restricted=restricted
                )
                assert not decision.allowed


@pytest.mark.parametrize("operation", sorted(EXPECTED_READS))
def test_the_auditor_reads_everything_with_a_reason(operation: str) -> None:
    for restricted in (False, True):
        decision = ask("auditor", operation, reason="tilsyn 2024", restricted=restricted)
        assert decision.allowed
        assert not decision.break_glass


@pytest.mark.parametrize("operation", ["read_case", "read_meeting", "export_case"])
def test_admin_reads_case_content_only_by_break_glass(operation: str) -> None:
    refused = ask("admin", operation)
    assert not refused.allowed
    assert "reason" in refused.rule
    granted = ask("admin", operation, reason="feilsøking, sak 2024/3")
    assert (granted.allowed, granted.break_glass) == (True, True)


@pytest.mark.parametrize("operation", ["read_overview", "read_access_log", "read_restricted"])
def test_admin_never_reads_these_even_with_a_reason(operation: str) -> None:
    assert not ask("admin", operation, reason="feilsøking").allowed


def test_admin_administers_schools_roster_team_and_store_without_a_reason() -> None:
    for operation in (
        "register_school",
        "add_class",
        "register_student",
        "change_class",
        "record_departure",
        "manage_team",
        "verify_store",
        "admin_store",
    ):
        decision = ask("admin", operation)
        assert (decision.allowed, decision.break_glass) == (True, False), operation


@pytest.mark.parametrize("role", ["miljoterapeut", "laerer"])
def test_any_adult_records_observations_and_raises_concerns_about_any_student(role: str) -> None:
    assert ask(role, "record_observation").allowed
    assert ask(role, "raise_concern").allowed
    assert not ask(role, "read_case").allowed  # ... but reads only their own students


def test_the_coordinator_sees_the_whole_picture_without_an_assignment() -> None:
    for operation in ("read_overview", "read_team", "read_case", "read_meeting", "assign"):
        assert ask("miljokoordinator", operation).allowed, operation
    assert not ask("miljokoordinator", "decide_vedtak").allowed


# ---------------------------------------------------------------------------------------------
# Need-to-know
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["miljoterapeut", "laerer"])
@pytest.mark.parametrize(
    ("relation", "allowed"),
    [(Relation.NONE, False), (Relation.ASSIGNED, True), (Relation.NAMED, True)],
)
def test_need_to_know_follows_the_relation(role: str, relation: Relation, allowed: bool) -> None:
    decision = ask(role, "read_case", relation=relation)
    assert decision.allowed is allowed
    assert not decision.break_glass
    if allowed:
        assert decision.rule.endswith(f"allowed, the actor is {relation.value}")
    else:
        assert "neither assigned to nor named on" in decision.rule


def test_need_to_know_is_not_broken_by_stating_a_reason() -> None:
    decision = ask("laerer", "read_case", reason="jeg var bekymret")
    assert not decision.allowed


def test_need_to_know_on_a_meeting_level_step_uses_the_relation_to_the_meeting() -> None:
    # e.g. a participant adding a note to a meeting step that concerns no single student
    named = ask("laerer", "manage_meeting", relation=Relation.NAMED, student_id=None)
    stranger = ask("laerer", "manage_meeting", relation=Relation.NONE, student_id=None)
    assert (named.allowed, stranger.allowed) == (True, False)


def test_an_allow_cell_ignores_the_relation_and_never_flags_a_reason() -> None:
    decision = ask("rektor", "read_case", reason="oppfølging")
    assert (decision.allowed, decision.break_glass) == (True, False)


# ---------------------------------------------------------------------------------------------
# Restricted (sperret) records
# ---------------------------------------------------------------------------------------------


def test_auditor_reads_a_restricted_record_only_with_a_reason() -> None:
    assert not ask("auditor", "read_case", restricted=True).allowed
    assert not ask("auditor", "read_case", restricted=True, reason=" ").allowed
    decision = ask("auditor", "read_case", restricted=True, reason="tilsyn fra Statsforvalteren")
    assert (decision.allowed, decision.break_glass) == (True, False)
    assert "read_restricted" in decision.rule


def test_rektor_reads_a_restricted_record_by_break_glass() -> None:
    refused = ask("rektor", "read_case", restricted=True)
    assert not refused.allowed
    assert "reason" in refused.rule
    granted = ask("rektor", "read_case", restricted=True, reason="klagesak 2024/5")
    assert (granted.allowed, granted.break_glass) == (True, True)
    assert "policy[read_restricted][rektor]=break_glass" in granted.rule


@pytest.mark.parametrize(
    ("role", "operation", "relation"),
    [
        ("inspektor", "read_case", Relation.NONE),  # read_case allowed, read_restricted not
        ("spesialpedagogisk_ansvarlig", "read_case", Relation.NONE),
        ("miljokoordinator", "read_meeting", Relation.NONE),
        ("miljoterapeut", "read_case", Relation.ASSIGNED),
        ("laerer", "read_case", Relation.NAMED),
        ("admin", "read_case", Relation.NONE),  # break-glass on the case is not enough
        ("inspektor", "export_case", Relation.NONE),
    ],
)
def test_a_restricted_record_needs_read_restricted_whatever_the_other_grants(
    role: str, operation: str, relation: Relation
) -> None:
    assert ask(role, operation, relation=relation, reason="trenger det").allowed
    decision = ask(role, operation, relation=relation, reason="trenger det", restricted=True)
    assert not decision.allowed
    assert "read_restricted" in decision.rule


def test_the_read_restricted_operation_always_needs_a_reason() -> None:
    assert not ask("auditor", "read_restricted", restricted=False).allowed
    assert ask("auditor", "read_restricted", restricted=False, reason="arkivkontroll").allowed


@pytest.mark.parametrize("operation", sorted(o.value for o in WRITE_OPERATIONS))
def test_a_restricted_record_cannot_be_changed_by_anyone(operation: str) -> None:
    for role in ROLES:
        decision = ask(
            role, operation, relation=Relation.ASSIGNED, reason="rettelse", restricted=True
        )
        assert not decision.allowed, role


def test_archive_beats_erasure() -> None:
    assert ask("rektor", "erase_personal_data").allowed
    decision = ask("rektor", "erase_personal_data", reason="slettekrav", restricted=True)
    assert not decision.allowed
    assert "restricted record cannot be changed" in decision.rule


# ---------------------------------------------------------------------------------------------
# Properties over arbitrary requests
# ---------------------------------------------------------------------------------------------

reasons = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "\t\n"]),
    st.text(max_size=30).map(lambda s: f"GRUNN:{s}"),
)


@settings(max_examples=400)
@given(
    role=st.sampled_from(Role),
    operation=st.sampled_from(Operation),
    relation=st.sampled_from(Relation),
    reason=reasons,
    restricted=st.booleans(),
    student_id=st.one_of(st.none(), st.uuids()),
)
def test_decisions_respect_the_rules(
    role: Role,
    operation: Operation,
    relation: Relation,
    reason: str | None,
    restricted: bool,
    student_id: UUID | None,
) -> None:
    request = AccessRequest(
        actor=Actor("p-prop", role),
        operation=operation,
        student_id=student_id,
        relation=relation,
        reason=reason,
        restricted=restricted,
    )
    decision = decide(request)
    assert decide(request) == decision  # pure
    stated = reason is not None and reason.strip() != ""
    grant = POLICY[operation][role]
    if decision.allowed:
        assert grant is not Grant.DENY
        if grant is Grant.NEED_TO_KNOW:
            assert relation is not Relation.NONE
        if restricted or operation is Operation.READ_RESTRICTED:
            assert operation in READ_OPERATIONS
            assert POLICY[Operation.READ_RESTRICTED][role] is not Grant.DENY
            assert stated
    if decision.break_glass:
        assert decision.allowed
        assert stated
    # the rule names the cell, never the student or the reason's text
    assert f"policy[{operation.value}][{role.value}]" in decision.rule
    assert "GRUNN:" not in decision.rule
    if student_id is not None:
        assert str(student_id) not in decision.rule
        assert student_id.hex not in decision.rule


def _every_request(student_id: UUID | None, person: str, reason_text: str) -> list[AccessRequest]:
    return [
        AccessRequest(
            actor=Actor(person, role, schools=frozenset({"gjesdal"})),
            operation=operation,
            student_id=student_id,
            relation=relation,
            reason=reason,
            restricted=restricted,
        )
        for operation in Operation
        for role in Role
        for relation in Relation
        for reason in (None, " ", reason_text)
        for restricted in (False, True)
    ]


def test_a_remembered_decision_is_the_one_made_afresh_for_any_other_request() -> None:
    """decide() remembers each combination's decision: a decision made for one request and
    reused for another (another student, person, schools or reason text) is the decision
    that request gets afresh, whatever was decided before it."""
    first = [decide(r) for r in _every_request(UUID(int=1), "p-1", "GRUNN: a")]
    policy_module._decision.cache_clear()
    others = _every_request(None, "p-2", "GRUNN: another")
    afresh = [decide(r) for r in others]
    assert afresh == first
    remembered = [decide(r) for r in _every_request(UUID(int=3), "p-3", "GRUNN: b")]
    assert remembered == afresh
    # Requests that differ in a field the decision depends on are never given each other's.
    assert len({(d.allowed, d.break_glass, d.rule) for d in afresh}) > 1
    info = policy_module._decision.cache_info()
    assert info.currsize <= len(Operation) * len(Role) * len(Relation) * 4


# ---------------------------------------------------------------------------------------------
# Requests and errors
# ---------------------------------------------------------------------------------------------


def test_denied_names_role_and_operation_never_the_student() -> None:
    request = AccessRequest(
        actor=Actor("p-laerer", Role.LAERER),
        operation=Operation.READ_CASE,
        student_id=STUDENT,
        relation=Relation.NONE,
        reason="Åse Nordbø ba om det",
        restricted=False,
    )
    assert not decide(request).allowed
    error = denied(request)
    assert isinstance(error, AccessDenied)
    assert str(error) == "role laerer may not read a student's case"
    assert (error.role, error.operation) == ("laerer", "read a student's case")
    assert str(STUDENT) not in str(error)
    assert "Åse" not in str(error)


def test_request_accepts_stored_values_and_hides_the_reason() -> None:
    request = AccessRequest(
        actor=Actor("p-mt1", Role.MILJOTERAPEUT),
        operation="read_case",  # the converter accepts stored values
        student_id=STUDENT,
        relation="assigned",
        reason="Ærlig talt: Bjørn Ødegård",
        restricted=False,
    )
    assert (request.operation, request.relation) == (Operation.READ_CASE, Relation.ASSIGNED)
    assert "Bjørn" not in repr(request)
    assert decide(request).allowed


def test_request_refuses_malformed_fields() -> None:
    actor = Actor("p-mt1", Role.MILJOTERAPEUT)
    fields: dict[str, object] = {
        "actor": actor,
        "operation": Operation.READ_CASE,
        "student_id": STUDENT,
        "relation": Relation.NONE,
        "reason": None,
        "restricted": False,
    }
    with pytest.raises(ValueError, match="read_everything"):
        AccessRequest(**{**fields, "operation": "read_everything"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AccessRequest(**{**fields, "restricted": "no"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AccessRequest(**{**fields, "student_id": str(STUDENT)})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AccessRequest(**{**fields, "actor": "miljoterapeut:p-mt1"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AccessRequest(**{k: v for k, v in fields.items() if k != "restricted"})  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The facade
# ---------------------------------------------------------------------------------------------


def public_methods() -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(Miljo)
        if not name.startswith("_") and callable(member)
    }


def test_every_public_facade_method_maps_to_an_operation() -> None:
    methods = public_methods()
    assert set(FACADE_OPERATIONS).isdisjoint(LIFECYCLE_METHODS)
    assert methods - LIFECYCLE_METHODS == set(FACADE_OPERATIONS)
    assert methods >= LIFECYCLE_METHODS
    assert all(isinstance(op, Operation) for op in FACADE_OPERATIONS.values())


def test_the_facade_mapping_is_the_expected_one() -> None:
    assert {name: op.value for name, op in FACADE_OPERATIONS.items()} == EXPECTED_FACADE


def test_lifecycle_methods_take_no_actor() -> None:
    for name in LIFECYCLE_METHODS:
        params = list(inspect.signature(getattr(Miljo, name)).parameters)
        assert params[0] == "self", name
        assert "actor" not in params, name
        assert set(params) <= {"self", "progress"}, name


def test_every_case_content_read_takes_the_actor() -> None:
    content = {Operation.READ_CASE, Operation.READ_MEETING, Operation.EXPORT_CASE}
    missing = sorted(
        name
        for name, op in FACADE_OPERATIONS.items()
        if op in content
        and list(inspect.signature(getattr(Miljo, name)).parameters)[1:2] != ["actor"]
    )
    assert missing == []


# ---------------------------------------------------------------------------------------------
# School scope
# ---------------------------------------------------------------------------------------------

#: Written out literally: the roles that act for every school of the municipality.
EXPECTED_MUNICIPALITY_WIDE = {"admin", "auditor"}
OWN, OTHER = "gjesdal", "sandnes"


def test_only_admin_and_auditor_act_for_every_school() -> None:
    assert {role.value for role in MUNICIPALITY_WIDE} == EXPECTED_MUNICIPALITY_WIDE
    assert {r for r in ROLES if not is_school_bound(Role(r))} == EXPECTED_MUNICIPALITY_WIDE


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("schools", [frozenset(), frozenset({OWN}), frozenset({OWN, "strinda"})])
def test_every_role_in_and_out_of_scope(role: str, schools: frozenset[str]) -> None:
    actor = Actor(f"p-{role[:12]}", Role(role), schools=schools)
    wide = role in EXPECTED_MUNICIPALITY_WIDE
    assert in_school_scope(actor, OWN) is (wide or OWN in schools)
    assert in_school_scope(actor, OTHER) is wide
    for operation in Operation:
        refusal = scope_denied(actor, operation, [OWN])
        assert (refusal is None) is (wide or OWN in schools)
        outside = scope_denied(actor, operation, [OWN, OTHER])
        if wide:
            assert outside is None
        else:
            assert isinstance(outside, AccessDenied)
            first = OTHER if OWN in schools else OWN  # the first school outside, in order
            expected = f"{describe_op(operation)} at school {first}, not one of its schools"
            assert str(outside) == f"role {role} may not {expected}"


def describe_op(operation: Operation) -> str:
    return DESCRIPTIONS[operation]


@pytest.mark.parametrize("role", ROLES)
def test_a_call_without_a_known_school_is_refused_to_a_school_bound_role(role: str) -> None:
    actor = Actor("p-1", Role(role), schools={OWN})
    refusal = scope_denied(actor, Operation.READ_CASE, [])
    if role in EXPECTED_MUNICIPALITY_WIDE:
        assert refusal is None
    else:
        assert isinstance(refusal, AccessDenied)
        assert str(refusal) == f"role {role} may not read a student's case without a known school"


def test_the_refusal_names_the_first_school_outside_the_scope_in_order() -> None:
    actor = Actor("p-1", Role.REKTOR, schools={"b-skole"})
    refusal = scope_denied(actor, Operation.READ_OVERVIEW, ["d-skole", "b-skole", "c-skole"])
    assert refusal is not None
    assert (
        refusal.operation
        == "read the ressursteam overview at school c-skole, not one of its schools"
    )


@settings(max_examples=200)
@given(
    role=st.sampled_from(list(Role)),
    schools=st.frozensets(st.sampled_from(["aa", "bb", "cc", "dd"])),
    targets=st.lists(st.sampled_from(["aa", "bb", "cc", "dd"]), max_size=4),
)
def test_scope_is_every_target_in_the_actors_schools(
    role: Role, schools: frozenset[str], targets: list[str]
) -> None:
    actor = Actor("p-1", role, schools=schools)
    refusal = scope_denied(actor, Operation.READ_SCHOOL, targets)
    if role in MUNICIPALITY_WIDE:
        assert refusal is None
    else:
        assert (refusal is None) is (bool(targets) and set(targets) <= schools)
