"""partner_join, partner_report and partner_leave, whole conversations: a partner's employee
joins with an invitation code, reports a building and 号室 (the case reaches the area's hub,
no name kept), is told when staff closed it, and leaves; refused codes; the safety layer first.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from alerts.fanout import senders as fanout_senders
from alerts.fanout.runner import process_outbox
from bot.db import session_scope
from bot.engine import ConversationEngine
from bot.models import Case, CaseKind, CaseStatus, Contact, Message, MessageDirection, OutboxItem, OutboxState
from bot.models.partners import PartnerInvitation, PartnerReport, PartnerReporter
from bot.settings import settings
from flows.partner import looks_like_name, strip_names
from routing.cases import transition
from routing.partners import add_partner, create_invitation, disable_partner
from tests.bot.conftest import OPEN_HOURS, Resident
from tests.fakes.line import FakeLineAPI
from tests.flows.conftest import Left, cases, effects, left, rendered, said

LINE_TOKEN = "line-access-token-for-partner-tests"


def _invite(db_url: str, *, max_uses: int = 1, days: int = 14, wards: tuple[str, ...] = ("minami",)) -> str:
    with session_scope(db_url) as session:
        partner = add_partner(session, name="青葉新聞 南販売所", type="newspaper", wards=wards,
                              contact="南販売所 06-0000-0000", agreement_date=date(2026, 4, 1))
        _, code = create_invitation(session, partner.id, max_uses=max_uses, days=days, created_by="test",
                                    now=OPEN_HOURS - timedelta(hours=1))
        return code


def _join(reporter: Resident, code: str) -> None:
    assert said(reporter.send(code)) == ["utter_partner_consent"]
    assert said(reporter.send(postback="yes")) == ["utter_partner_joined"]


def _reporters(db_url: str) -> list[PartnerReporter]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(PartnerReporter).order_by(PartnerReporter.id)))


def _inbound_texts(db_url: str) -> list[str | None]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(Message.text).where(Message.direction == MessageDirection.inbound)))


def test_a_partner_joins_with_a_code_and_reports_a_building_and_room(engine: ConversationEngine, db_url: str) -> None:
    code = _invite(db_url)
    reporter = Resident(engine, channel="line", user_id="U-partner-1")
    consent = reporter.send(f"招待コードは{code}です")
    assert said(consent) == ["utter_partner_consent"]
    assert [choice.payload for choice in consent.replies[-1].choices] == ["yes", "no"]
    assert not _reporters(db_url), "nothing is kept before はい"
    welcome = reporter.send("はい")
    assert said(welcome) == ["utter_partner_joined"]
    assert [choice.payload for choice in welcome.replies[-1].choices] == ["intent:partner_report"]
    [joined] = _reporters(db_url)
    assert joined.active and joined.reconfirm_due is not None
    assert code not in " ".join(filter(None, _inbound_texts(db_url))), "the code is kept as its hash only"

    # The button the welcome carries starts a report, as 「協定通報」 does.
    assert said(reporter.send(postback="intent:partner_report")) == ["utter_partner_ask_where"]
    where = reporter.send("南区朝日町3丁目 あさひハイツ201号室")
    assert said(where) == ["utter_partner_ask_seen"]
    assert [choice.payload for choice in where.replies[-1].choices] == [
        "seen:newspapers", "seen:lights_on", "seen:lights_off", "seen:no_response", "seen:meter", "seen:smell",
        "seen:other"]
    assert said(reporter.send(postback="seen:newspapers")) == ["utter_partner_ask_since"]
    assert said(reporter.send(postback="since:few_days")) == ["utter_partner_confirm"]
    assert left(db_url, reporter).slots["counter_id"] == "mimamori-minami"
    done = reporter.send(postback="send")
    assert said(done) == ["utter_partner_report_received"]
    assert said(reporter.send("1")) == ["utter_partner_ask_where"], "the receipt's button: another report"

    [case] = cases(db_url)
    assert effects(done) == [("case_created", {
        "case_id": case.id, "case_kind": "worry", "counter_id": "mimamori-minami", "town_id": "minami-1-2",
        "urgent": False, "fields": {"observation": rendered("utter_partner_seen_newspapers"),
                             "since": rendered("utter_since_when_few_days"), "contact": None}})]
    assert (case.kind, case.counter_id, case.ward, case.reporter_contact_id) == (
        CaseKind.worry, "mimamori-minami", "minami", None)
    assert case.details["source"] == "partner" and case.details["seen"] == "newspapers"
    assert "201" in (case.household_key or ""), "the 号室 tells this household from its neighbours"
    assert case.details["where"].count("あさひハイツ201号室") == 1, "the building once, with the town"
    with session_scope(db_url) as session:
        [report] = session.scalars(select(PartnerReport)).all()
        assert (report.case_id, report.partner_id, report.reporter_id, report.ward, report.what_seen) == (
            case.id, case.details["partner_id"], joined.id, "minami", "newspapers")


def test_the_building_said_with_the_town_is_read_as_the_spot(engine: ConversationEngine, db_url: str) -> None:
    reporter = Resident(engine, channel="line", user_id="U-building")
    _join(reporter, _invite(db_url, wards=("kita",)))
    reporter.send("協定通報")
    reporter.send("北区柳町のさくらハイツ203号室です")
    assert left(db_url, reporter).slots["where"]["label"].endswith("（さくらハイツ203号室）"), \
        "no particle before it, no です after it"


def test_a_typed_name_is_flagged_and_never_kept(engine: ConversationEngine, db_url: str) -> None:
    reporter = Resident(engine, channel="telegram", user_id="4242")
    _join(reporter, _invite(db_url))
    reporter.send("協定通報")
    flagged = reporter.send("南区朝日町3丁目 あさひハイツ201号室の田中さん")
    assert said(flagged) == ["utter_partner_no_names", "utter_partner_ask_where"]
    assert "where" not in left(db_url, reporter).slots and "where_text" not in left(db_url, reporter).slots
    assert said(reporter.send("南区朝日町3丁目 あさひハイツ201号室")) == ["utter_partner_ask_seen"]
    assert said(reporter.send(postback="seen:other")) == ["utter_partner_ask_seen_words"]
    assert said(reporter.send("佐藤様の家のポストがいっぱいです")) == ["utter_partner_no_names", "utter_partner_ask_seen_words"]
    assert said(reporter.send("ポストがいっぱいで、夜も真っ暗です")) == ["utter_partner_ask_since"]
    assert said(reporter.send("先週から")) == ["utter_partner_confirm"]
    assert said(reporter.send(postback="send")) == ["utter_partner_report_received"]

    [case] = cases(db_url)
    assert case.details["noticed"] == "ポストがいっぱいで、夜も真っ暗です"
    stored = " ".join(filter(None, _inbound_texts(db_url)))
    assert "田中" not in stored and "佐藤" not in stored, "the names are gone from the stored messages too"
    assert "田中" not in str(case.details) and "田中" not in (case.household_key or "")


@pytest.mark.parametrize(("name", "expected"), [
    ("201号室の田中さん", True), ("ヤマダ様のお宅", True), ("佐藤氏", True), ("表札は鈴木", True), ("Mr Tanaka", True),
    ("あさひハイツ201号室", False), ("大家さんに聞きました", False), ("隣のおばあさんを見かけない", False),
    ("田中ハイツ 3号室", False), ("山田町2丁目", False), ("管理人さん不在", False), ("新聞屋さん", False),
])
def test_what_counts_as_a_name(name: str, expected: bool) -> None:
    assert looks_like_name(name) is expected


def test_a_name_is_stripped_where_it_stood() -> None:
    assert strip_names("201号室の田中さん、新聞") == "201号室の＊＊、新聞"


def test_expired_used_and_unknown_codes_are_refused(engine: ConversationEngine, db_url: str) -> None:
    code = _invite(db_url)
    first = Resident(engine, channel="line", user_id="U-first")
    _join(first, code)
    second = Resident(engine, channel="line", user_id="U-second")
    assert said(second.send(code)) == ["utter_partner_code_used"]
    assert said(second.send("PT-ZZZZ-ZZZZ")) == ["utter_partner_code_unknown"]
    expired = _invite(db_url, days=1)
    late = Resident(engine, channel="line", user_id="U-late", now=OPEN_HOURS + timedelta(days=2))
    assert said(late.send(expired)) == ["utter_partner_code_expired"]
    assert [reporter.contact_id for reporter in _reporters(db_url)] == [_contact_id(db_url, "U-first")]


def test_a_code_used_up_while_someone_was_reading_the_consent_is_refused_at_yes(engine: ConversationEngine,
                                                                                db_url: str) -> None:
    code = _invite(db_url, max_uses=1)
    slow = Resident(engine, channel="line", user_id="U-slow")
    assert said(slow.send(code)) == ["utter_partner_consent"]
    _join(Resident(engine, channel="line", user_id="U-fast"), code)
    assert said(slow.send(postback="yes")) == ["utter_partner_code_used"]
    with session_scope(db_url) as session:
        assert session.scalar(select(PartnerInvitation.uses)) == 1


def test_a_shared_code_lets_several_join_and_a_disabled_partner_stops_reports(engine: ConversationEngine,
                                                                            db_url: str) -> None:
    code = _invite(db_url, max_uses=2)
    one, two = Resident(engine, channel="line", user_id="U-1"), Resident(engine, channel="webchat", user_id="w-2")
    _join(one, code)
    _join(two, code)
    with session_scope(db_url) as session:
        disable_partner(session, _reporters(db_url)[0].partner_id)
    assert said(one.send("協定通報")) == ["utter_partner_not_registered"]


def test_saying_no_keeps_nothing_and_a_non_partner_cannot_report(engine: ConversationEngine, db_url: str) -> None:
    code = _invite(db_url)
    reporter = Resident(engine, channel="line", user_id="U-no")
    reporter.send(code)
    assert said(reporter.send("いいえ")) == ["utter_partner_declined"]
    assert not _reporters(db_url)
    assert said(reporter.send("協定通報")) == ["utter_partner_not_registered"]
    assert said(reporter.send(code)) == ["utter_partner_consent"], "the code was not used up"


def test_unsubscribe_confirmed_then_no_more_reports(engine: ConversationEngine, db_url: str) -> None:
    reporter = Resident(engine, channel="line", user_id="U-leave")
    _join(reporter, _invite(db_url))
    assert said(reporter.send("協定通報の登録を解除したい")) == ["utter_partner_leave_confirm"]
    assert said(reporter.send("いいえ")) == ["utter_partner_kept"]
    assert _reporters(db_url)[0].active
    reporter.send("協定通報の登録を解除したい")
    assert said(reporter.send("はい")) == ["utter_partner_left"]
    [left_reporter] = _reporters(db_url)
    assert not left_reporter.active and left_reporter.left_at is not None
    assert said(reporter.send("協定通報")) == ["utter_partner_not_registered"]


def test_a_year_later_the_reporter_continues(engine: ConversationEngine, db_url: str) -> None:
    reporter = Resident(engine, channel="line", user_id="U-year")
    _join(reporter, _invite(db_url))
    first_due = _reporters(db_url)[0].reconfirm_due
    reporter.now += timedelta(days=366)
    assert said(reporter.send("協定事業者の登録")) == ["utter_partner_already"]
    assert said(reporter.send(postback="partner:keep")) == ["utter_partner_reconfirmed"]
    assert _reporters(db_url)[0].reconfirm_due - first_due > timedelta(days=365)


def test_safety_comes_first_in_the_middle_of_a_partner_report(engine: ConversationEngine, db_url: str) -> None:
    reporter = Resident(engine, channel="line", user_id="U-safety")
    _join(reporter, _invite(db_url))
    reporter.send("協定通報")
    urgent = reporter.send("部屋の中で人が倒れていて、息をしていません")
    assert said(urgent)[0] == "utter_emergency_119" and effects(urgent) == [("emergency_guidance", {"service": "119"})]
    assert said(urgent)[-1] == "utter_partner_ask_where", "then the report's question again"
    assert left(db_url, reporter) == Left("partner_report", "where", {}), "those words are not the place"


def test_in_english_a_title_and_name_is_flagged(engine: ConversationEngine, db_url: str) -> None:
    reporter = Resident(engine, channel="telegram", user_id="777", language="en")
    assert said(reporter.send(f"My code is {_invite(db_url)}")) == ["utter_partner_consent"]
    assert said(reporter.send("yes")) == ["utter_partner_joined"]
    assert said(reporter.send("partner report")) == ["utter_partner_ask_where"]
    assert said(reporter.send("Mr Tanaka in room 201")) == ["utter_partner_no_names", "utter_partner_ask_where"]


def test_when_staff_close_the_case_the_reporter_is_told_it_was_dealt_with(
        engine: ConversationEngine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reporter = Resident(engine, channel="line", user_id="U-done")
    _join(reporter, _invite(db_url))
    reporter.send("協定通報")
    reporter.send("南区朝日町3丁目 あさひハイツ201号室")
    reporter.send(postback="seen:meter")
    reporter.send(postback="since:week")
    reporter.send(postback="send")
    [case] = cases(db_url)
    with session_scope(db_url) as session:
        assert not session.scalars(select(OutboxItem)).all(), "nothing is sent before the case is closed"
        transition(session, session.get(Case, case.id), CaseStatus.closed, actor="staff-1", reason="安否を確認")
    with session_scope(db_url) as session:
        [notice] = session.scalars(select(OutboxItem)).all()
        contact = session.scalar(select(Contact).where(Contact.channel_user_id == "U-done"))
        assert (notice.kind, notice.channel, notice.address, notice.contact_id, notice.state, notice.cooperator_id) == (
            f"pdone:{case.id}", "line", "U-done", contact.id, OutboxState.queued, None)
        assert session.scalar(select(PartnerReport.notified_at)) is not None

    # The fan-out sends it like its other messages (the fake LINE API of tests/fakes).
    with FakeLineAPI(LINE_TOKEN) as line:
        monkeypatch.setattr(settings, "line_channel_access_token", LINE_TOKEN)
        monkeypatch.setattr(settings, "line_api_host", line.url)
        fanout_senders._memory_limiter.cache_clear()
        process_outbox(["line"])
        fanout_senders._memory_limiter.cache_clear()
        [sent] = [message["text"] for message in line.messages_to("U-done")]
    assert sent == rendered("utter_partner_case_done", case_id=case.id)
    assert "201" not in sent and "朝日町" not in sent, "the case number, no personal details"
    with session_scope(db_url) as session:
        assert session.scalar(select(OutboxItem.state)) == OutboxState.sent


def _contact_id(db_url: str, user_id: str) -> int:
    with session_scope(db_url) as session:
        return session.scalar(select(Contact.id).where(Contact.channel_user_id == user_id))


# ---------------------------------------------------------------------------- in the residents' languages
# Each translation tells its readers to send words of their own language (responses/<lang>.yml).
@pytest.mark.parametrize(("language", "leave", "yes"), [
    ("zh", "取消协定通报登记", "是"),
    ("zh-Hant", "取消協定通報登記", "好的"),
    ("ko", "협정 통보 등록 해제", "네"),
    ("vi", "hủy đăng ký báo tin", "có"),
    ("ja", "きょうてい つうほうの とうろくを かいじょ", "はい"),  # やさしい日本語 readers write kana
])
def test_leaving_in_the_words_each_translation_gives(engine: ConversationEngine, db_url: str, language: str,
                                                     leave: str, yes: str) -> None:
    reporter = Resident(engine, channel="line", user_id=f"U-leave-{language}", language=language)
    _join(reporter, _invite(db_url))
    assert said(reporter.send(leave)) == ["utter_partner_leave_confirm"], "leaving, not a report"
    assert said(reporter.send(yes)) == ["utter_partner_left"]
    assert not _reporters(db_url)[0].active


@pytest.mark.parametrize(("language", "report", "join"), [
    ("zh", "协定通报", "协定企业登记"),
    ("zh-Hant", "協定通報", "協定企業登記"),
    ("ko", "협정 통보", "협정 사업자 등록"),
    ("vi", "báo theo thỏa thuận", "đăng ký công ty thỏa thuận"),
    ("ja", "きょうてい つうほう", "きょうてい じぎょうしゃの とうろく"),
])
def test_reporting_and_rejoining_in_the_words_each_translation_gives(engine: ConversationEngine, db_url: str,
                                                                     language: str, report: str, join: str) -> None:
    reporter = Resident(engine, channel="line", user_id=f"U-report-{language}", language=language)
    _join(reporter, _invite(db_url))
    assert said(reporter.send(report)) == ["utter_partner_ask_where"]
    reporter.send("キャンセル")
    reporter.now += timedelta(days=366)
    assert said(reporter.send(join)) == ["utter_partner_already"]
