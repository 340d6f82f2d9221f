"""Command-line commands of the routing package, added to ``tsunagu`` by ``register``.

``directory import|show``, ``route`` (JSON lines in, one JSON line out per input),
``cases list|overdue|show|ack|contact|close``, ``targets import|list`` and ``deliver``.
Every command first brings the database up to date with
:func:`routing.directory.prepare_database`
(the alert commands too). Tables wrap to the terminal but never break ids or phone
numbers; times are in the city's zone, named (``bot.console_io.local_time``).
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console_io import database_session, err, fail, local_time, out, table
from bot.db import session_factory
from bot.models import Case, CaseStatus, Delivery, DeliveryState, DeliveryTarget
from bot.production import refuse_unfit_production
from bot.settings import settings
from intents.classification import IntentClassifier
from intents.places import extract_place
from intents.safety import safety_matter
from routing.areas import resolve_area
from routing.cases import (
    INCOMPLETE,
    OPEN_STATUSES,
    InvalidTransition,
    cases_for_counter,
    overdue_cases,
    transition,
)
from routing.counters import INTENT_DESKS, INTENT_HOTLINE_TOPIC, choose_counter
from routing.delivery import RESEND_COMMAND, deliver_pending, failed_deliveries, retry_failed
from routing.directory import import_directory, load_gazetteer, prepare_database
from routing.hsds import DirectoryError
from routing.snapshot import get_directory
from routing.targets import TargetsError, import_targets

__all__ = ["FailedQueue", "FailedRow", "register", "route_text"]

directory_app = typer.Typer(help="The counter directory (Open Referral HSDS tables).", no_args_is_help=True)
cases_app = typer.Typer(help="Cases handed to counters.", no_args_is_help=True)
targets_app = typer.Typer(help="Where counters receive their cases.", no_args_is_help=True)

ROUTE_KEYS = ("intent", "topic", "area", "counter_id", "reason")


# --------------------------------------------------------------------------- directory


@directory_app.command("import")
def directory_import(path: Annotated[Path, typer.Argument(help="Folder with the directory CSV files and towns.geojson.")]) -> None:
    """Replace the directory with the tables in PATH (validated first, one transaction)."""
    prepare_database()
    try:
        with err.status(f"importing {path} …"), database_session() as session:
            summary = import_directory(
                session, path, progress=lambda table, rows: err.print(f"  {table}: {rows} rows", highlight=False)
            )
    except DirectoryError as error:
        fail(str(error))
    err.print(f"[green]imported[/green] {summary.total} rows from {path}", highlight=False)


@directory_app.command("show")
def directory_show() -> None:
    """List the counters and lines of the loaded directory."""
    prepare_database()
    with database_session() as session:
        directory = get_directory(session)
    counters = table("Counters", ("id", "name", "topics", "area", "phone", "hours"), whole=("id", "phone"))
    for service in directory.services.values():
        counters.add_row(
            service.id,
            service.name,
            ", ".join(sorted(service.topics)),
            ", ".join(service.area_codes),
            service.phone or "",
            service.hours.describe("ja"),
        )
    out.print(counters)


# --------------------------------------------------------------------------- route


def route_text(
    session: Session,
    classifier: IntentClassifier,
    text: str,
    latitude: float | None = None,
    longitude: float | None = None,
) -> dict[str, Any]:
    """Classify one message, find its place and choose its counter (the ``route`` command's line).

    Args:
        session: a session on the database holding the directory.
        classifier: the classifier to use.
        text: the resident's message.
        latitude: a shared location, if any.
        longitude: a shared location, if any.

    Returns:
        ``{"intent", "topic", "area", "counter_id", "reason"}``.
    """
    classification = classifier.classify(text)
    signal = classification.safety
    intent, topic, service, prefix = classification.intent, classification.topic, None, ""
    if signal is not None:
        # 119/110 for an emergency; for a crisis the ward's こころの相談, with the crisis lines.
        matter = safety_matter(signal)
        intent, topic, service = matter.intent, matter.topic or topic, signal.service
        prefix = "crisis: " if signal.kind == "crisis" else ""
    area = resolve_area(session, extract_place(text, load_gazetteer(session), latitude, longitude))
    choice = choose_counter(session, intent=intent, topic=topic, area=area, emergency_service=service)
    if intent == "emergency":
        topic = "emergency"
    elif intent in INTENT_DESKS:
        topic = INTENT_HOTLINE_TOPIC[intent]
    reason = prefix + choice.reason
    if choice.counter is None and choice.hotlines:
        reason += "; lines: " + ", ".join(f"{line.name} {line.phone or ''}".strip() for line in choice.hotlines)
    return {
        "intent": intent,
        "topic": topic,
        "area": area.to_dict(),
        "counter_id": choice.counter.id if choice.counter else None,
        "reason": reason,
    }


@contextmanager
def _results_stream() -> Iterator[IO[str]]:
    """A stream for the JSON lines; everything else printed meanwhile goes to stderr.

    Libraries loading models may print to stdout, even from C code, so the file
    descriptor itself is pointed at stderr while the results keep a copy of it.
    """
    stdout = sys.stdout
    try:
        fd = stdout.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = None
    if fd is None:  # a captured stdout (tests): no descriptor to guard
        sys.stdout = sys.stderr
        try:
            yield stdout
        finally:
            sys.stdout = stdout
        return
    stdout.flush()
    results = os.fdopen(os.dup(fd), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), fd)
    sys.stdout = sys.stderr
    try:
        yield results
    finally:
        results.flush()
        os.dup2(results.fileno(), fd)
        sys.stdout = stdout
        results.close()


def _coordinate(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    return None if value is None else float(value)


def route() -> None:
    """Read JSON lines {"text", "latitude"?, "longitude"?} on stdin; write one JSON line per input."""
    # Heavy backend: scikit-learn and the sentence encoder load only for this command.
    from intents.classifier import get_classifier

    with _results_stream() as results:
        prepare_database()
        with database_session() as session:
            for line in sys.stdin:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                        raise TypeError('expected an object with a "text" string')
                    # Loaded on the first good line: an empty input trains nothing.
                    answer = route_text(session, get_classifier(), record["text"], _coordinate(record, "latitude"),
                                        _coordinate(record, "longitude"))
                except (ValueError, TypeError) as error:
                    answer = {key: None for key in ROUTE_KEYS} | {"reason": f"bad input line: {error}"}
                results.write(json.dumps(answer, ensure_ascii=False) + "\n")
                results.flush()


# --------------------------------------------------------------------------- cases


def _cases_table(cases: list[Case], title: str) -> None:
    listing = table(title, ("id", "!", "kind", "counter", "place", "status", "due", "reports"),
                    whole=("id", "counter"))
    for case in cases:
        listing.add_row(
            str(case.id),
            "!" if case.urgent else "",
            f"{case.kind.value} ({case.topic})",
            case.counter_id or "-",
            case.town_id or case.ward or "",
            case.status.value + (" (incomplete)" if case.details.get(INCOMPLETE) else ""),
            local_time(case.first_contact_due),
            str(case.report_count),
        )
    out.print(listing)


@cases_app.command("list")
def cases_list(
    counter: Annotated[list[str] | None, typer.Option("--counter", "-c", help="Only this counter (repeatable).")] = None,
    all_statuses: Annotated[bool, typer.Option("--all", help="Include closed cases.")] = False,
) -> None:
    """List open cases, urgent first, by first-contact deadline."""
    prepare_database()
    with database_session() as session:
        counters = counter or list(session.scalars(select(Case.counter_id).distinct()))
        cases = cases_for_counter(session, counters, statuses=None if all_statuses else OPEN_STATUSES)
        _cases_table(cases, "Cases")


@cases_app.command("overdue")
def cases_overdue(
    counter: Annotated[list[str] | None, typer.Option("--counter", "-c", help="Only this counter (repeatable).")] = None,
) -> None:
    """List cases whose first contact is overdue."""
    prepare_database()
    with database_session() as session:
        _cases_table(overdue_cases(session, counter_ids=counter), "Overdue cases")


@cases_app.command("show")
def cases_show(case_id: Annotated[int, typer.Argument(help="The case's id (from `cases list`).")]) -> None:
    """One case in full: what `cases list` shows, the details the resident shared, and its history."""
    prepare_database()
    with database_session() as session:
        case = session.get(Case, case_id)
        if case is None:
            fail(f"no case {case_id}")
        _print_case(case)


def _print_case(case: Case) -> None:
    # Only what `cases list` shows and the case's own details: no reporter contact,
    # no routing internals, no event payloads (a linked report's contact lives there).
    facts = {
        "case": str(case.id),
        "kind": f"{case.kind.value} ({case.topic})",
        "status": case.status.value + (f": {case.close_reason}" if case.close_reason else ""),
        "urgent": "yes" if case.urgent else "no",
        "counter": case.counter_id,
        "place": case.town_id or case.ward or "",
        # Who calls back must know which language to call in (or bring an interpreter).
        "language": case.language,
        "created": local_time(case.created_at),
        "first contact due": local_time(case.first_contact_due),
        "reports": str(case.report_count),
    }
    for label, value in facts.items():
        out.print(f"{label}: {value}", markup=False, highlight=False)
    out.print("details:", markup=False, highlight=False)
    for key, value in case.details.items():
        out.print(f"  {key}: {value}", markup=False, highlight=False)
    history = table("History", ("time", "event", "by"), whole=("time",))
    for event in sorted(case.events, key=lambda event: (event.created_at, event.id)):
        history.add_row(local_time(event.created_at), _event_summary(event.kind, event.details), event.actor or "")
    out.print(history)


def _event_summary(kind: str, details: dict[str, Any]) -> str:
    """What staff need of an event: a status change, what a later report or message added,
    the case it may be related to."""
    if "to" in details:
        return f"{kind} {details['from']} → {details['to']}"
    added = details.get("details")
    if isinstance(added, dict):
        return f"{kind}: " + " / ".join(str(value) for value in added.values() if value not in (None, ""))
    if kind == "possibly_related" and "case_id" in details:
        return f"{kind}: #{details['case_id']}"
    return kind


def _move(case_id: int, status: CaseStatus, actor: str, reason: str | None) -> None:
    prepare_database()
    try:
        with database_session() as session:
            case = session.get(Case, case_id)
            if case is None:
                fail(f"no case {case_id}")
            transition(session, case, status, actor=actor, reason=reason)
    except InvalidTransition as error:
        fail(str(error))
    err.print(f"case {case_id}: {status.value}")


ActorOption = Annotated[str, typer.Option("--actor", help="Who made the change.")]


@cases_app.command("ack")
def cases_ack(case_id: int, actor: ActorOption = "cli") -> None:
    """Acknowledge a case (the counter has seen it)."""
    _move(case_id, CaseStatus.acknowledged, actor, None)


@cases_app.command("contact")
def cases_contact(case_id: int, actor: ActorOption = "cli") -> None:
    """Record the first contact with the person concerned."""
    _move(case_id, CaseStatus.contacted, actor, None)


@cases_app.command("close")
def cases_close(
    case_id: int,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why the case is closed (required).")],
    actor: ActorOption = "cli",
) -> None:
    """Close a case, with the reason."""
    _move(case_id, CaseStatus.closed, actor, reason)


# --------------------------------------------------------------------------- targets and delivery


@targets_app.command("import")
def targets_import(file: Annotated[Path, typer.Argument(help="delivery_targets.csv or .yml")]) -> None:
    """Configure the e-mail and webhook targets of counters from FILE (console targets stay)."""
    prepare_database()
    try:
        with database_session() as session:
            active = import_targets(session, file)
    except TargetsError as error:
        fail(str(error))
    err.print(f"[green]{len(active)} active targets[/green]", highlight=False)


@targets_app.command("list")
def targets_list() -> None:
    """List delivery targets with their sent / pending / failed deliveries."""
    prepare_database()
    with database_session() as session:
        counts: dict[tuple[int, DeliveryState], int] = {
            (target_id, state): number
            for target_id, state, number in session.execute(
                select(Delivery.target_id, Delivery.state, func.count()).group_by(Delivery.target_id, Delivery.state)
            )
        }
        listing = table("Delivery targets", ("id", "counter", "method", "address", "active", "sent", "pending", "failed"),
                        whole=("id", "counter"))
        for target in session.scalars(select(DeliveryTarget).order_by(DeliveryTarget.counter_id, DeliveryTarget.id)):
            pending = counts.get((target.id, DeliveryState.unprocessed), 0) + counts.get(
                (target.id, DeliveryState.processing), 0
            )
            listing.add_row(
                str(target.id),
                target.counter_id,
                target.method,
                target.address,
                "yes" if target.active else "no",
                str(counts.get((target.id, DeliveryState.sent), 0)),
                str(pending),
                str(counts.get((target.id, DeliveryState.failed), 0)),
            )
        out.print(listing)


FailedRow = tuple[str, str, str, int, str | None]
"""One row that failed for good, as listed: id, what it carries, how or where to, attempts, why."""


@dataclass(frozen=True)
class FailedQueue:
    """Another queue whose failed rows ``tsunagu deliver --failed / --retry-failed`` also shows and
    resends (the alert outbox: routing cannot import alerts, so ``bot/cli.py`` hands it in)."""

    name: str
    rows: Callable[[Session], list[FailedRow]]
    retry: Callable[[Session], int]  # queue them again (the caller commits)
    send: Callable[[], None]  # one pass of that queue, after a retry


def _failed_deliveries(session: Session) -> list[FailedRow]:
    return [(str(row.id), f"case {row.case_id} → {row.counter_id}", f"{row.method} {row.address}".strip(),
             row.fail_count, row.reason) for row in failed_deliveries(session)]


def _deliver_command(others: Sequence[FailedQueue]) -> Callable[..., None]:
    def deliver(
        failed: Annotated[bool, typer.Option("--failed", help="List what failed for good, and stop.")] = False,
        retry: Annotated[bool, typer.Option("--retry-failed", help="Queue what failed for good again "
                                                                   "(a fresh count of attempts), then send.")] = False,
    ) -> None:
        """Run one delivery pass (for cron or a worker loop); list or resend what failed for good."""
        refuse_unfit_production()
        prepare_database()
        queues = [FailedQueue("case deliveries", _failed_deliveries, retry_failed, lambda: None), *others]
        if failed:
            listing = table("Failed for good", ("queue", "id", "what", "to", "attempts", "last failure"),
                            whole=("id",))
            with database_session() as session:
                for queue in queues:
                    for row_id, what, to, attempts, reason in queue.rows(session):
                        listing.add_row(queue.name, row_id, what, to, str(attempts), reason or "")
            out.print(listing)
            err.print(f"send them again: {RESEND_COMMAND}", highlight=False)
            return
        if retry:
            with database_session() as session:
                requeued = {queue.name: queue.retry(session) for queue in queues}
            err.print(", ".join(f"{name}: {number} queued again" for name, number in requeued.items()), highlight=False)
            for queue in others:
                queue.send()
        run = deliver_pending(session_factory(settings.database_url))
        err.print(
            f"claimed {run.claimed}: sent {run.sent}, retrying {run.retrying}, failed {run.failed}; "
            f"waiting {run.waiting}",
            highlight=False,
        )

    return deliver


def register(app: typer.Typer, *, failed_elsewhere: Sequence[FailedQueue] = ()) -> None:
    """Add the routing commands to the ``tsunagu`` CLI.

    Args:
        app: the top-level Typer application.
        failed_elsewhere: other queues whose failures ``deliver --failed / --retry-failed`` covers.
    """
    app.add_typer(directory_app, name="directory")
    app.add_typer(cases_app, name="cases")
    app.add_typer(targets_app, name="targets")
    app.command("route")(route)
    app.command("deliver")(_deliver_command(failed_elsewhere))
