"""``tsunagu demo``: fill an empty database with a small, fictional city's worth of work for the console.

One command for a newcomer: the embedded default (SQLite, the sample city) gets a staff account
of each role, eight weeks of cases across counters, towns and topics with their first contacts
(the KGI improving from about 48 h to well under 24 h, a few cases waiting, one overdue), a
missing-person alert found after a few hours, one live with two sightings, and one waiting for
the desk's approval. Then ``tsunagu serve`` (or ``tsunagu demo --serve``) and
http://127.0.0.1:8000/staff.

The passwords are generated at random and printed once: there is no fixed demo password that
could be left in place. The command refuses a production environment, and refuses a database
that already holds staff accounts or cases (a second run says the demo is there already), so it
can never mix invented cases into real ones. Every case is routed by the directory's own
counter choice, so each lands where a real report from that town would.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import lifecycle
from alerts.sightings import record_sighting
from bot.console_io import database_session, fail
from bot.models import Case, CaseKind, CaseStatus, Delivery, DeliveryState, DeliveryTarget, StaffUser
from bot.models.base import utcnow
from bot.models.staff import Role
from bot.settings import settings
from routing.areas import resolve_town_id
from routing.cases import open_case, transition
from routing.counters import choose_counter
from routing.directory import prepare_database
from routing.riskmap import compute_risk, import_stats
from routing.snapshot import get_directory

__all__ = ["DemoAccount", "DemoRefused", "DemoSeed", "register", "seed_demo"]

CONSOLE_URL = "http://127.0.0.1:8000/staff"
WEEKS = 8
PASSWORD_BYTES = 12  # 16 URL-safe characters, above the console's minimum
# One seed: every run of the demo tells the same story (only the passwords differ).
STORY_SEED = 2026
MANAGER = "demo-manager"
CONSULT_TOPICS = ("elderly", "disability", "child", "money", "mental", "hikikomori", "consumer")
# What residents noticed (fictional): the worry reports' words.
NOTICED = (
    "新聞と郵便がたまっています / Newspapers and mail piling up",
    "夜になっても電気がつきません / No lights on at night for days",
    "最近見かけず、雨戸が閉まったままです / Not seen lately, shutters always closed",
    "ゴミ出しの日を何度も間違えています / Keeps putting the rubbish out on the wrong day",
    "同じ服で歩いているのを何日も見ます / Seen walking in the same clothes for days",
)
SINCE = ("3日ほど前から", "1週間くらい前から", "先月から", "昨日から")
CLOSE_REASON = "地域包括支援センターの支援につながりました / Connected to the care centre's support"


class DemoRefused(Exception):
    """The database is not one the demo may fill (production, or it holds data already)."""


@dataclass(frozen=True)
class DemoAccount:
    """A demo staff account, with its password (shown once)."""

    username: str
    role: Role
    counters: tuple[str, ...]
    password: str


@dataclass(frozen=True)
class DemoSeed:
    """What the demo created."""

    accounts: tuple[DemoAccount, ...]
    cases: int
    alerts: int
    sightings: int


def _check_fit(session: Session) -> None:
    if settings.environment == "production":
        raise DemoRefused("tsunagu demo invents staff accounts and cases: it never runs in production "
                          "(TSUNAGU_ENVIRONMENT=production)")
    if session.scalar(select(StaffUser.id).where(StaffUser.username == MANAGER)) is not None:
        raise DemoRefused(f"the demo is already in {settings.database_url}: log in with the accounts printed when "
                          "it was seeded, or delete that database (or point TSUNAGU_DATABASE_URL at a new one) "
                          "to seed it again")
    staff = session.scalar(select(func.count(StaffUser.id)))
    cases = session.scalar(select(func.count(Case.id)))
    if staff or cases:
        raise DemoRefused(f"{settings.database_url} holds {staff} staff accounts and {cases} cases already: the "
                          "demo fills only an empty database (point TSUNAGU_DATABASE_URL at a new one)")


def _route(session: Session, *, intent: str, topic: str, town_id: str, now: datetime) -> tuple[str, str, Any]:
    area = resolve_town_id(session, town_id)
    choice = choose_counter(session, intent=intent, topic=topic, area=area, now=now)
    if choice.counter is None:
        raise DemoRefused(f"the directory has no counter for {topic} in {town_id}: the demo needs the sample city")
    return choice.counter.id, choice.reason, area


def _worry_and_consult_cases(session: Session, rng: random.Random, towns: Sequence[str], now: datetime) -> int:
    """Eight weeks of cases; the weeks' first contacts shorten as the counters take tsunagu up."""
    created = 0
    for weeks_ago in range(WEEKS - 1, -1, -1):
        # About 47 h seven weeks ago down to 12 h this week, give or take.
        typical = 12 + 5 * weeks_ago
        for number in range(rng.randint(4, 6) + 2):
            worry = number < 4 or rng.random() < 0.5
            moment = now - timedelta(weeks=weeks_ago, hours=rng.uniform(3, 160))
            if moment > now:
                continue
            town = rng.choice(towns)
            topic = "watch" if worry else rng.choice(CONSULT_TOPICS)
            intent = "report_worry" if worry else "ask_where"
            counter_id, reason, area = _route(session, intent=intent, topic=topic, town_id=town, now=moment)
            record = get_directory(session).towns[town]
            if worry:
                details: dict[str, Any] = {"noticed": rng.choice(NOTICED), "where": record.option.town,
                                           "since_when": rng.choice(SINCE)}
                if rng.random() < 0.2:
                    details["source"] = rng.choice(("partner", "sensor"))
            else:
                details = {"callback_phone": "090-0000-0000"}
            case, _ = open_case(session, kind=CaseKind.worry if worry else CaseKind.consult, topic=topic,
                                counter_id=counter_id, area=area, details=details, reason=reason,
                                channel=rng.choice(("line", "line", "webchat", "voice", "telegram")), language="ja",
                                callback_consent=not worry, now=moment)
            created += 1
            hours = max(0.5, rng.gauss(typical, 6) if worry else rng.uniform(2, 30))
            contact = moment + timedelta(hours=hours)
            if contact > now:
                # Not contacted yet: acknowledged if it came in more than an hour ago.
                if now - moment > timedelta(hours=1):
                    transition(session, case, CaseStatus.acknowledged, actor="demo", now=moment + timedelta(hours=1))
                continue
            transition(session, case, CaseStatus.contacted, actor="demo", now=contact)
            if weeks_ago >= 2 and rng.random() < 0.6:
                transition(session, case, CaseStatus.closed, actor="demo", reason=CLOSE_REASON,
                           now=contact + timedelta(days=rng.uniform(1, 6)))
    # One report nobody has answered for a day and a half: the inbox shows it overdue.
    town = towns[0]
    counter_id, reason, area = _route(session, intent="report_worry", topic="watch", town_id=town, now=now)
    open_case(session, kind=CaseKind.worry, topic="watch", counter_id=counter_id, area=area,
              details={"noticed": NOTICED[1], "where": get_directory(session).towns[town].option.town,
                       "since_when": SINCE[0]},
              reason=reason, channel="line", language="ja", now=now - timedelta(hours=36))
    return created + 1


def _missing_case(session: Session, town_id: str, moment: datetime) -> Case:
    counter_id, reason, area = _route(session, intent="report_missing", topic="missing", town_id=town_id, now=moment)
    place = get_directory(session).towns[town_id].option.town
    details = {"who": "80代の男性、白髪、身長165cmくらい / Man in his 80s, grey hair, about 165 cm",
               "last_seen_where": f"{place}の公園の近く / near the park in {place}",
               "last_seen_when": "今朝9時ごろ / about 9 this morning",
               "clothing": "紺色のジャンパー、灰色のズボン / navy jacket, grey trousers"}
    case, _ = open_case(session, kind=CaseKind.missing, topic="missing", counter_id=counter_id, area=area,
                        details=details, reason=reason, channel="line", language="ja", urgent=True, now=moment)
    return case


def _alerts(session: Session, towns: Sequence[str], desk: str, now: datetime) -> tuple[int, int, list[str]]:
    """A found alert (10 days ago), a live one with two sightings, and one awaiting approval."""
    directory = get_directory(session)
    counters = []
    start = now - timedelta(days=10)
    found_case = _missing_case(session, towns[5], start)
    alert = lifecycle.create_from_case(session, found_case, now=start)
    lifecycle.approve(session, alert, by=desk, now=start + timedelta(minutes=12))
    lifecycle.found(session, alert, by=desk, now=start + timedelta(hours=5, minutes=20))
    counters.append(found_case.counter_id)

    start = now - timedelta(hours=2)
    live_case = _missing_case(session, towns[10], start)
    live = lifecycle.create_from_case(session, live_case, now=start)
    lifecycle.approve(session, live, by=desk, now=start + timedelta(minutes=15))
    sightings = 0
    for minutes, town_id, note in ((60, towns[11], "コンビニの前で見かけました / Seen outside the convenience store"),
                                   (95, towns[14], "バス停のベンチに座っていました / Sitting on a bench at the bus stop")):
        record = directory.towns[town_id]
        record_sighting(session, live, contact_id=None, text=note, town_id=town_id,
                        point=(record.latitude + 0.002, record.longitude - 0.003),
                        seen_at=start + timedelta(minutes=minutes - 10), photo_ref=None,
                        where_label=record.option.town, when_text=None, channel="line", conversation_id=None,
                        now=start + timedelta(minutes=minutes))
        sightings += 1
    counters.append(live_case.counter_id)

    pending_case = _missing_case(session, towns[20], now - timedelta(minutes=20))
    lifecycle.create_from_case(session, pending_case, now=now - timedelta(minutes=20))
    counters.append(pending_case.counter_id)
    return 3, sightings, list(dict.fromkeys(counters))


def _a_failed_delivery(session: Session, case: Case, now: datetime) -> None:
    """One e-mail to a counter that failed for good, so the dashboard's failure table has a row.

    The target is inactive: nothing new is ever queued to its made-up address.
    """
    target = DeliveryTarget(counter_id=case.counter_id, method="email", address="demo-mailbox@example.invalid",
                            active=False)
    session.add(target)
    session.flush()
    event = case.events[0]
    session.add(Delivery(case_id=case.id, case_event_id=event.id, target_id=target.id, state=DeliveryState.failed,
                         fail_count=5, created_at=case.created_at, last_attempt_at=now - timedelta(hours=3),
                         last_failure_reason="demo: 550 mailbox unavailable"))


def _accounts(session: Session, plan: Sequence[tuple[str, Role, Sequence[str]]],
              password: Callable[[], str]) -> tuple[DemoAccount, ...]:
    # Heavy: the staff API and the console's passwords load the web stack (FastAPI), which of
    # the command line only this command and the staff commands need.
    from bot.console.auth import set_password
    from bot.staff_api import create_staff_user

    accounts = []
    for username, role, counters in plan:
        user, _token = create_staff_user(session, username, counters, role=role)
        secret = password()
        set_password(user, secret)
        accounts.append(DemoAccount(username, role, tuple(counters), secret))
    return tuple(accounts)


def seed_demo(session: Session, *, now: datetime | None = None,
              password: Callable[[], str] = lambda: secrets.token_urlsafe(PASSWORD_BYTES)) -> DemoSeed:
    """Fill an empty database with the demo's accounts, cases and alerts (the caller commits).

    Args:
        session: a session on a migrated database with the sample city's directory.
        now: the current time (aware); the story is laid out in the eight weeks before it.
        password: makes each account's password (random by default).

    Returns:
        What was created, with the accounts' passwords.

    Raises:
        DemoRefused: in production, or when the database holds staff accounts or cases already.
    """
    now = now or utcnow()
    _check_fit(session)
    rng = random.Random(STORY_SEED)
    towns = list(get_directory(session).towns)
    if len(towns) < 21:
        raise DemoRefused("the demo needs the sample city's directory (24 towns); this one has "
                          f"{len(towns)}")
    cases = _worry_and_consult_cases(session, rng, towns, now)
    alerts, sightings, desk_counters = _alerts(session, towns, "demo-desk", now)
    counters = [counter for counter, in session.execute(
        select(Case.counter_id).where(Case.kind == CaseKind.worry)
        .group_by(Case.counter_id).order_by(func.count(Case.id).desc(), Case.counter_id)
    )]
    first = session.scalar(select(Case).where(Case.counter_id == counters[0]).order_by(Case.id).limit(1))
    _a_failed_delivery(session, first, now)
    plan: list[tuple[str, Role, Sequence[str]]] = [
        ("demo-counter", Role.counter, counters[:1]),
        ("demo-counter-2", Role.counter, counters[1:2]),
        ("demo-desk", Role.alert_desk, desk_counters),
        (MANAGER, Role.manager, ()),
        ("demo-admin", Role.admin, ()),
    ]
    accounts = _accounts(session, plan, password)
    # The risk map from the sample city's statistics and the story's own reports.
    import_stats(session, settings.directory_path / "town_stats.csv", now)
    compute_risk(session, now)
    session.flush()
    return DemoSeed(accounts, cases + alerts, alerts, sightings)


def register(app: typer.Typer, *, serve: Callable[[str, int], None]) -> None:
    """Add ``tsunagu demo`` to the command line.

    Args:
        app: the ``tsunagu`` application.
        serve: runs the web app (``tsunagu serve``'s), for ``--serve``.
    """

    @app.command("demo")
    def demo(
        run: Annotated[bool, typer.Option("--serve", help="Then run the web app on 127.0.0.1:8000.")] = False,
        port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
    ) -> None:
        """Seed an empty database with demo staff accounts, cases and alerts for the staff console
        (never in production; the passwords are printed once)."""
        prepare_database()
        try:
            with database_session() as session:
                seed = seed_demo(session)
        except DemoRefused as refused:
            fail(str(refused))
        typer.echo(f"Demo seeded in {settings.database_url}: {seed.cases} cases, {seed.alerts} alerts, "
                   f"{seed.sightings} sightings.")
        typer.echo("Staff accounts (demo only; the passwords are shown this once):")
        for account in seed.accounts:
            counters = ", ".join(account.counters) or "-"
            typer.echo(f"  {account.username:<16} {account.role.value:<11} {account.password}   counters: {counters}")
        url = CONSOLE_URL.replace(":8000", f":{port}")
        if run:
            typer.echo(f"Open {url} and log in (Ctrl+C stops the server).")
            serve("127.0.0.1", port)
        else:
            typer.echo(f"Next: tsunagu serve, then open {url} and log in.")
