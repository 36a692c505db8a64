"""The two tables beside the role matrix (domain/policy.py): which relations satisfy a
need-to-know cell (an observation's author may correct it and gains nothing else), and which
restriction scopes freeze which writes. Both are written out here literally.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import AccessDenied, RecordRestricted
from domain.policy import (
    NEED_TO_KNOW_RELATIONS,
    POLICY,
    READ_OPERATIONS,
    RESTRICTED_BY,
    UNRESTRICTED_WRITES,
    WRITE_OPERATIONS,
    AccessRequest,
    Grant,
    Operation,
    Relation,
    decide,
    denied,
    restriction_scopes,
)
from domain.student import RESTRICTION_SCOPES
from domain.values import Actor, Role

STUDENT: Final = UUID(int=7)

#: The restriction scopes that freeze each write about one student ("" = none).
EXPECTED_SCOPES: Final = {
    "register_school": "",
    "add_class": "",
    "register_student": "",
    "change_class": "",  # the roster: school data, read without opening the case
    "record_departure": "",
    "record_observation": "",  # a new entry: the duty to report (opplæringslova § 12-4)
    "correct_observation": "case",
    "raise_concern": "",
    "record_consent": "",
    "withdraw_consent": "case",
    "make_referral": "",
    "change_referral": "case",
    "manage_aktivitetsplan": "aktivitetsplan case",
    "open_vedtak": "",  # a new vedtak case
    "record_recommendation": "case vedtak",
    "decide_vedtak": "case vedtak",
    "send_notice": "case vedtak",
    "manage_appeal": "",  # the parties' appeal (a legal claim)
    "record_delivery": "",  # delivering a vedtak in force: the evidence of hours given
    "record_vedtak_expiry": "case vedtak",
    "manage_team": "",
    "assign": "",  # a student assignment delivers one of their vedtak
    "schedule_meeting": "",
    "manage_meeting": "",  # an agenda item about the student: a new entry
    "erase_personal_data": "",  # touches only data outside the archive
    "restrict_record": "",  # restricting and lifting
    "admin_store": "",
}


def request(
    role: Role, operation: Operation, relation: Relation, *, restricted: bool = False
) -> AccessRequest:
    return AccessRequest(
        actor=Actor("p-x", role, schools=frozenset({"gjesdal"})),
        operation=operation,
        student_id=STUDENT,
        relation=relation,
        reason=None,
        restricted=restricted,
    )


# -- relations -------------------------------------------------------------------------------


def test_every_operation_says_which_relations_satisfy_need_to_know() -> None:
    assert set(NEED_TO_KNOW_RELATIONS) == set(Operation)
    for operation, relations in NEED_TO_KNOW_RELATIONS.items():
        assert Relation.NONE not in relations, operation
        assert {Relation.ASSIGNED, Relation.NAMED} <= relations, operation
    authored = {
        op for op, relations in NEED_TO_KNOW_RELATIONS.items() if Relation.AUTHOR in relations
    }
    assert authored == {Operation.CORRECT_OBSERVATION}


NEED_TO_KNOW_CELLS = [
    pytest.param(operation, role, id=f"{operation.value}-{role.value}")
    for operation in Operation
    for role in Role
    if POLICY[operation][role] is Grant.NEED_TO_KNOW
]


@pytest.mark.parametrize(("operation", "role"), NEED_TO_KNOW_CELLS)
def test_the_author_of_an_observation_may_only_correct_it(operation: Operation, role: Role) -> None:
    decision = decide(request(role, operation, Relation.AUTHOR))
    assert decision.allowed is (operation is Operation.CORRECT_OBSERVATION)
    if not decision.allowed:
        assert "only author" in decision.rule
    for tied in (Relation.ASSIGNED, Relation.NAMED):
        assert decide(request(role, operation, tied)).allowed


def test_the_author_reads_no_case_meeting_or_history() -> None:
    for role in (Role.MILJOTERAPEUT, Role.LAERER):
        for operation in (Operation.READ_CASE, Operation.READ_MEETING):
            assert not decide(request(role, operation, Relation.AUTHOR)).allowed


@settings(max_examples=300)
@given(
    role=st.sampled_from(Role),
    operation=st.sampled_from(Operation),
    relation=st.sampled_from(Relation),
    restricted=st.booleans(),
)
def test_a_need_to_know_grant_is_met_only_by_a_relation_the_table_names(
    role: Role, operation: Operation, relation: Relation, restricted: bool
) -> None:
    decision = decide(request(role, operation, relation, restricted=restricted))
    if decision.allowed and POLICY[operation][role] is Grant.NEED_TO_KNOW:
        assert relation in NEED_TO_KNOW_RELATIONS[operation]


# -- restricted records ----------------------------------------------------------------------


def test_the_scopes_of_every_write_are_the_expected_ones() -> None:
    assert set(EXPECTED_SCOPES) == {op.value for op in WRITE_OPERATIONS}
    actual = {op.value: " ".join(sorted(restriction_scopes(op))) for op in WRITE_OPERATIONS}
    assert actual == EXPECTED_SCOPES
    assert set(RESTRICTED_BY) == set(RESTRICTION_SCOPES)


def test_the_writes_about_a_student_no_restriction_freezes() -> None:
    assert {op.value for op in UNRESTRICTED_WRITES} == {
        "record_observation",
        "raise_concern",
        "record_consent",
        "make_referral",
        "manage_meeting",
        "open_vedtak",
        "record_delivery",
        "assign",
        "change_class",
        "record_departure",
        "manage_appeal",
        "erase_personal_data",
        "restrict_record",
    }
    assert all(restriction_scopes(op) == frozenset() for op in UNRESTRICTED_WRITES)


def test_reads_have_no_write_scopes() -> None:
    assert all(restriction_scopes(op) == frozenset() for op in READ_OPERATIONS)


def test_a_restricted_case_freezes_everything_any_other_scope_freezes() -> None:
    assert RESTRICTED_BY["vedtak"] | RESTRICTED_BY["aktivitetsplan"] <= RESTRICTED_BY["case"]
    assert RESTRICTED_BY["vedtak"].isdisjoint(RESTRICTED_BY["aktivitetsplan"])


def test_a_refused_restricted_write_is_named_only_to_a_role_that_may_make_it() -> None:
    allowed_role = denied(
        request(Role.REKTOR, Operation.DECIDE_VEDTAK, Relation.NONE, restricted=True)
    )
    assert isinstance(allowed_role, RecordRestricted)
    assert str(allowed_role) == (
        "role rektor may not decide, amend or revoke a vedtak: the record is restricted "
        "(sperret) and cannot be changed until the restriction is lifted"
    )
    other_role = denied(
        request(Role.INSPEKTOR, Operation.DECIDE_VEDTAK, Relation.NONE, restricted=True)
    )
    assert type(other_role) is AccessDenied
    # need-to-know not met: the plain refusal, whatever the restriction
    stranger = denied(
        request(Role.LAERER, Operation.WITHDRAW_CONSENT, Relation.NONE, restricted=True)
    )
    assert type(stranger) is AccessDenied
    named = denied(
        request(Role.LAERER, Operation.WITHDRAW_CONSENT, Relation.NAMED, restricted=True)
    )
    assert isinstance(named, RecordRestricted)
    # a read of a restricted record is refused as before, never as a write
    read = denied(request(Role.INSPEKTOR, Operation.READ_CASE, Relation.NONE, restricted=True))
    assert type(read) is AccessDenied
