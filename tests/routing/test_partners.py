"""Partner businesses: the register (`tsunagu partners add|list|disable|invite`), invitation
codes (hashed, limited uses, expiring), counts per partner, type and ward
(`partners report --csv`), the close notice, the yearly re-confirmation and its lapse."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime, timedelta, timezone

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from bot.db import session_scope
from bot.models import Case, CaseKind, CaseStatus, Contact, OutboxItem, OutboxState
from bot.models.partners import Partner, PartnerInvitation, PartnerReport, PartnerReporter
from bot.settings import settings
from routing.areas import resolve_town_id
from routing.cases import open_case, transition
from routing.partner_commands import register
from routing.partners import (
    DONE_KIND_PREFIX,
    RECONFIRM_KIND,
    InvitationProblem,
    add_partner,
    check_invitation,
    create_invitation,
    find_code,
    join,
    lapse_unconfirmed,
    leave,
    outbox_notice,
    queue_reconfirm_requests,
    record_report,
    report_counts,
)

runner = CliRunner()
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def _partner(session, name: str = "青葉新聞 南販売所", type: str = "newspaper", wards: tuple[str, ...] = ("minami",)) -> Partner:
    return add_partner(session, name=name, type=type, wards=wards, contact="06-0000-0000",
                       agreement_date=date(2026, 4, 1))


def _reporter(session, partner: Partner, user_id: str, channel: str = "line") -> PartnerReporter:
    contact = Contact(channel=channel, channel_user_id=user_id)
    session.add(contact)
    session.flush()
    _, code = create_invitation(session, partner.id, now=NOW)
    invitation = check_invitation(session, code, NOW)
    assert isinstance(invitation, PartnerInvitation)
    reporter = join(session, invitation_id=invitation.id, contact_id=contact.id, now=NOW)
    assert isinstance(reporter, PartnerReporter)
    return reporter


def _report(session, reporter: PartnerReporter, town_id: str, room: str, *, seen: str = "newspapers",
            now: datetime = NOW) -> Case:
    area = resolve_town_id(session, town_id)
    case, _ = open_case(session, kind=CaseKind.worry, topic="watch", counter_id="mimamori-minami"
                        if area.ward_code == "minami" else "mimamori-kita", area=area,
                        details={"source": "partner", "partner_id": reporter.partner_id}, reason="test", channel="line",
                        language="ja", household_key=f"{town_id}:3/{room}", now=now)
    record_report(session, case=case, reporter=reporter, what_seen=seen, now=now)
    return case


def test_add_list_disable_from_the_command_line(cli: typer.Typer, db_url: str) -> None:
    added = runner.invoke(cli, ["partners", "add", "あおばガス 北営業所", "--type", "gas", "--wards", "kita,minami",
                                "--contact", "保安課 06-1111-2222", "--agreement-date", "2026-04-01"])
    assert added.exit_code == 0, added.output
    partner_id = int(added.stdout.strip())
    listing = runner.invoke(cli, ["partners", "list"], env={"COLUMNS": "200"})
    assert "あおばガス 北営業所" in listing.stdout and "kita,minami" in listing.stdout and "2026-04-01" in listing.stdout
    assert runner.invoke(cli, ["partners", "disable", str(partner_id)]).exit_code == 0
    with session_scope(db_url) as session:
        partner = session.get(Partner, partner_id)
        assert (partner.type.value, partner.wards, partner.active) == ("gas", ["kita", "minami"], False)
    assert "あおばガス" not in runner.invoke(cli, ["partners", "list", "--active"]).stdout


@pytest.mark.parametrize("arguments", [
    ["--type", "pizza", "--wards", "kita"], ["--type", "gas", "--wards", "atlantis"], ["--type", "gas", "--wards", ""],
])
def test_a_bad_type_or_ward_is_refused(cli: typer.Typer, db_url: str, arguments: list[str]) -> None:
    result = runner.invoke(cli, ["partners", "add", "X", *arguments])
    assert result.exit_code == 1 and "error" in result.stderr


def test_invite_prints_a_code_whose_hash_alone_is_kept(cli: typer.Typer, db_url: str) -> None:
    with session_scope(db_url) as session:
        partner_id = _partner(session).id
    result = runner.invoke(cli, ["partners", "invite", str(partner_id), "--uses", "5", "--days", "7"])
    assert result.exit_code == 0, result.output
    code = result.stdout.strip()
    assert find_code(code) == code
    with session_scope(db_url) as session:
        [invitation] = session.scalars(select(PartnerInvitation)).all()
        assert invitation.code_hash == hashlib.sha256(code.encode()).hexdigest() and code not in invitation.code_hash
        assert (invitation.max_uses, invitation.uses, invitation.created_by) == (5, 0, "cli")
        assert timedelta(days=6, hours=23) < invitation.expires_at - invitation.created_at <= timedelta(days=7)
    assert runner.invoke(cli, ["partners", "invite", "999"]).exit_code == 1


def test_codes_expire_run_out_and_die_with_their_partner(db_url: str) -> None:
    with session_scope(db_url) as session:
        partner = _partner(session)
        _, code = create_invitation(session, partner.id, max_uses=2, days=1, now=NOW)
        invitation = check_invitation(session, code, NOW)
        assert isinstance(invitation, PartnerInvitation)
        assert check_invitation(session, code, NOW + timedelta(days=1)) is InvitationProblem.expired
        assert check_invitation(session, "PT-AAAA-AAAA", NOW) is InvitationProblem.unknown
        contacts = [Contact(channel="line", channel_user_id=f"U{i}") for i in range(3)]
        session.add_all(contacts)
        session.flush()
        for contact in contacts[:2]:
            assert isinstance(join(session, invitation_id=invitation.id, contact_id=contact.id, now=NOW), PartnerReporter)
        assert join(session, invitation_id=invitation.id, contact_id=contacts[2].id, now=NOW) is InvitationProblem.used
        _, other = create_invitation(session, partner.id, now=NOW)
        partner.active = False
        assert check_invitation(session, other, NOW) is InvitationProblem.partner_inactive


def test_report_csv_counts_per_partner_type_and_ward_over_the_period(cli: typer.Typer, db_url: str) -> None:
    with session_scope(db_url) as session:
        paper = _partner(session, wards=("minami", "kita"))
        gas = _partner(session, "あおばガス", "gas", ("kita",))
        carrier = _reporter(session, paper, "U-paper")
        reader = _reporter(session, gas, "U-gas")
        _report(session, carrier, "minami-1-2", "201")
        _report(session, carrier, "minami-1-2", "305")
        _report(session, carrier, "kita-1-1", "101")
        _report(session, reader, "kita-1-1", "202", seen="meter")
        # Outside the period: not counted.
        _report(session, reader, "kita-1-1", "303", now=NOW - timedelta(days=60))
    result = runner.invoke(cli, ["partners", "report", "--csv", "--since", "2026-11-01", "--until", "2026-11-30"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    partners = {(row["partner"], row["ward"]): int(row["reports"]) for row in rows if row["group"] == "partner"}
    assert partners == {("青葉新聞 南販売所", "kita"): 1, ("青葉新聞 南販売所", "minami"): 2, ("あおばガス", "kita"): 1}
    assert {row["type"]: int(row["reports"]) for row in rows if row["group"] == "type"} == {"gas": 1, "newspaper": 3}
    assert {row["ward"]: int(row["reports"]) for row in rows if row["group"] == "ward"} == {"kita": 2, "minami": 2}
    assert [int(row["reports"]) for row in rows if row["group"] == "total"] == [4]


def test_a_partner_covering_a_ward_with_no_report_counts_zero_there(db_url: str) -> None:
    with session_scope(db_url) as session:
        _partner(session, wards=("kita",))
        [row] = report_counts(session, since=NOW - timedelta(days=1), until=NOW)
        assert (row.ward, row.reports) == ("kita", 0)


def test_closing_a_reported_case_queues_one_notice_per_reporter_with_the_case_number_only(db_url: str) -> None:
    with session_scope(db_url) as session:
        partner = _partner(session)
        on_line = _reporter(session, partner, "U-line")
        on_web = _reporter(session, partner, "w-web", channel="webchat")
        case = _report(session, on_line, "minami-1-2", "201")
        record_report(session, case=case, reporter=on_line, what_seen="smell", now=NOW)  # a second report, same person
        record_report(session, case=case, reporter=on_web, what_seen="meter", now=NOW)
        transition(session, case, CaseStatus.acknowledged, actor="staff")
        assert not session.scalars(select(OutboxItem)).all(), "only closing tells the reporter"
        transition(session, case, CaseStatus.closed, actor="staff", reason="本人と面会")
        [notice] = session.scalars(select(OutboxItem)).all()
        assert (notice.kind, notice.channel, notice.address, notice.state) == (
            f"{DONE_KIND_PREFIX}{case.id}", "line", "U-line", OutboxState.queued)
        assert all(report.notified_at for report in session.scalars(select(PartnerReport)))
        assert outbox_notice(notice.kind) == ("utter_partner_case_done", {"case_id": case.id})


def test_a_reporter_who_left_is_not_told_and_loses_queued_notices(db_url: str) -> None:
    with session_scope(db_url) as session:
        partner = _partner(session)
        reporter = _reporter(session, partner, "U-left")
        first, second = _report(session, reporter, "minami-1-2", "201"), _report(session, reporter, "minami-1-2", "305")
        transition(session, first, CaseStatus.closed, actor="staff", reason="済")
        leave(session, reporter.contact_id, NOW)
        transition(session, second, CaseStatus.closed, actor="staff", reason="済")
        [notice] = session.scalars(select(OutboxItem)).all()
        assert (notice.kind, notice.state) == (f"{DONE_KIND_PREFIX}{first.id}", OutboxState.cancelled)


def test_reconfirmation_is_asked_once_a_cycle_and_the_silent_lapse(db_url: str) -> None:
    with session_scope(db_url) as session:
        partner = _partner(session)
        asked = _reporter(session, partner, "U-asked")
        silent = _reporter(session, partner, "U-silent")
        year = NOW + timedelta(days=settings.cooperator_reconfirm_days)
        assert queue_reconfirm_requests(session, year - timedelta(days=1)) == 0
        assert queue_reconfirm_requests(session, year) == 2
        assert queue_reconfirm_requests(session, year + timedelta(hours=1)) == 0, "once a cycle"
        assert {item.kind for item in session.scalars(select(OutboxItem))} == {RECONFIRM_KIND}
        asked.reconfirm_due = year + timedelta(days=settings.cooperator_reconfirm_days)  # they answered (flows)
        after_grace = year + timedelta(days=settings.cooperator_reconfirm_grace_days)
        assert lapse_unconfirmed(session, after_grace) == 1
        assert (asked.active, silent.active) == (True, False)
