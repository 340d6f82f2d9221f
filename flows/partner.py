"""Partner reporters (見守り協定事業者の従業員): joining with an invitation code, reporting, leaving.

- ``partner_join``: the invitation code (sent on its own, 「PT-ABCD-EFGH」, or after
  「協定事業者の登録」) → what is kept and that reports are objective facts without names →
  はい / いいえ. The code is used only on はい. A reporter who is already registered (the
  yearly re-confirmation request tells them to send 「協定事業者の登録」) may continue or leave.
- ``partner_report`` (「協定通報」, or its button): the building and 号室 or a landmark (read
  like a worry report's place), what was seen (choices), since when; then the report is a
  worry case for the area's hub, ``details["source"] = "partner"``, and the reporter
  gets its number. A name typed at any answer (「田中さん」「佐藤様」) is not kept: the
  reporter is told to give facts only and asked again, and the stored message loses it.
- ``partner_leave`` (「協定通報の登録を解除」): confirmed, then no more reports or notices.

The safety layer runs before every flow (``bot.engine``): a partner who writes that
someone has collapsed gets 119 first, like anyone.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import select

from bot.messages import Choice, EffectKind
from bot.models import Message, MessageDirection
from flows.base import Flow, TurnContext, intent_button
from flows.place_question import ask_place
from flows.steps import (
    REPORT_PLACE_RESPONSES,
    SEND,
    YES_NO,
    ask_yes_no,
    keep_report_counter,
    on_yes_no,
    place_flags,
    read_report_place,
)
from flows.worry import open_worry_case
from routing.cases import case_facts
from routing.partners import (
    InvitationProblem,
    check_invitation,
    find_code,
    join,
    leave,
    reconfirm,
    record_report,
    reporter_of,
)

__all__ = ["PartnerJoinFlow", "PartnerLeaveFlow", "PartnerReportFlow", "looks_like_name", "report_button",
           "strip_names"]

# The words below are matched on NFKC-folded, lower-cased text (TurnContext.plain). Besides
# Japanese and English, each translation tells its readers to send words of their own
# language (responses/<lang>.yml: zh 「协定通报」, ko 「협정 통보」, vi 「báo theo thỏa thuận」), and
# やさしい日本語 readers write kana (「きょうてい つうほう」).
# 「協定事業者の登録」「見守り協定の登録」 "join as a partner".
JOIN_WORDS = re.compile(
    r"((協定事業者|見守り協定|きょうてい\s*じぎょうしゃ|みまもり\s*きょうてい)\s*(として|の)?\s*(登録|参加|とうろく)"
    r"(?!.*(解除|やめ|退会|停止|かいじょ)))|join as a partner|"
    r"(协定企业|協定企業)\s*(登记|登記)|협정\s*사업자\s*등록(?!.*(해제|해지|취소))|đăng ký công ty thỏa thuận"
)
# 「協定通報」「見守り協定の通報」 "partner report".
REPORT_WORDS = re.compile(
    r"協定\s*(の)?\s*通報|きょうてい\s*(の)?\s*つうほう|partner report|协定\s*通报|협정\s*통보|báo theo thỏa thuận"
)
# 「協定通報の登録を解除」「協定事業者をやめる」 "leave partner reporting" (claimed before 「協定通報」,
# which the words contain: flows.registry).
LEAVE_WORDS = re.compile(
    r"(協定事業者|協定通報|見守り協定)[^。]{0,8}?(解除|やめ|辞め|退会|停止)|leave partner|"
    r"(きょうてい\s*じぎょうしゃ|きょうてい\s*つうほう|みまもり\s*きょうてい)[^。]{0,12}?(かいじょ|やめ|ていし)|"
    r"取消\s*(协定|協定)|(协定|協定)\s*(通报|通報|企业|企業)[^。]{0,6}?(取消|退出|注销|註銷)|"
    r"협정\s*(통보|사업자)[^.]{0,10}?(해제|해지|취소|탈퇴|그만)|hủy đăng ký báo tin"
)

# What a partner may have seen (domain.yml ``utter_partner_seen_<key>``), kept as its key.
SEEN = ("newspapers", "lights_on", "lights_off", "no_response", "meter", "smell", "other")
SEEN_PREFIX = "seen:"
SINCE = ("today", "few_days", "week", "longer", "unknown")
SINCE_PREFIX = "since:"
KEEP, LEAVE = "partner:keep", "partner:leave"

# A word before an honorific is a name (「田中さん」「ヤマダ様」「佐藤氏」) unless it names a role
# (「大家さん」「管理人さん」「お隣さん」「ヘルパーさん」「新聞屋さん」).
_HONORIFIC = re.compile(r"([一-龥々]{1,4}|[ァ-ヶー]{2,8}|[A-Za-z]{2,})\s*(さん|さま|様|氏|ちゃん|くん|君|san\b|sama\b)")
_ROLES = ("大家", "管理人", "住人", "奥", "隣", "皆", "配達員", "家族", "主人", "娘", "息子", "母", "父", "兄", "姉", "弟",
          "妹", "孫", "客", "屋", "委員", "員", "先生", "医者", "ヘルパー", "ケアマネ", "オーナー", "ドライバー")
# The commonest family names, on their own (not inside a longer word: 「田中ハイツ」「山田町」 are places).
_FAMILY_NAMES = (
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "渡部", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木", "山口",
    "松本", "井上", "木村", "斎藤", "斉藤", "清水", "山崎", "池田", "橋本", "阿部", "石川", "山下", "中島", "石井", "小川",
    "前田", "岡田", "長谷川", "藤田", "後藤", "近藤", "村上", "遠藤", "青木", "坂本", "福田", "太田", "西村", "藤井",
    "金子", "岡本", "藤原", "三浦", "中野", "中川", "原田", "松田", "竹内", "小野", "田村", "中山", "和田", "石田", "森田",
)
_FAMILY_NAME = re.compile(rf"(?<![一-龥々])({'|'.join(_FAMILY_NAMES)})(?![一-龥々ァ-ヶーA-Za-z])")
# "Mr Tanaka", "Mrs. Sato".
_ENGLISH_TITLE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr)\.?\s+[A-Z][a-z]+")


def _names(text: str) -> list[tuple[int, int]]:
    """Where ``text`` seems to name a person, as (start, end) spans."""
    plain = unicodedata.normalize("NFKC", text)
    spans = [match.span() for match in _HONORIFIC.finditer(plain) if not match.group(1).endswith(_ROLES)]
    spans += [match.span() for match in _FAMILY_NAME.finditer(plain)]
    spans += [match.span() for match in _ENGLISH_TITLE.finditer(plain)]
    return sorted(spans)


def looks_like_name(text: str) -> bool:
    """Whether a partner's answer seems to name a person (「201号室の田中さん」, "Mr Sato")."""
    return bool(_names(text))


def strip_names(text: str) -> str:
    """``text`` (NFKC) with what seems to be a name replaced by 「＊＊」."""
    plain = unicodedata.normalize("NFKC", text)
    for start, end in reversed(_names(plain)):
        plain = f"{plain[:start]}＊＊{plain[end:]}"
    return plain


def report_button(ctx: TurnContext) -> Choice:
    """The button that starts a partner report (``Flow.claims``: ``intent:partner_report``)."""
    return Choice(ctx.t("utter_partner_choice_report"), intent_button(PartnerReportFlow.name))


def _redact_inbound(ctx: TurnContext, text: str) -> None:
    """Replace the text stored with this turn's inbound message (a name, an invitation code:
    neither is kept)."""
    inbound = ctx.session.scalar(
        select(Message).where(Message.contact_id == ctx.contact.id, Message.direction == MessageDirection.inbound)
        .order_by(Message.id.desc()).limit(1)
    )
    if inbound is not None:
        inbound.text = text


def _refuse_name(ctx: TurnContext) -> bool:
    """A name in the answer: not kept, the reporter reminded and asked again. False without one."""
    if not ctx.own_words or not looks_like_name(ctx.own_words):
        return False
    _redact_inbound(ctx, strip_names(ctx.own_words))
    ctx.say("utter_partner_no_names")
    ctx.repeat_prompt()
    return True


class PartnerJoinFlow(Flow):
    name = "partner_join"
    interrupts = JOIN_WORDS
    responses = (
        "utter_partner_ask_code",
        "utter_partner_consent",
        "utter_partner_joined",
        "utter_partner_declined",
        "utter_partner_already",
        "utter_partner_reconfirmed",
        "utter_partner_choice_keep",
        "utter_partner_choice_leave",
        "utter_partner_choice_report",
        *(f"utter_partner_code_{problem.value}" for problem in InvitationProblem),
        *YES_NO.responses,
    )

    def claims(self, ctx: TurnContext) -> bool:
        # The code on its own joins from anywhere (the partner's employee was told to send it).
        return super().claims(ctx) or (bool(ctx.own_words) and find_code(ctx.own_words) is not None)

    def start(self, ctx: TurnContext) -> None:
        code = find_code(ctx.text)
        if code is not None:
            self._read_code(ctx, code)
            return
        reporter = reporter_of(ctx.session, ctx.contact.id)
        if reporter is not None:
            ctx.set_step("existing")
            ctx.ask("utter_partner_already", partner=reporter.partner.name, choices=[
                Choice(ctx.t("utter_partner_choice_keep"), KEEP), Choice(ctx.t("utter_partner_choice_leave"), LEAVE)])
            return
        ctx.set_step("code")
        ctx.ask("utter_partner_ask_code")

    def resume(self, ctx: TurnContext) -> None:
        if ctx.step == "existing":
            self._existing(ctx)
        elif ctx.step == "code":
            code = find_code(ctx.text)
            if code is None:
                ctx.say("utter_partner_code_unknown")
                ctx.finish()
                return
            self._read_code(ctx, code)
        elif ctx.step == "consent":
            on_yes_no(ctx, YES_NO, self._join, self._decline)

    def _read_code(self, ctx: TurnContext, code: str) -> None:
        # The code is kept as its hash only: not in the stored message either.
        _redact_inbound(ctx, ctx.text.replace(code, "PT-****-****") if code in ctx.text else "PT-****-****")
        found = check_invitation(ctx.session, code, ctx.now)
        if isinstance(found, InvitationProblem):
            ctx.say(f"utter_partner_code_{found.value}")
            ctx.finish()
            return
        ctx.set_slot("invitation_id", found.id)
        ctx.set_step("consent")
        ask_yes_no(ctx, "utter_partner_consent", YES_NO, partner=found.partner.name)

    def _join(self, ctx: TurnContext) -> None:
        joined = join(ctx.session, invitation_id=ctx.slots["invitation_id"], contact_id=ctx.contact.id, now=ctx.now)
        if isinstance(joined, InvitationProblem):
            ctx.say(f"utter_partner_code_{joined.value}")
        else:
            # The report's button, for now and (kept with the prompt) the next message.
            ctx.ask("utter_partner_joined", partner=joined.partner.name, choices=[report_button(ctx)])
        ctx.finish(keep_prompt=True)

    def _decline(self, ctx: TurnContext) -> None:
        ctx.say("utter_partner_declined")
        ctx.finish()

    def _existing(self, ctx: TurnContext) -> None:
        reporter = reporter_of(ctx.session, ctx.contact.id)
        if ctx.answer == KEEP and reporter is not None:
            reconfirm(reporter, ctx.now)
            ctx.say("utter_partner_reconfirmed")
            ctx.finish()
        elif ctx.answer == LEAVE:
            ctx.switch(PartnerLeaveFlow.name)
        else:
            ctx.repeat_prompt()


class PartnerLeaveFlow(Flow):
    name = "partner_leave"
    interrupts = LEAVE_WORDS
    responses = ("utter_partner_leave_confirm", "utter_partner_left", "utter_partner_kept",
                 "utter_partner_not_registered", *YES_NO.responses)

    def start(self, ctx: TurnContext) -> None:
        if reporter_of(ctx.session, ctx.contact.id, active_only=False) is None:
            ctx.say("utter_partner_not_registered")
            ctx.finish()
            return
        ctx.set_step("confirm")
        ask_yes_no(ctx, "utter_partner_leave_confirm")

    def resume(self, ctx: TurnContext) -> None:
        on_yes_no(ctx, YES_NO, self._leave, self._stay)

    def _leave(self, ctx: TurnContext) -> None:
        leave(ctx.session, ctx.contact.id, ctx.now)
        ctx.say("utter_partner_left")
        ctx.finish()

    def _stay(self, ctx: TurnContext) -> None:
        ctx.say("utter_partner_kept")
        ctx.finish()


class PartnerReportFlow(Flow):
    name = "partner_report"
    interrupts = REPORT_WORDS
    responses = (
        "utter_partner_ask_where",
        "utter_partner_ask_seen",
        "utter_partner_ask_seen_words",
        "utter_partner_ask_since",
        "utter_partner_no_names",
        "utter_partner_confirm",
        "utter_partner_report_received",
        "utter_partner_report_linked",
        "utter_partner_choice_report",
        "utter_partner_not_registered",
        "utter_partner_case_done",
        "utter_partner_reconfirm_request",
        "utter_cancelled",
        *(f"utter_partner_seen_{key}" for key in SEEN),
        *(f"utter_since_when_{key}" for key in SINCE),
        *SEND.responses,
        *REPORT_PLACE_RESPONSES,
    )

    def start(self, ctx: TurnContext) -> None:
        if reporter_of(ctx.session, ctx.contact.id) is None:
            ctx.say("utter_partner_not_registered")
            ctx.finish()
            return
        ctx.set_step("where")
        ask_place(ctx, "utter_partner_ask_where")

    def resume(self, ctx: TurnContext) -> None:
        step = ctx.step
        if step in ("where", "seen_words", "since") and _refuse_name(ctx):
            return
        if step == "where":
            self._where(ctx)
        elif step == "seen":
            self._seen(ctx)
        elif step == "seen_words":
            ctx.set_slot("seen", "other")
            ctx.set_slot("seen_words", ctx.text)
            self._ask_since(ctx)
        elif step == "since":
            since = ctx.answer.removeprefix(SINCE_PREFIX) if ctx.answer.startswith(SINCE_PREFIX) else None
            ctx.set_slot("since_when", ctx.t(f"utter_since_when_{since}") if since in SINCE else ctx.text)
            self._confirm(ctx)
        elif step == "confirm":
            on_yes_no(ctx, SEND, self._report, self._cancel)

    def _where(self, ctx: TurnContext) -> None:
        if ctx.own_words:
            # The reporter's own words for the place (building, 号室) tell households apart.
            ctx.set_slot("where_text", " ".join(filter(None, (ctx.slots.get("where_text"), ctx.own_words))))
        where = read_report_place(ctx, "utter_partner_ask_where")
        if where is None:
            return
        ctx.set_slot("where", where)
        ctx.set_step("seen")
        ctx.ask("utter_partner_ask_seen",
                choices=[Choice(ctx.t(f"utter_partner_seen_{key}"), f"{SEEN_PREFIX}{key}") for key in SEEN])

    def _seen(self, ctx: TurnContext) -> None:
        key = ctx.answer.removeprefix(SEEN_PREFIX) if ctx.answer.startswith(SEEN_PREFIX) else None
        if key == "other":
            ctx.set_step("seen_words")
            ctx.ask("utter_partner_ask_seen_words")
        elif key in SEEN:
            ctx.set_slot("seen", key)
            self._ask_since(ctx)
        elif ctx.own_words and not _refuse_name(ctx):
            # Words instead of a button: what was seen, in the reporter's words.
            ctx.set_slot("seen", "other")
            ctx.set_slot("seen_words", ctx.own_words)
            self._ask_since(ctx)
        elif not ctx.own_words:
            ctx.repeat_prompt()

    def _ask_since(self, ctx: TurnContext) -> None:
        ctx.set_step("since")
        ctx.ask("utter_partner_ask_since",
                choices=[Choice(ctx.t(f"utter_since_when_{key}"), f"{SINCE_PREFIX}{key}") for key in SINCE])

    def _noticed(self, ctx: TurnContext) -> str:
        seen = ctx.slots["seen"]
        return ctx.slots["seen_words"] if seen == "other" else ctx.t(f"utter_partner_seen_{seen}")

    def _confirm(self, ctx: TurnContext) -> None:
        name = keep_report_counter(ctx, "report_worry", ctx.slots["where"]).name
        ctx.set_step("confirm")
        ask_yes_no(ctx, "utter_partner_confirm", SEND, counter_name=name, where=self._where_label(ctx),
                   noticed=self._noticed(ctx), since_when=ctx.slots["since_when"])

    def _where_label(self, ctx: TurnContext) -> str:
        where = ctx.slots["where"]
        words = ctx.slots.get("where_text")
        # A spot read with the town (「柳町（さくらハイツ203号室）」) is in the label already.
        if not words or where.get("landmark") or words in where["label"]:
            return where["label"]
        return f"{where['label']}（{words}）"

    def _details(self, ctx: TurnContext, partner_id: int) -> dict[str, Any]:
        where = ctx.slots["where"]
        return {"source": "partner", "partner_id": partner_id, "noticed": self._noticed(ctx),
                "seen": ctx.slots["seen"], "where": self._where_label(ctx), "since_when": ctx.slots["since_when"],
                **place_flags(where)}

    def _report(self, ctx: TurnContext) -> None:
        reporter = reporter_of(ctx.session, ctx.contact.id)
        if reporter is None:
            # The agreement ended (or the reporter left) while they were answering.
            ctx.say("utter_partner_not_registered")
            ctx.finish()
            return
        details = self._details(ctx, reporter.partner_id)
        case, linked = open_worry_case(ctx, details, noticed=details["noticed"])
        record_report(ctx.session, case=case, reporter=reporter, what_seen=ctx.slots["seen"], now=ctx.now)
        receipt = "utter_partner_report_linked" if linked else "utter_partner_report_received"
        ctx.ask(receipt, case_id=case.id, counter_name=ctx.slots["counter_name"], choices=[report_button(ctx)])
        if linked:
            ctx.effect(EffectKind.case_linked, **case_facts(case, details, False))
        else:
            ctx.effect(EffectKind.case_created, **case_facts(case))
        ctx.finish(keep_prompt=True)

    def _cancel(self, ctx: TurnContext) -> None:
        ctx.say("utter_cancelled")
        ctx.finish()
