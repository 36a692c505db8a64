"""``miljo vedtak``: the enkeltvedtak case, from opening to delivery and expiry.

Hours are given in hours (exact decimals, e.g. ``--miljoterapeut 380``) and stored as exact
minutes. A vedtak is named by its id (printed by ``miljo vedtak open``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

import click

from cli import render
from cli.params import (
    ID,
    ISO_DATE,
    F,
    choice,
    hours_by_competence,
    hours_options,
    json_option,
    student_arguments,
)
from cli.student import student_id
from cli.wiring import CliContext, pass_cli
from domain.vedtak import AppealOutcome, VedtakKind

vedtak_argument = click.argument("vedtak_id", metavar="VEDTAK-ID", type=ID)


@click.group()
def vedtak() -> None:
    """Enkeltvedtak: recommendation, decision, notice, appeal, delivery.

    \b
    Example:
      miljo vedtak open --school gjesdal 1001 --kind individually_adapted_education
      miljo vedtak recommend VEDTAK-ID --on 2024-09-10 --miljoterapeut 380 --summary "PPT"
      miljo vedtak show VEDTAK-ID
    """


@vedtak.command("open")
@student_arguments
@click.option("--kind", type=choice(VedtakKind), required=True, help="The kind of vedtak.")
@click.option("--on", "on", type=ISO_DATE, help="Date the case is opened (default: today).")
@json_option
@pass_cli
def open_(
    cli: CliContext, school: str, number: str, kind: str, on: date | None, as_json: bool
) -> None:
    """Open a vedtak case for a student; prints the vedtak's id.

    \b
    Example:
      miljo vedtak open --school gjesdal 1001 --kind individually_adapted_education
    """
    new_id = cli.miljo.open_vedtak(
        cli.actor, student_id(cli, school, number, call="open_vedtak"), kind=kind, opened_on=on
    )
    render.report(as_json, "vedtak open", "Opened vedtak", new_id=new_id)


@vedtak.command("recommend")
@vedtak_argument
@click.option("--on", "on", type=ISO_DATE, required=True, help="Date of PPT's tilråding.")
@hours_options("per year")
@click.option("--summary", required=True, help="A summary of the recommendation.")
@json_option
@pass_cli
def recommend(
    cli: CliContext,
    vedtak_id: UUID,
    on: date,
    teacher: Decimal,
    special_ed_teacher: Decimal,
    miljoterapeut: Decimal,
    assistant: Decimal,
    summary: str,
    as_json: bool,
) -> None:
    """Record PPT's recommendation (tilråding) in hours per year by competence.

    \b
    Example:
      miljo vedtak recommend VEDTAK-ID --on 2024-09-10 --miljoterapeut 380 \\
        --special-ed-teacher 76 --summary "Sakkyndig vurdering fra PPT"
    """
    hours = hours_by_competence(
        teacher=teacher,
        special_ed_teacher=special_ed_teacher,
        miljoterapeut=miljoterapeut,
        assistant=assistant,
    )
    cli.miljo.record_recommendation(
        cli.actor, vedtak_id, recommended_on=on, hours=hours, summary=summary
    )
    render.report(as_json, "vedtak recommend", f"Recorded recommendation on vedtak {vedtak_id}")


def _decision_options(function: F) -> F:
    function = click.option(
        "--deviation-reason", help="Why the decision deviates from the recommendation."
    )(function)
    function = click.option("--reasons", required=True, help="The reasons (fvl §§ 24-25).")(
        function
    )
    function = click.option("--content", required=True, help="The content of the education.")(
        function
    )
    return click.option("--organisation", required=True, help="How it is organised.")(function)


@vedtak.command("decide")
@vedtak_argument
@hours_options("per year")
@_decision_options
@click.option("--from", "valid_from", type=ISO_DATE, required=True, help="First day in force.")
@click.option("--to", "valid_to", type=ISO_DATE, required=True, help="Last day in force.")
@click.option("--on", "on", type=ISO_DATE, help="Decision date (default: today).")
@json_option
@pass_cli
def decide(
    cli: CliContext,
    vedtak_id: UUID,
    teacher: Decimal,
    special_ed_teacher: Decimal,
    miljoterapeut: Decimal,
    assistant: Decimal,
    organisation: str,
    content: str,
    reasons: str,
    deviation_reason: str | None,
    valid_from: date,
    valid_to: date,
    on: date | None,
    as_json: bool,
) -> None:
    """Decide the vedtak (the rektor signs): hours per year, content, reasons, period.

    \b
    Example:
      miljo --as rektor:p-rektor@gjesdal vedtak decide VEDTAK-ID --miljoterapeut 380 \\
        --organisation "I klassen og i liten gruppe" --content "Sosial trening" \\
        --reasons "Etter PPTs tilråding" --from 2024-09-16 --to 2025-06-20
    """
    hours = hours_by_competence(
        teacher=teacher,
        special_ed_teacher=special_ed_teacher,
        miljoterapeut=miljoterapeut,
        assistant=assistant,
    )
    cli.miljo.decide_vedtak(
        cli.actor,
        vedtak_id,
        hours=hours,
        organisation=organisation,
        content=content,
        reasons=reasons,
        valid_from=valid_from,
        valid_to=valid_to,
        deviation_reason=deviation_reason,
        decided_on=on,
    )
    render.report(as_json, "vedtak decide", f"Decided vedtak {vedtak_id}")


@vedtak.command("notice")
@vedtak_argument
@click.option("--on", "on", type=ISO_DATE, help="Date the parties got notice (default: today).")
@json_option
@pass_cli
def notice(cli: CliContext, vedtak_id: UUID, on: date | None, as_json: bool) -> None:
    """Record that the parties were notified; prints the appeal deadline.

    \b
    Example:
      miljo vedtak notice VEDTAK-ID --on 2024-09-17
    """
    deadline = cli.miljo.send_vedtak_notice(cli.actor, vedtak_id, notice_date=on)
    if as_json:
        render.emit_json(
            render.NOTICE_RESULT.build(
                {"action": "vedtak notice", "id": vedtak_id, "appeal_deadline": deadline}
            )
        )
        return
    click.echo(f"Recorded notice of vedtak {vedtak_id}; appeal deadline {deadline.isoformat()}")


@vedtak.command("appeal")
@vedtak_argument
@click.option("--grounds", required=True, help="The grounds of the appeal.")
@click.option("--on", "on", type=ISO_DATE, help="Date the appeal was lodged (default: today).")
@click.option("--late-reason", help="Why a late appeal should still be heard.")
@json_option
@pass_cli
def appeal(
    cli: CliContext,
    vedtak_id: UUID,
    grounds: str,
    on: date | None,
    late_reason: str | None,
    as_json: bool,
) -> None:
    """Record an appeal (klage) against the vedtak.

    \b
    Example:
      miljo vedtak appeal VEDTAK-ID --grounds "For få timer" --on 2024-09-30
    """
    cli.miljo.lodge_appeal(
        cli.actor, vedtak_id, grounds=grounds, lodged_on=on, late_reason=late_reason
    )
    render.report(as_json, "vedtak appeal", f"Recorded appeal against vedtak {vedtak_id}")


@vedtak.command("resolve-appeal")
@vedtak_argument
@click.option("--outcome", type=choice(AppealOutcome), required=True, help="The outcome.")
@click.option("--note", default="", help="A note on the outcome.")
@click.option("--on", "on", type=ISO_DATE, help="Date of the resolution (default: today).")
@json_option
@pass_cli
def resolve_appeal(
    cli: CliContext, vedtak_id: UUID, outcome: str, note: str, on: date | None, as_json: bool
) -> None:
    """Record how the open appeal was resolved.

    \b
    Example:
      miljo vedtak resolve-appeal VEDTAK-ID --outcome upheld --note "Statsforvalteren"
    """
    cli.miljo.resolve_appeal(cli.actor, vedtak_id, outcome=outcome, note=note, resolved_on=on)
    render.report(as_json, "vedtak resolve-appeal", f"Resolved appeal on vedtak {vedtak_id}")


@vedtak.command("amend")
@vedtak_argument
@hours_options("per year")
@_decision_options
@click.option("--to", "valid_to", type=ISO_DATE, required=True, help="Last day in force.")
@click.option("--on", "on", type=ISO_DATE, help="Date of the amendment (default: today).")
@json_option
@pass_cli
def amend(
    cli: CliContext,
    vedtak_id: UUID,
    teacher: Decimal,
    special_ed_teacher: Decimal,
    miljoterapeut: Decimal,
    assistant: Decimal,
    organisation: str,
    content: str,
    reasons: str,
    deviation_reason: str | None,
    valid_to: date,
    on: date | None,
    as_json: bool,
) -> None:
    """Amend a decided vedtak (new hours, content or end date; the rektor signs).

    \b
    Example:
      miljo --as rektor:p-rektor@gjesdal vedtak amend VEDTAK-ID --miljoterapeut 420 \\
        --organisation "I klassen" --content "Sosial trening" --reasons "Ny tilråding" \\
        --to 2025-06-20
    """
    hours = hours_by_competence(
        teacher=teacher,
        special_ed_teacher=special_ed_teacher,
        miljoterapeut=miljoterapeut,
        assistant=assistant,
    )
    cli.miljo.amend_vedtak(
        cli.actor,
        vedtak_id,
        hours=hours,
        organisation=organisation,
        content=content,
        reasons=reasons,
        valid_to=valid_to,
        deviation_reason=deviation_reason,
        amended_on=on,
    )
    render.report(as_json, "vedtak amend", f"Amended vedtak {vedtak_id}")


@vedtak.command("deliver")
@vedtak_argument
@click.option(
    "--week-of", type=ISO_DATE, required=True, help="The Monday of the ISO week delivered."
)
@hours_options("delivered that week")
@json_option
@pass_cli
def deliver(
    cli: CliContext,
    vedtak_id: UUID,
    week_of: date,
    teacher: Decimal,
    special_ed_teacher: Decimal,
    miljoterapeut: Decimal,
    assistant: Decimal,
    as_json: bool,
) -> None:
    """Record the hours delivered in one week, by competence (evidence of delivery).

    \b
    Example:
      miljo vedtak deliver VEDTAK-ID --week-of 2024-09-16 --miljoterapeut 10
    """
    minutes = hours_by_competence(
        teacher=teacher,
        special_ed_teacher=special_ed_teacher,
        miljoterapeut=miljoterapeut,
        assistant=assistant,
    )
    cli.miljo.record_delivery(cli.actor, vedtak_id, week_of=week_of, minutes=minutes)
    render.report(as_json, "vedtak deliver", f"Recorded delivery for week of {week_of}")


@vedtak.command("correct-delivery")
@vedtak_argument
@click.option(
    "--week-of", type=ISO_DATE, required=True, help="The Monday of the ISO week to correct."
)
@hours_options("delivered that week")
@click.option("--reason", required=True, help="Why the week's record is corrected.")
@json_option
@pass_cli
def correct_delivery(
    cli: CliContext,
    vedtak_id: UUID,
    week_of: date,
    teacher: Decimal,
    special_ed_teacher: Decimal,
    miljoterapeut: Decimal,
    assistant: Decimal,
    reason: str,
    as_json: bool,
) -> None:
    """Correct the hours recorded for one week (the first record is kept).

    \b
    Example:
      miljo vedtak correct-delivery VEDTAK-ID --week-of 2024-09-16 --miljoterapeut 8 \\
        --reason "Sykdom torsdag"
    """
    minutes = hours_by_competence(
        teacher=teacher,
        special_ed_teacher=special_ed_teacher,
        miljoterapeut=miljoterapeut,
        assistant=assistant,
    )
    cli.miljo.correct_delivery(
        cli.actor, vedtak_id, week_of=week_of, minutes=minutes, reason=reason
    )
    render.report(as_json, "vedtak correct-delivery", f"Corrected delivery for week of {week_of}")


@vedtak.command("revoke")
@vedtak_argument
@click.option("--reasons", required=True, help="The reasons for revoking.")
@click.option("--on", "on", type=ISO_DATE, help="Date of revocation (default: today).")
@json_option
@pass_cli
def revoke(cli: CliContext, vedtak_id: UUID, reasons: str, on: date | None, as_json: bool) -> None:
    """Revoke a vedtak (the rektor signs).

    \b
    Example:
      miljo --as rektor:p-rektor@gjesdal vedtak revoke VEDTAK-ID --reasons "Behovet er borte"
    """
    cli.miljo.revoke_vedtak(cli.actor, vedtak_id, reasons=reasons, revoked_on=on)
    render.report(as_json, "vedtak revoke", f"Revoked vedtak {vedtak_id}")


@vedtak.command("expire")
@vedtak_argument
@click.option("--on", "on", type=ISO_DATE, help="Date of expiry (default: today).")
@json_option
@pass_cli
def expire(cli: CliContext, vedtak_id: UUID, on: date | None, as_json: bool) -> None:
    """Record that a vedtak has expired (its period ended).

    \b
    Example:
      miljo vedtak expire VEDTAK-ID --on 2025-06-21
    """
    cli.miljo.record_vedtak_expiry(cli.actor, vedtak_id, on=on)
    render.report(as_json, "vedtak expire", f"Recorded expiry of vedtak {vedtak_id}")


@vedtak.command("show")
@vedtak_argument
@click.option("--reason", help="Why you read the vedtak (kept in the access log).")
@json_option
@pass_cli
def show(cli: CliContext, vedtak_id: UUID, reason: str | None, as_json: bool) -> None:
    """Show a vedtak: status, hours recommended, granted and delivered, deadlines.

    \b
    Example:
      miljo vedtak show VEDTAK-ID --json
    """
    view = cli.miljo.vedtak(cli.actor, vedtak_id, reason=reason)
    if as_json:
        render.emit_json(render.VEDTAK.build(view))
        return
    click.echo(
        render.pairs(
            [
                ("vedtak", view.vedtak_id),
                ("student", view.student_id),
                ("school", view.school_code),
                ("kind", view.kind),
                ("legal reference", view.legal_reference),
                ("status", view.status),
                ("recommended", render.competence_text(view.recommendation) + " per year"),
                ("granted", render.competence_text(view.granted) + " per year"),
                ("deviates", view.deviates),
                ("in force", f"{render.text(view.valid_from)} to {render.text(view.valid_to)}"),
                ("in force until", view.in_force_until),
                ("notice date", view.notice_date),
                ("appeal deadline", view.appeal_deadline),
                ("appeal open", view.appeal_open),
                ("delivered", render.competence_text(view.delivered) + " in all"),
            ]
        )
    )
