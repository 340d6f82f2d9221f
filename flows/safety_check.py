"""safety_check: the family's answer to a sensor's 安否確認.

When a household's sensor reports inactivity, ``alerts.sensors`` asks the family, on
their channel, 「ご無事を確認できましたか？ 1 確認できた 2 連絡がつかない」 (with two
buttons where the platform shows them). This flow takes the answer, from any flow,
while a check of a household this chat is a family contact of is open
(``alerts.sensors.open_check_for``):

* 「確認できた」, 「1」, "confirmed", or the button → the check is closed as confirmed
  (a case the hub has already is told the family confirmed);
* 「連絡がつかない」, 「2」, "cannot reach", or the button → the hub gets an urgent worry
  case at once (or the case it has is marked urgent), and the family is told who will
  check and to call 119 if it may be urgent.

Safety first still applies: 「倒れています」 is answered by the engine's safety layer
(119) before this flow is asked; :meth:`SafetyCheckFlow.after_safety_guidance` then
escalates the open check as an emergency. Words that are neither answer are not taken:
they go on to the other flows. The flow answers beside whatever flow is active
(``takes_over = False``), which goes on.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from alerts.sensors import CHECK_KIND, CONFIRMED, EMERGENCY, UNREACHABLE, answer_check, open_check_for
from bot.models import Case
from bot.models.sensors import CheckStatus, SafetyCheck, SensorFamilyContact
from flows.base import Flow, TurnContext
from flows.steps import counter_name, counter_name_responses
from intents.safety import SafetySignal
from routing.snapshot import get_directory

__all__ = ["SafetyCheckFlow"]

_BUTTON = re.compile(rf"\A{CHECK_KIND}:({CONFIRMED}|{UNREACHABLE}):(\d+)\Z")
# Folded words (TurnContext.plain) of each answer, the whole message; a bare digit is the
# question's numbering. The question goes out in the family's language (alerts.sensors), so the
# answers are read in each: its choice titles (responses/<lang>.yml ``utter_choice_check_*``),
# "I confirmed / safe" and "cannot reach", and the kana やさしい日本語 readers write. Not a bare
# "yes" or "it's fine" (「sí」「괜찮아요」): while a check is open they may answer another question.
_CONFIRMED = re.compile(
    r"\A(?:1|確認でき(?:た|ました)|確認しました|無事(?:でした|です|だった)?|元気(?:でした|です)?|"
    r"confirmed(?: safe)?|they are safe|safe|"
    r"ぶじ(?:でした|です|だった)?|かくにんでき(?:た|ました)|かくにんしました|げんき(?:でした|です)?|"
    r"已?(?:经|經)?(?:确认|確認)(?:平安|了)?|(?:他|她)?(?:很)?平安(?:了|的)?|没事了|沒事了|"  # 中文
    r"확인했(?:다|어요|습니다)|확인됐(?:어요|습니다)|무사해요|무사합니다|무사했어요|"  # 한국어
    r"(?:đã )?xác nhận(?: (?:an toàn|rồi))?|an toàn(?: rồi)?|(?:bà|ông|mẹ|bố|ba|má)? ?(?:vẫn )?ổn(?: rồi)?|"  # Tiếng Việt
    r"ligtas(?: siya)?(?: na)?(?: po)?|ligtas nakumpirma|nakumpirma(?: na)?(?: po)?|okay (?:na )?siya|"  # Tagalog
    r"confirmei|confirmado|(?:ele|ela)? ?(?:está|esta) bem|"  # Português
    r"sí está bien|(?:sí )?(?:está|esta) bien|confirmé|(?:ya )?lo confirmé|"  # Español
    r"सुरक्षित\s*(?:छन्|हुनुहुन्छ|छ)?|पुष्टि\s*(?:भयो|गरें|गरेँ)|ठीक\s*(?:छन्|हुनुहुन्छ))"  # नेपाली
    r"[。.!！]*\Z")
_UNREACHABLE = re.compile(
    r"\A(?:2|連絡がつかない|連絡がつきません|連絡が取れない|連絡がとれない|連絡が取れません|"
    r"つながらない|つながりません|電話に出ない|電話に出ません|"
    r"(?:i )?can(?:no|')t reach (?:them|him|her)|cannot reach(?: them)?|no answer|"
    r"れんらくがつかない|れんらくが ?つかない|れんらくがとれない|れんらくが ?とれない|れんらくがつきません|"
    r"れんらくがとれません|でんわにでない|でんわにでません|"
    r"(?:联系|聯絡|联络|聯繫)不上|(?:打|打了)?电话没人接|(?:打|打了)?電話沒人接|没人接|沒人接|"  # 中文
    r"연락이 ?안 ?(?:된다|돼요|됩니다|되요)|연락(?:이)? ?안 ?됨|연락이 ?되지 ?않(?:아요|습니다)|전화를 ?안 ?받아요|"  # 한국어
    r"không liên lạc được|không gọi được|không ai nghe máy|không nghe máy|"  # Tiếng Việt
    r"hindi (?:ko )?(?:siya )?(?:makontak|matawagan)|hindi makontak|walang sumasagot|"  # Tagalog
    r"não consigo (?:contato|contatar|falar com (?:ele|ela))|sem contato|ninguém atende|"  # Português
    r"no logro (?:contactar(?:la|lo)?|comunicarme)|no puedo (?:contactar(?:la|lo)?|comunicarme)|no contesta|nadie contesta|"  # Español
    r"सम्पर्क\s*(?:भएन|हुन\s*सकेन|गर्न\s*सकिन|गर्न\s*सकिएन)|फोन\s*उठेन)"  # नेपाली
    r"[。.!！]*\Z")


class SafetyCheckFlow(Flow):
    name = "safety_check"
    responses = ("utter_safety_check_confirmed", "utter_safety_check_escalated", "utter_safety_check_escalated_again",
                 *counter_name_responses())
    postback_prefix = f"{CHECK_KIND}:"
    takes_over = False
    asks_on_timeout = False

    def claims(self, ctx: TurnContext) -> bool:
        return self._answer(ctx) is not None and self._check(ctx) is not None

    @staticmethod
    def _answer(ctx: TurnContext) -> str | None:
        button = _BUTTON.match(ctx.answer) or _BUTTON.match(ctx.message.postback or "")
        if button is not None:
            return button.group(1)
        if ctx.message.event != "message" or not ctx.plain:
            return None
        if _CONFIRMED.match(ctx.plain):
            return CONFIRMED
        if _UNREACHABLE.match(ctx.plain):
            return UNREACHABLE
        return None

    @staticmethod
    def _check(ctx: TurnContext) -> SafetyCheck | None:
        """The check the answer is for: the button's (if this chat is its household's family), else the open one."""
        button = _BUTTON.match(ctx.answer) or _BUTTON.match(ctx.message.postback or "")
        if button is not None:
            check = ctx.session.get(SafetyCheck, int(button.group(2)))
            if check is None:
                return None
            family = ctx.session.scalar(select(SensorFamilyContact.id).where(
                SensorFamilyContact.household_id == check.household_id, SensorFamilyContact.active.is_(True),
                SensorFamilyContact.channel == ctx.contact.channel,
                SensorFamilyContact.address == ctx.contact.channel_user_id))
            return check if family is not None else None
        return open_check_for(ctx.session, ctx.contact.channel, ctx.contact.channel_user_id, ctx.now)

    def start(self, ctx: TurnContext) -> None:
        answer, check = self._answer(ctx), self._check(ctx)
        assert answer is not None and check is not None, "claimed only with an answer to an open check"
        if answer == CONFIRMED:
            if check.status != CheckStatus.confirmed:
                _, effects = answer_check(ctx.session, check, CONFIRMED, contact_id=ctx.contact.id, now=ctx.now)
                ctx.effects.extend(effects)
            ctx.say("utter_safety_check_confirmed")
            return
        self._escalate(ctx, check, answer)

    def after_safety_guidance(self, ctx: TurnContext, signal: SafetySignal) -> bool:
        """The safety layer has just given its guidance. A family whose household has an open check
        and who told of an emergency or a welfare risk (「倒れています」「中で倒れているかも」) has
        told of danger there: the check escalates, so the hub is told at once.

        Returns:
            True when it escalated (nothing else need start: the hub has the matter).
        """
        if signal.kind not in ("emergency", "welfare"):
            return False
        check = open_check_for(ctx.session, ctx.contact.channel, ctx.contact.channel_user_id, ctx.now)
        if check is None:
            return False
        self._escalate(ctx, check, EMERGENCY)
        return True

    @staticmethod
    def _escalate(ctx: TurnContext, check: SafetyCheck, answer: str) -> None:
        already = check.status == CheckStatus.escalated and check.case_id is not None
        case, effects = answer_check(ctx.session, check, answer, contact_id=ctx.contact.id, now=ctx.now)
        ctx.effects.extend(effects)
        assert isinstance(case, Case), "an escalated check has its hub case"
        if already:
            ctx.say("utter_safety_check_escalated_again", case_id=case.id)
            return
        service = get_directory(ctx.session).services.get(case.counter_id)
        ctx.say("utter_safety_check_escalated", case_id=case.id,
                counter_name=counter_name(ctx, case.counter_id, service.name if service else case.counter_id),
                phone=service.phone if service is not None and service.phone else "119")
