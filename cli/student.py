"""``miljo student``: register, find and follow a student's case.

A student is always named by school and student number: ``--school CODE NUMBER``.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import click

from cli import render
from cli.params import ID, INSTANT, ISO_DATE, F, choice, json_option, student_arguments
from cli.wiring import CliContext, pass_cli
from domain.policy import FACADE_OPERATIONS, scope_denied
from domain.student import (
    ERASURE_BASES,
    RESTRICTION_SCOPES,
    ConsentGiver,
    DepartureKind,
    ReferralStatus,
)
from domain.values import Arena, ExternalBody, MeetingKind, ObservationCategory, check_school_code


def student_id(cli: CliContext, school: str, number: str, *, call: str = "find_student") -> UUID:
    """Resolve school + student number to the student's id (exit code 4 if unknown).

    ``call`` is the facade method the command then calls with the id. A school outside a
    school-bound actor's schools is refused first, as that call would refuse it (exit code
    6): the message names the operation asked for, not the look-up of the number, and the
    number is never looked up, so it tells nothing about whether the student exists
    (docs/adr/0010-access-policy.md, "the scope comes first outside the facade too")."""
    refusal = scope_denied(cli.actor, FACADE_OPERATIONS[call], [check_school_code(school)])
    if refusal is not None:
        raise refusal
    return cli.miljo.find_student(cli.actor, school=school, student_number=number)


@click.group()
def student() -> None:
    """Students: registration, observations, concerns, consents, referrals, plans,
    restriction and erasure.

    \b
    Example:
      miljo student register --school gjesdal 1001 --name "Kari Testesen" --trinn 8 --class 8c
      miljo student observe --school gjesdal 1001 --arena break --category conflict \\
        --text "Uro i friminuttet"
      miljo student show --school gjesdal 1001
    """


@student.command("register")
@student_arguments
@click.option("--name", required=True, help="The student's full name.")
@click.option("--trinn", type=int, required=True, help="The student's trinn.")
@click.option("--class", "class_name", required=True, help="The student's class, e.g. 8c.")
@click.option("--registered-on", type=ISO_DATE, help="Registration date (default: today).")
@json_option
@pass_cli
def register(
    cli: CliContext,
    school: str,
    number: str,
    name: str,
    trinn: int,
    class_name: str,
    registered_on: date | None,
    as_json: bool,
) -> None:
    """Register a student with student NUMBER at a school.

    \b
    Example:
      miljo student register --school gjesdal 1001 --name "Kari Testesen" --trinn 8 --class 8c
    """
    new_id = cli.miljo.register_student(
        cli.actor,
        school=school,
        student_number=number,
        name=name,
        trinn=trinn,
        class_name=class_name,
        registered_on=registered_on,
    )
    render.report(as_json, "student register", f"Registered student {number}", new_id=new_id)


@student.command("find")
@student_arguments
@json_option
@pass_cli
def find(cli: CliContext, school: str, number: str, as_json: bool) -> None:
    """Find a student: id, trinn, class, active (no name; the case is not opened).

    \b
    Example:
      miljo student find --school gjesdal 1001 --json
    """
    summary = cli.miljo.student_summary(
        cli.actor, student_id(cli, school, number, call="student_summary")
    )
    if as_json:
        render.emit_json(render.STUDENT_SUMMARY.build(summary))
        return
    click.echo(
        render.pairs(
            [
                ("student", summary.student_id),
                ("school", summary.school_code),
                ("class", f"{summary.class_name} (trinn {summary.trinn})"),
                ("active", summary.is_active),
            ]
        )
    )


@student.command("show")
@student_arguments
@click.option(
    "--reason",
    help="Why you open the case (kept in the access log). Needed for a restricted case "
    "and for a break-glass read (admin).",
)
@json_option
@pass_cli
def show(cli: CliContext, school: str, number: str, reason: str | None, as_json: bool) -> None:
    """Open a student's case. The read is recorded in the student's access log.

    Erased personal data (see 'miljo student erase') is shown as [erased]. A case
    with restricted records (aktivitetsplan or the whole case) is read only by a
    permitted role with --reason.

    \b
    Example:
      miljo student show --school gjesdal 1001 --reason "ressursteam 2024-09-04"
    """
    case = cli.miljo.student_case(
        cli.actor, student_id(cli, school, number, call="student_case"), reason=reason
    )
    if as_json:
        render.emit_json(render.STUDENT_CASE.build(case))
        return
    click.echo(
        render.pairs(
            [
                ("student", f"{case.student_number} {case.name}"),
                ("school", case.school_code),
                ("class", f"{case.class_name} (trinn {case.trinn})"),
                ("registered", case.registered_on),
                ("active", case.is_active),
                ("id", case.student_id),
            ]
        )
    )
    observations = [
        (o.observed_at, o.arena, o.categories, o.author_id, o.text, o.observation_id)
        for o in case.observations
    ]
    click.echo(
        render.section(
            "Observations",
            render.table(["observed", "arena", "categories", "by", "text", "id"], observations),
        )
    )
    concerns = [
        (c.raised_at, c.raised_by, len(c.discussed_in), c.text, c.concern_id) for c in case.concerns
    ]
    click.echo(
        render.section(
            "Concerns", render.table(["raised", "by", "discussed", "summary", "id"], concerns)
        )
    )
    consents = [
        (
            c.giver,
            f"{c.scope_kind.value}:{c.scope}",
            c.valid_from,
            c.valid_to,
            c.withdrawn_on,
            c.consent_id,
        )
        for c in case.consents
    ]
    click.echo(
        render.section(
            "Consents",
            render.table(["giver", "scope", "from", "to", "withdrawn", "id"], consents),
        )
    )
    referrals = [
        (r.body, r.made_on, r.status, r.status_changed_on, r.referral_id) for r in case.referrals
    ]
    click.echo(
        render.section(
            "Referrals", render.table(["body", "made", "status", "since", "id"], referrals)
        )
    )
    plans = [
        (p.problem, p.responsible, p.evaluation_date, p.closed_on, p.plan_id) for p in case.plans
    ]
    click.echo(
        render.section(
            "Aktivitetsplaner",
            render.table(["problem", "responsible", "evaluate", "closed", "id"], plans),
        )
    )
    click.echo(render.section("Vedtak", "  " + render.text(case.vedtak_ids)))
    click.echo(render.section("Meetings", "  " + render.text(case.meeting_ids)))


@student.command("change-class")
@student_arguments
@click.option("--trinn", type=int, required=True, help="The new trinn.")
@click.option("--class", "class_name", required=True, help="The new class.")
@click.option("--from", "effective_from", type=ISO_DATE, help="Effective date (default: today).")
@json_option
@pass_cli
def change_class(
    cli: CliContext,
    school: str,
    number: str,
    trinn: int,
    class_name: str,
    effective_from: date | None,
    as_json: bool,
) -> None:
    """Move a student to another class.

    \b
    Example:
      miljo student change-class --school gjesdal 1001 --trinn 8 --class 8d --from 2024-10-01
    """
    cli.miljo.change_class(
        cli.actor,
        student_id(cli, school, number, call="change_class"),
        trinn=trinn,
        class_name=class_name,
        effective_from=effective_from,
    )
    render.report(as_json, "student change-class", f"Moved student {number} to {class_name}")


@student.command("depart")
@student_arguments
@click.option("--kind", type=choice(DepartureKind), required=True, help="How the student left.")
@click.option("--on", "on", type=ISO_DATE, help="Departure date (default: today).")
@click.option("--to-school", metavar="CODE", help="The receiving school (for a transfer).")
@json_option
@pass_cli
def depart(
    cli: CliContext,
    school: str,
    number: str,
    kind: str,
    on: date | None,
    to_school: str | None,
    as_json: bool,
) -> None:
    """Record that a student left the school or transferred to another.

    \b
    Example:
      miljo student depart --school gjesdal 1001 --kind transferred --to-school strinda
    """
    cli.miljo.record_departure(
        cli.actor,
        student_id(cli, school, number, call="record_departure"),
        kind=kind,
        on=on,
        to_school=to_school,
    )
    render.report(as_json, "student depart", f"Recorded departure of student {number}")


def _observation_options(function: F) -> F:
    function = click.option(
        "--voice", "student_voice", help="The student's own words or view, if heard."
    )(function)
    function = click.option("--text", "text", required=True, help="What was observed.")(function)
    function = click.option(
        "--category",
        "categories",
        type=choice(ObservationCategory),
        multiple=True,
        required=True,
        help="A category (repeat for several).",
    )(function)
    return click.option("--arena", type=choice(Arena), required=True, help="Where it happened.")(
        function
    )


@student.command("observe")
@student_arguments
@_observation_options
@click.option(
    "--observed-at", type=INSTANT, help="When it happened (ISO 8601 with offset; default: now)."
)
@json_option
@pass_cli
def observe(
    cli: CliContext,
    school: str,
    number: str,
    arena: str,
    categories: tuple[str, ...],
    text: str,
    student_voice: str | None,
    observed_at: datetime | None,
    as_json: bool,
) -> None:
    """Record an observation about a student.

    \b
    Example:
      miljo student observe --school gjesdal 1001 --arena break --category conflict \\
        --text "Uro i friminuttet" --observed-at 2024-09-02T10:15:00+02:00
    """
    new_id = cli.miljo.record_observation(
        cli.actor,
        student_id(cli, school, number, call="record_observation"),
        arena=arena,
        categories=list(categories),
        text=text,
        observed_at=observed_at,
        student_voice=student_voice,
    )
    render.report(as_json, "student observe", "Recorded observation", new_id=new_id)


@student.command("correct-observation")
@student_arguments
@click.option("--observation", "corrects", type=ID, required=True, help="The observation's id.")
@_observation_options
@click.option(
    "--observed-at", type=INSTANT, required=True, help="When it happened (ISO 8601 with offset)."
)
@click.option("--reason", required=True, help="Why the observation is corrected.")
@json_option
@pass_cli
def correct_observation(
    cli: CliContext,
    school: str,
    number: str,
    corrects: UUID,
    arena: str,
    categories: tuple[str, ...],
    text: str,
    student_voice: str | None,
    observed_at: datetime,
    reason: str,
    as_json: bool,
) -> None:
    """Correct an observation by a new entry (the original is kept).

    \b
    Example:
      miljo student correct-observation --school gjesdal 1001 --observation ID \\
        --arena classroom --category conflict --text "Uro i timen" \\
        --observed-at 2024-09-02T10:15:00+02:00 --reason "feil arena"
    """
    new_id = cli.miljo.correct_observation(
        cli.actor,
        student_id(cli, school, number, call="correct_observation"),
        corrects=corrects,
        arena=arena,
        categories=list(categories),
        text=text,
        observed_at=observed_at,
        reason=reason,
        student_voice=student_voice,
    )
    render.report(as_json, "student correct-observation", "Recorded correction", new_id=new_id)


@student.command("concern")
@student_arguments
@click.option("--summary", required=True, help="What the concern is about.")
@json_option
@pass_cli
def concern(cli: CliContext, school: str, number: str, summary: str, as_json: bool) -> None:
    """Raise a concern about a student (for the ressursteam).

    \b
    Example:
      miljo student concern --school gjesdal 1001 --summary "Mye fravær etter høstferien"
    """
    new_id = cli.miljo.raise_concern(
        cli.actor, student_id(cli, school, number, call="raise_concern"), summary=summary
    )
    render.report(as_json, "student concern", "Raised concern", new_id=new_id)


@student.command("consent")
@student_arguments
@click.option("--giver", type=choice(ConsentGiver), required=True, help="Who gave the consent.")
@click.option("--body", type=choice(ExternalBody), help="Scope: an external body.")
@click.option("--meeting-kind", type=choice(MeetingKind), help="Scope: a kind of meeting.")
@click.option("--from", "valid_from", type=ISO_DATE, required=True, help="First valid day.")
@click.option("--to", "valid_to", type=ISO_DATE, help="Last valid day (default: open).")
@click.option("--note", help="A note on the consent.")
@json_option
@pass_cli
def consent(
    cli: CliContext,
    school: str,
    number: str,
    giver: str,
    body: str | None,
    meeting_kind: str | None,
    valid_from: date,
    valid_to: date | None,
    note: str | None,
    as_json: bool,
) -> None:
    """Record a consent, scoped to one external body (--body) or meeting kind (--meeting-kind).

    \b
    Example:
      miljo student consent --school gjesdal 1001 --giver guardian --meeting-kind arbeidslag \\
        --from 2024-09-01 --to 2025-06-20
    """
    if body is not None and meeting_kind is None:
        scope_kind, scope = "body", body
    elif meeting_kind is not None and body is None:
        scope_kind, scope = "meeting_kind", meeting_kind
    else:
        raise click.UsageError("give exactly one of --body and --meeting-kind")
    new_id = cli.miljo.record_consent(
        cli.actor,
        student_id(cli, school, number, call="record_consent"),
        giver=giver,
        scope_kind=scope_kind,
        scope=scope,
        valid_from=valid_from,
        valid_to=valid_to,
        note=note,
    )
    render.report(as_json, "student consent", "Recorded consent", new_id=new_id)


@student.command("withdraw-consent")
@student_arguments
@click.option("--consent", "consent_id", type=ID, required=True, help="The consent's id.")
@click.option("--on", "on", type=ISO_DATE, help="Date of withdrawal (default: today).")
@json_option
@pass_cli
def withdraw_consent(
    cli: CliContext, school: str, number: str, consent_id: UUID, on: date | None, as_json: bool
) -> None:
    """Record that a consent was withdrawn.

    \b
    Example:
      miljo student withdraw-consent --school gjesdal 1001 --consent ID --on 2024-11-01
    """
    cli.miljo.withdraw_consent(
        cli.actor,
        student_id(cli, school, number, call="withdraw_consent"),
        consent_id=consent_id,
        withdrawn_on=on,
    )
    render.report(as_json, "student withdraw-consent", f"Withdrew consent {consent_id}")


@student.command("refer")
@student_arguments
@click.option("--body", type=choice(ExternalBody), required=True, help="Referred to.")
@click.option("--reason", required=True, help="Why the student is referred.")
@click.option("--on", "on", type=ISO_DATE, help="Date of the referral (default: today).")
@json_option
@pass_cli
def refer(
    cli: CliContext,
    school: str,
    number: str,
    body: str,
    reason: str,
    on: date | None,
    as_json: bool,
) -> None:
    """Refer a student to an external service (PPT, BUP, barnevern, ...).

    \b
    Example:
      miljo student refer --school gjesdal 1001 --body ppt --reason "Sakkyndig vurdering"
    """
    new_id = cli.miljo.make_referral(
        cli.actor,
        student_id(cli, school, number, call="make_referral"),
        body=body,
        reason=reason,
        made_on=on,
    )
    render.report(as_json, "student refer", "Recorded referral", new_id=new_id)


@student.command("referral-status")
@student_arguments
@click.option("--referral", "referral_id", type=ID, required=True, help="The referral's id.")
@click.option("--status", type=choice(ReferralStatus), required=True, help="The new status.")
@click.option("--on", "on", type=ISO_DATE, help="Date of the change (default: today).")
@json_option
@pass_cli
def referral_status(
    cli: CliContext,
    school: str,
    number: str,
    referral_id: UUID,
    status: str,
    on: date | None,
    as_json: bool,
) -> None:
    """Change a referral's status (sent, acknowledged, accepted, rejected, ...).

    \b
    Example:
      miljo student referral-status --school gjesdal 1001 --referral ID --status acknowledged
    """
    cli.miljo.change_referral_status(
        cli.actor,
        student_id(cli, school, number, call="change_referral_status"),
        referral_id=referral_id,
        status=status,
        on=on,
    )
    render.report(as_json, "student referral-status", f"Referral {referral_id} is now {status}")


@student.group("plan")
def plan() -> None:
    """Aktivitetsplaner (Education Act § 12-4): create, evaluate, close.

    \b
    Example:
      miljo student plan create --school gjesdal 1001 --problem "Utestengt i friminutt" \\
        --measure "Voksen ute i friminutt" --when "Fra uke 37" --responsible p-coord \\
        --evaluate-on 2024-10-15
    """


@plan.command("create")
@student_arguments
@click.option("--problem", required=True, help="The problem the plan addresses.")
@click.option(
    "--measure", "measures", multiple=True, required=True, help="A measure (repeat for several)."
)
@click.option("--when", "when", required=True, help="When the measures take place.")
@click.option("--responsible", required=True, help="Who is responsible (person id).")
@click.option(
    "--evaluate-on", "evaluation_date", type=ISO_DATE, required=True, help="Evaluation date."
)
@json_option
@pass_cli
def plan_create(
    cli: CliContext,
    school: str,
    number: str,
    problem: str,
    measures: tuple[str, ...],
    when: str,
    responsible: str,
    evaluation_date: date,
    as_json: bool,
) -> None:
    """Create an aktivitetsplan: problem, measures, when, responsible, evaluation date.

    \b
    Example:
      miljo student plan create --school gjesdal 1001 --problem "Utestengt i friminutt" \\
        --measure "Voksen ute i friminutt" --when "Fra uke 37" --responsible p-coord \\
        --evaluate-on 2024-10-15
    """
    new_id = cli.miljo.create_aktivitetsplan(
        cli.actor,
        student_id(cli, school, number, call="create_aktivitetsplan"),
        problem=problem,
        measures=list(measures),
        when=when,
        responsible=responsible,
        evaluation_date=evaluation_date,
    )
    render.report(as_json, "student plan create", "Created aktivitetsplan", new_id=new_id)


@plan.command("evaluate")
@student_arguments
@click.option("--plan", "plan_id", type=ID, required=True, help="The plan's id.")
@click.option("--assessment", required=True, help="How the measures worked.")
@click.option("--next", "next_evaluation_date", type=ISO_DATE, help="Next evaluation date.")
@click.option("--on", "on", type=ISO_DATE, help="Date of the evaluation (default: today).")
@json_option
@pass_cli
def plan_evaluate(
    cli: CliContext,
    school: str,
    number: str,
    plan_id: UUID,
    assessment: str,
    next_evaluation_date: date | None,
    on: date | None,
    as_json: bool,
) -> None:
    """Record an evaluation of an aktivitetsplan.

    \b
    Example:
      miljo student plan evaluate --school gjesdal 1001 --plan ID \\
        --assessment "Bedre i friminuttene" --next 2024-12-01
    """
    cli.miljo.evaluate_aktivitetsplan(
        cli.actor,
        student_id(cli, school, number, call="evaluate_aktivitetsplan"),
        plan_id=plan_id,
        assessment=assessment,
        next_evaluation_date=next_evaluation_date,
        evaluated_on=on,
    )
    render.report(as_json, "student plan evaluate", f"Evaluated aktivitetsplan {plan_id}")


@plan.command("close")
@student_arguments
@click.option("--plan", "plan_id", type=ID, required=True, help="The plan's id.")
@click.option("--reason", required=True, help="Why the plan is closed.")
@click.option("--on", "on", type=ISO_DATE, help="Date of closing (default: today).")
@json_option
@pass_cli
def plan_close(
    cli: CliContext,
    school: str,
    number: str,
    plan_id: UUID,
    reason: str,
    on: date | None,
    as_json: bool,
) -> None:
    """Close an aktivitetsplan.

    \b
    Example:
      miljo student plan close --school gjesdal 1001 --plan ID --reason "Målene er nådd"
    """
    cli.miljo.close_aktivitetsplan(
        cli.actor,
        student_id(cli, school, number, call="close_aktivitetsplan"),
        plan_id=plan_id,
        reason=reason,
        closed_on=on,
    )
    render.report(as_json, "student plan close", f"Closed aktivitetsplan {plan_id}")


# ---------------------------------------------------------------------------------------------
# Data protection: restriction (sperring) and erasure
# ---------------------------------------------------------------------------------------------


def _restriction_options(function: F) -> F:
    function = click.option(
        "--on", "on", type=ISO_DATE, help="Date it takes effect (default: today)."
    )(function)
    function = click.option(
        "--reason", required=True, help="Why (kept with the record; shown to auditors)."
    )(function)
    return click.option(
        "--scope",
        type=click.Choice(RESTRICTION_SCOPES),
        required=True,
        help="Which archival records: the vedtak, the aktivitetsplaner, or the whole case.",
    )(function)


@student.command("restrict")
@student_arguments
@_restriction_options
@json_option
@pass_cli
def restrict(
    cli: CliContext,
    school: str,
    number: str,
    scope: str,
    reason: str,
    on: date | None,
    as_json: bool,
) -> None:
    """Restrict (sperre) a student's archival records instead of erasing them.

    Restricted records can no longer be changed, and are read only by the rektor and
    the auditor, with --reason (the read is logged). Only the rektor restricts.

    \b
    Example:
      miljo --as rektor:p-rektor@gjesdal student restrict --school gjesdal 1001 --scope vedtak \\
        --reason "Klage til Statsforvalteren"
    """
    cli.miljo.restrict_records(
        cli.actor,
        student_id(cli, school, number, call="restrict_records"),
        scope=scope,
        reason=reason,
        on=on,
    )
    render.report(
        as_json, "student restrict", f"Restricted the {scope} records of student {number}"
    )


@student.command("lift-restriction")
@student_arguments
@_restriction_options
@json_option
@pass_cli
def lift_restriction(
    cli: CliContext,
    school: str,
    number: str,
    scope: str,
    reason: str,
    on: date | None,
    as_json: bool,
) -> None:
    """Lift a restriction of a student's archival records (the rektor).

    \b
    Example:
      miljo --as rektor:p-rektor@gjesdal student lift-restriction --school gjesdal 1001 \\
        --scope vedtak --reason "Klagen er avgjort"
    """
    cli.miljo.lift_restriction(
        cli.actor,
        student_id(cli, school, number, call="lift_restriction"),
        scope=scope,
        reason=reason,
        on=on,
    )
    render.report(
        as_json,
        "student lift-restriction",
        f"Lifted the restriction of the {scope} records of student {number}",
    )


@student.command("erase")
@student_arguments
@click.option(
    "--basis",
    type=click.Choice(ERASURE_BASES),
    required=True,
    help="The legal basis: never filed, retention expired, third-party data, a draft, "
    "or the person's request.",
)
@click.option("--on", "on", type=ISO_DATE, help="Date of the erasure (default: today).")
@click.option("--reason", help="Why (needed where the role erases only by break-glass).")
@click.option(
    "--yes", "confirmed", is_flag=True, help="Confirm: the erasure cannot be undone (required)."
)
@json_option
@pass_cli
def erase(
    cli: CliContext,
    school: str,
    number: str,
    basis: str,
    on: date | None,
    reason: str | None,
    confirmed: bool,
    as_json: bool,
) -> None:
    """Erase a student's personal data outside the archive duty, for good.

    Observations, concerns, consent notes, referral reasons, meeting notes and the
    like become unreadable everywhere (shown as [erased]); the student's erasable
    data key is deleted. Archival records (registration and name, vedtak, PPT's
    recommendation, aktivitetsplaner) are kept: restrict them instead. The erasure
    itself is recorded. Without --yes nothing is done (exit code 2).

    \b
    Example:
      miljo --as rektor:p-rektor@gjesdal student erase --school gjesdal 1001 --basis request --yes
    """
    if not confirmed:
        raise click.UsageError(
            "erasing personal data cannot be undone; give --yes to confirm (nothing was erased)"
        )
    deleted = cli.miljo.erase_personal_data(
        cli.actor,
        student_id(cli, school, number, call="erase_personal_data"),
        basis=basis,
        on=on,
        reason=reason,
    )
    if as_json:
        render.emit_json(
            render.ERASE_RESULT.build(
                {"action": "student erase", "id": None, "keys_deleted": deleted}
            )
        )
        return
    keys = f"{deleted} data key" + ("" if deleted == 1 else "s")
    click.echo(
        f"Erased the personal data of student {number} outside the archive ({basis}): "
        f"{keys} deleted"
    )
