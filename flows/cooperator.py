"""register_helper and unsubscribe: become a 協力者 of the missing-person alert network, or stop.

register_helper (cooperator_form in domain.yml): the consent text, the confidentiality
pledge (what alerts say is used only to look out for the person, never posted or
forwarded), the area of activity (a town by the shared place question, or a location
that is kept only as its town's centroid — the exact point is dropped, even from the
stored message; a location sent before the area is asked is not kept at all), then how
to be reached: this chat automatically when alerts can be pushed to it (LINE, Telegram),
optionally an e-mail address and an SMS number; then quiet hours — missing-person alerts
still come in them unless the cooperator opts out of night alerts, which the question
says and offers as a choice — a confirmation, and the registration (re-confirmation due
in a year). 「夜中の通知は止めてほしいです」 during sign-up is that opt-out, noted, and the
sign-up goes on. Someone already registered is offered to continue as before (the yearly
re-confirmation), to change the registration, or to stop.

unsubscribe, understood precisely, from any conversation: 「夜中の通知は止めてほしいです」 /
"no alerts at night" stops night alerts only (the registration stays, and the reply says
so); leaving entirely (「配信停止」「協力者をやめたい」) asks for a confirmation first.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from alerts.cooperators import (
    NIGHT_HOURS,
    PUSH_CHANNELS,
    EndpointSpec,
    cooperator_at,
    parse_email,
    parse_mobile,
    parse_quiet_hours,
    reconfirm,
    register_cooperator,
    stop_night_alerts,
    unsubscribe_endpoint,
)
from bot.messages import Choice, EffectKind
from bot.models import Cooperator, Message, MessageDirection
from flows.base import Flow, FormFlow, TurnContext, is_yes
from flows.place_question import PLACE_RESPONSES, ask_place, place_label
from flows.steps import (
    CONSENT,
    NONE,
    OPTIONAL_RESPONSES,
    REGISTER,
    REGISTRATION_RESPONSES,
    YES_NO,
    answered_none,
    ask_optional,
    ask_yes_no,
    caller_phone,
    decline_registration,
    on_yes_no,
    read_town,
    says_this_number,
)
from routing.areas import resolve_town_id
from routing.readers import reads_kanji
from routing.snapshot import get_directory

__all__ = ["NIGHT_WORDS", "RegisterHelperFlow", "STOP_WORDS", "UnsubscribeFlow", "contact_endpoints"]

# The order of cooperator_form's required slots in domain.yml.
QUESTIONS = {
    "helper_area": "utter_ask_helper_area",
    "helper_email": "utter_ask_helper_email",
    "helper_sms": "utter_ask_helper_sms",
    "quiet_hours": "utter_ask_quiet_hours",
}
# 「配信を停止して」「お知らせはもういらない」「stop alerts」, and the residents' own words: the
# translations tell each language to send theirs (vi 「dừng nhận tin」, ko 「알림 중지」, zh
# 「停止通知」) and やさしい日本語 readers write kana (「はいしん ていし」). Matched on NFKC-folded,
# lower-cased text (TurnContext.plain), anywhere in it: stopping must never fail on the wording.
STOP_WORDS = re.compile(
    r"(配信|はいしん)\s*(を|は)?\s*(停止|止め|とめ|やめ|中止|解除|いらない|不要|ていし)|"
    r"(通知|お知らせ|おしらせ|見守りメール|しらせ)\s*(を|は)?\s*(もう)?\s*(停止|止め|とめ|やめ|いらない|不要|ていし)|"
    r"(協力者|きょうりょくしゃ)\s*(の|を)?\s*(登録|とうろく)?\s*(を)?\s*(解除|やめ|辞め|退会|かいじょ)|"
    r"stop (the )?alerts|unsubscribe|"
    # 中文 (简体/繁體): 「停止通知」「不要再发通知」「取消协助者登记」.
    r"停止(通知|接收|推送|发送|傳送|发通知|傳通知)|取消(订阅|訂閱)|(不要|不想|别|別)再?(发|發|传|傳|收)[^。]{0,4}?(通知|消息|訊息)|"
    r"取消\s*(协助者|協助者)|(协助者|協助者)[^。]{0,6}?(取消|退出|注销|註銷)|"
    # 한국어: 「알림 중지」「알림을 그만 받고 싶어요」「수신 거부」「협력자 등록 해제」.
    r"알림\s*(을|를|은|는)?\s*(중지|정지|해지|취소|끄|꺼|그만|멈춰|멈추|받지\s*않)|수신\s*거부|"
    r"협력자\s*(등록)?\s*(을|를)?\s*(해제|해지|취소|탈퇴|그만)|"
    # Tiếng Việt: 「dừng nhận tin」「ngừng gửi thông báo」「không muốn nhận tin nữa」「hủy đăng ký cộng tác viên」.
    r"(dừng|ngừng|ngưng|tắt) (nhận |gửi )?(tin|thông báo)|không (muốn )?nhận (tin|thông báo)( nữa)?\b|"
    r"hủy (đăng ký )?cộng tác viên|"
    # Tagalog: 「ihinto ang abiso」「itigil ang mga abiso」「ayoko na ng abiso」.
    r"(ihinto|itigil|tigil|hinto)( na)?( ang| ninyo ang| po ang)?( mga)? abiso|ayoko na (ng|sa)( mga)? abiso|"
    # Português: 「parar os avisos」「não quero mais receber avisos」「cancelar o cadastro de colaborador」.
    r"(parar|cancelar|suspender)( de receber)?( os| as)? (avisos|alertas|mensagens)|"
    r"não quero (mais )?receber( os| as)? (avisos|alertas|mensagens)|cancelar (o |meu )?cadastro de colaborador|"
    # Español: 「detener los avisos」「dejar de recibir avisos」「darme de baja como colaborador」.
    r"(detener|parar|cancelar|suspender)( de recibir)?( los| las)? (avisos|alertas|mensajes)|"
    r"dejar de recibir( los| las)? (avisos|alertas|mensajes)|no quiero (recibir )?más (avisos|alertas|mensajes)|"
    r"darme de baja (como colaborador|de (los )?avisos)|cancelar (el |mi )?registro de colaborador|"
    # नेपाली: 「सूचना बन्द」「सूचना रोक्नुहोस्」「दर्ता रद्द」.
    r"सूचना\s*(पठाउन\s*)?(बन्द|रोक)|सूचना\s*नपठाउनुहोस्|दर्ता\s*रद्द"
)
# 「夜中の通知は止めてほしいです」「夜は送らないで」 "no alerts at night": night alerts only, not leaving;
# in kana (「よなかの しらせは とめて」) and in each resident language.
NIGHT_WORDS = re.compile(
    r"(夜中|夜間|深夜|夜|晩|寝て(い)?る(間|あいだ|とき|時)|よなか|よる|やかん|しんや|ねて(い)?る(あいだ|とき))[^。]{0,12}?"
    r"((通知|お知らせ|連絡|メール|配信|しらせ|つうち|れんらく|はいしん)[^。]{0,8}?"
    r"(止め|とめ|やめ|停止|いらない|要らない|いらん|不要|控え|送らない|しないで|おくらない|ていし)"
    r"|(送らない|送ってほしくない|鳴らさない|通知しないで|連絡しないで|起こさないで|おくらないで|おくらない))|"
    r"\b(no|stop|don'?t send( me)?|do not send( me)?|without)( the| any)? (alerts?|messages?|notifications?)"
    r" (at|during the|in the) night|\bno night(-| )?(time )?alerts?|\bnight(-| )?(time )?alerts? off|"
    # 中文: 「晚上不要发通知」「夜間請勿傳送」.
    r"(夜间|夜間|晚上|夜里|夜裡|半夜)[^。]{0,8}?(不要|别|別|停止|不想|请勿|請勿|请不要|請不要)[^。]{0,6}?"
    r"(通知|发|發|传|傳|提醒|消息|訊息)|"
    # 한국어: 「밤에는 알림 보내지 마세요」「야간 알림 중지」.
    r"(밤|야간|새벽|심야)[^.]{0,10}?(알림|메시지|연락)[^.]{0,8}?(보내지\s*마|받지\s*않|끄|꺼|중지|멈|그만|사절)|"
    # Tiếng Việt: 「đừng gửi tin vào ban đêm」「không nhận thông báo ban đêm」.
    r"(không|đừng|dừng|ngừng) (gửi|nhận)( tin| thông báo)?[^.]{0,12}?(ban đêm|buổi tối|nửa đêm)|"
    # Tagalog: 「walang abiso sa gabi」「huwag magpadala sa gabi」.
    r"(walang|huwag|ihinto|itigil)[^.]{0,20}?(abiso|mensahe|magpadala)[^.]{0,12}?(sa )?(gabi|hatinggabi)|"
    # Português / Español: 「sem avisos à noite」「no envíen avisos por la noche」.
    r"(sem|não|nada de|parar|sin|no|parar|detener)[^.]{0,20}?(avisos?|alertas?|mensagens?|mensajes?|notificaç\w+|"
    r"notificaci\w+)[^.]{0,12}?(à|de|durante a|pela|en la|por la|durante la) (noite|noche)|"
    # नेपाली: 「राति सूचना नपठाउनुहोस्」.
    r"(राति|रातमा)[^।]{0,15}?(सूचना|म्यासेज|सन्देश)[^।]{0,10}?(नपठाउ|बन्द|नचाहिने|पर्दैन|रोक)"
)
# The quiet-hours question's choice for "no missing-person alerts at night either".
NO_NIGHT = "no_night"


def contact_endpoints(ctx: TurnContext) -> list[EndpointSpec]:
    """The endpoints this chat may stand for: itself, and on the phone the caller's SMS number."""
    user_id = ctx.contact.channel_user_id
    endpoints = [EndpointSpec(ctx.channel, user_id)]
    if ctx.channel == "voice":
        endpoints.append(EndpointSpec("sms", user_id))
    return endpoints


def _town_label(ctx: TurnContext, town_id: str | None) -> str:
    if not town_id:
        return ctx.t("utter_unknown_label")
    return place_label(resolve_town_id(ctx.session, town_id), None, town_id)


def _forget_exact_point(ctx: TurnContext, town_point: tuple[float, float] | None) -> None:
    """Replace the location stored with this turn's inbound message by the town's centroid,
    or drop it (``town_point`` None); the address (street, 丁目) is never kept."""
    inbound = ctx.session.scalar(
        select(Message).where(Message.contact_id == ctx.contact.id, Message.direction == MessageDirection.inbound)
        .order_by(Message.id.desc()).limit(1)
    )
    if inbound is not None and inbound.payload:
        kept = {key: value for key, value in inbound.payload.items()
                if key not in ("address", "latitude", "longitude")}
        if town_point is not None:
            kept |= {"latitude": town_point[0], "longitude": town_point[1]}
        inbound.payload = kept or None


class RegisterHelperFlow(FormFlow):
    name = "register_helper"
    intents = ("register_helper",)
    form = "cooperator_form"
    questions = QUESTIONS
    responses = (
        "utter_helper_consent",
        "utter_bad_email",
        "utter_bad_mobile",
        "utter_bad_quiet_hours",
        "utter_helper_need_endpoint",
        "utter_helper_endpoint_chat",
        "utter_helper_endpoint_email",
        "utter_helper_endpoint_sms",
        "utter_helper_confirm",
        "utter_helper_registered",
        "utter_helper_already",
        "utter_helper_reconfirmed",
        "utter_choice_keep_registration",
        "utter_choice_change_registration",
        "utter_choice_unsubscribe",
        "utter_choice_no_night_alerts",
        "utter_cooperator_pledge",
        "utter_helper_night_noted",
        "utter_quiet_night_alerts_on",
        "utter_quiet_night_alerts_off",
        "utter_none_label",
        "utter_unknown_label",
        *REGISTRATION_RESPONSES,
        *OPTIONAL_RESPONSES,
        *PLACE_RESPONSES,
    )

    def start(self, ctx: TurnContext) -> None:
        existing = cooperator_at(ctx.session, contact_endpoints(ctx), active_only=True)
        if existing is not None:
            ctx.set_slot("cooperator_id", existing.id)
            ctx.set_step("existing")
            ctx.ask("utter_helper_already", area=_town_label(ctx, existing.town_id), choices=[
                Choice(ctx.t("utter_choice_keep_registration"), "keep"),
                Choice(ctx.t("utter_choice_change_registration"), "change"),
                Choice(ctx.t("utter_choice_unsubscribe"), "unsubscribe"),
            ])
            return
        self._ask_consent(ctx)

    def _ask_consent(self, ctx: TurnContext) -> None:
        ctx.set_step("consent")
        ask_yes_no(ctx, "utter_helper_consent", CONSENT)

    def resume(self, ctx: TurnContext) -> None:
        step = ctx.step
        if ctx.message.has_location and step != "helper_area":
            # Not asked for (before consent, or at another question): not kept at all.
            _forget_exact_point(ctx, None)
        if NIGHT_WORDS.search(ctx.plain):
            self._no_night_alerts(ctx, step)
            return
        if step == "existing":
            self._existing(ctx)
            return
        if step == "consent":
            on_yes_no(ctx, CONSENT, self._ask_pledge, decline_registration)
            return
        if step == "pledge":
            on_yes_no(ctx, CONSENT, self._next, decline_registration)
            return
        if step == "confirm":
            on_yes_no(ctx, REGISTER, self._register, decline_registration)
            return
        if step == "helper_area":
            if not self._read_area(ctx):
                return
        elif step in ("helper_email", "helper_sms", "quiet_hours") and not self._read_option(ctx, step):
            return
        self._next(ctx)

    def _ask_pledge(self, ctx: TurnContext) -> None:
        ctx.set_step("pledge")
        ask_yes_no(ctx, "utter_cooperator_pledge", CONSENT)

    def _no_night_alerts(self, ctx: TurnContext, step: str | None) -> None:
        """「夜中の通知は止めてほしいです」 in this flow: for someone registered, done at once; during
        sign-up noted — it answers the quiet-hours question, the confirmation is shown again
        with it, any other question is asked again. Never a reason to end the registration."""
        if step == "existing":
            cooperator = stop_night_alerts(ctx.session, contact_endpoints(ctx))
            if cooperator is not None:
                ctx.say("utter_night_alerts_stopped", hours=f"{cooperator.quiet_start}-{cooperator.quiet_end}")
            ctx.finish()
            return
        ctx.set_slot("night_alerts", False)
        if step == "quiet_hours":
            ctx.set_slot("quiet_hours", ctx.slots.get("quiet_hours") or list(NIGHT_HOURS))
            self._next(ctx)
            return
        ctx.say("utter_helper_night_noted")
        if step == "confirm":
            self._confirm(ctx)
        else:
            ctx.repeat_prompt()

    def _existing(self, ctx: TurnContext) -> None:
        if ctx.answer == "keep" or is_yes(ctx.answer):
            cooperator = ctx.session.get(Cooperator, ctx.slots["cooperator_id"])
            if cooperator is not None:
                reconfirm(cooperator, ctx.now)
            ctx.say("utter_helper_reconfirmed")
            ctx.finish()
        elif ctx.answer == "change":
            self._ask_consent(ctx)
        elif ctx.answer == "unsubscribe":
            ctx.switch("unsubscribe")
        else:
            ctx.repeat_prompt()

    def _read_area(self, ctx: TurnContext) -> bool:
        area = read_town(ctx, "utter_ask_helper_area")
        if area is None or area.town is None:
            return False
        record = get_directory(ctx.session).towns[area.town.town_id]
        if ctx.message.has_location:
            _forget_exact_point(ctx, (record.latitude, record.longitude))
        ctx.set_slot("helper_area", {"town_id": area.town.town_id, "label": place_label(area, None, area.town.town)})
        return True

    def _read_option(self, ctx: TurnContext, step: str) -> bool:
        """E-mail, SMS number or quiet hours: a value, or "none"; a bad value asks again."""
        if step == "quiet_hours" and ctx.answer == NO_NIGHT:
            ctx.set_slot("night_alerts", False)
            ctx.set_slot(step, list(NIGHT_HOURS))
            return True
        if answered_none(ctx):
            ctx.set_slot(step, None)
            return True
        if step == "helper_email":
            value, problem = parse_email(ctx.text), "utter_bad_email"
        elif step == "helper_sms":
            # On the phone 「この電話番号に」 is the mobile the caller is calling from.
            caller = caller_phone(ctx)
            said = caller if caller and says_this_number(ctx) else ctx.text
            value, problem = parse_mobile(said), "utter_bad_mobile"
        else:
            value, problem = parse_quiet_hours(ctx.text), "utter_bad_quiet_hours"
        if value is None:
            ctx.say(problem)
            ctx.repeat_prompt()
            return False
        ctx.set_slot(step, list(value) if isinstance(value, tuple) else value)
        return True

    def _endpoints(self, ctx: TurnContext) -> list[EndpointSpec]:
        endpoints = []
        if ctx.channel in PUSH_CHANNELS:
            endpoints.append(EndpointSpec(ctx.channel, ctx.contact.channel_user_id))
        if ctx.slots.get("helper_email"):
            endpoints.append(EndpointSpec("email", ctx.slots["helper_email"]))
        if ctx.slots.get("helper_sms"):
            endpoints.append(EndpointSpec("sms", ctx.slots["helper_sms"]))
        return endpoints

    def _next(self, ctx: TurnContext) -> None:
        if "helper_sms" in ctx.slots and not self._endpoints(ctx):
            # Nothing we could push an alert to: ask for an address again.
            ctx.say("utter_helper_need_endpoint")
            ctx.conversation.slots = {k: v for k, v in ctx.slots.items() if k not in ("helper_email", "helper_sms")}
        if not self.ask_next(ctx):
            self._confirm(ctx)

    def ask_slot(self, ctx: TurnContext, slot: str, question: str) -> None:
        if slot == "helper_area":
            ask_place(ctx, question)
        elif slot == "quiet_hours":
            # Missing-person alerts come in quiet hours too: the question says so, and offers the opt-out.
            ctx.ask(question, choices=[Choice(ctx.t("utter_choice_none"), NONE),
                                       Choice(ctx.t("utter_choice_no_night_alerts"), NO_NIGHT)])
        else:
            ask_optional(ctx, question)

    def _describe_endpoint(self, ctx: TurnContext, endpoint: EndpointSpec) -> str:
        if endpoint.channel in PUSH_CHANNELS:
            return ctx.t("utter_helper_endpoint_chat", chat=PUSH_CHANNELS[endpoint.channel])
        return ctx.t(f"utter_helper_endpoint_{endpoint.channel}", address=endpoint.address)

    def _confirm(self, ctx: TurnContext) -> None:
        # 「、」 as Japanese and Chinese write a list.
        separator = "、" if reads_kanji(ctx.lang) else ", "
        ctx.set_step("confirm")
        ask_yes_no(
            ctx,
            "utter_helper_confirm",
            REGISTER,
            area=ctx.slots["helper_area"]["label"],
            channels=separator.join(self._describe_endpoint(ctx, e) for e in self._endpoints(ctx)),
            quiet=self._quiet_label(ctx),
        )

    def _quiet_label(self, ctx: TurnContext) -> str:
        """「22:00-07:00（行方不明のお知らせは届きます）」, or without night alerts 「…（…も止めます）」."""
        quiet = ctx.slots.get("quiet_hours")
        if ctx.slots.get("night_alerts") is False:
            return ctx.t("utter_quiet_night_alerts_off", hours="-".join(quiet or NIGHT_HOURS))
        if not quiet:
            return ctx.t("utter_none_label")
        return ctx.t("utter_quiet_night_alerts_on", hours="-".join(quiet))

    def _register(self, ctx: TurnContext) -> None:
        town_id = ctx.slots["helper_area"]["town_id"]
        record = get_directory(ctx.session).towns[town_id]
        quiet = ctx.slots.get("quiet_hours")
        cooperator = register_cooperator(
            ctx.session,
            endpoints=self._endpoints(ctx),
            town_id=town_id,
            latitude=record.latitude,
            longitude=record.longitude,
            quiet_hours=(quiet[0], quiet[1]) if quiet else None,
            language=ctx.lang,
            night_alerts=ctx.slots.get("night_alerts", True),
            now=ctx.now,
        )
        ctx.say("utter_helper_registered")
        ctx.effect(EffectKind.cooperator_registered, cooperator_id=cooperator.id)
        ctx.finish()


def _other_reading(ctx: TurnContext) -> str | None:
    """The classifier's next most likely intent for this message, if it had one."""
    alternatives = ctx.classification.alternatives if ctx.classification is not None else ()
    return next((intent for intent, _ in alternatives if intent != UnsubscribeFlow.intents[0]), None)


class UnsubscribeFlow(Flow):
    name = "unsubscribe"
    intents = ("unsubscribe",)
    # From any conversation: stopping must never depend on where the resident is.
    interrupts = re.compile(f"{STOP_WORDS.pattern}|{NIGHT_WORDS.pattern}")
    responses = (
        "utter_unsubscribed",
        "utter_unsubscribe_not_registered",
        "utter_unsubscribe_confirm",
        "utter_unsubscribe_kept",
        "utter_night_alerts_stopped",
        *YES_NO.responses,
    )

    def claims(self, ctx: TurnContext) -> bool:
        if NIGHT_WORDS.search(ctx.plain):
            # During sign-up, "no alerts at night" answers the registration (it is not a reason
            # to leave it); from anyone but a cooperator, night words are something else to
            # understand (「夜中に出て行ったきり連絡が止まって」 is a family's report).
            return ctx.conversation.flow != RegisterHelperFlow.name and cooperator_at(
                ctx.session, contact_endpoints(ctx), active_only=True) is not None
        return super().claims(ctx)

    def start(self, ctx: TurnContext) -> None:
        endpoints = contact_endpoints(ctx)
        if NIGHT_WORDS.search(ctx.plain):
            cooperator = stop_night_alerts(ctx.session, endpoints)
            if cooperator is None and (reading := _other_reading(ctx)) is not None:
                # Night words from anyone but a cooperator are something else to understand
                # (see claims): the classifier's next reading of them, a family's report.
                ctx.switch(reading)
                return
            if cooperator is None:
                ctx.say("utter_unsubscribe_not_registered")
            else:
                ctx.say("utter_night_alerts_stopped", hours=f"{cooperator.quiet_start}-{cooperator.quiet_end}")
            ctx.finish()
            return
        if cooperator_at(ctx.session, endpoints, active_only=True) is None:
            ctx.say("utter_unsubscribe_not_registered")
            ctx.finish()
            return
        ctx.set_step("confirm")
        ask_yes_no(ctx, "utter_unsubscribe_confirm")

    def resume(self, ctx: TurnContext) -> None:
        on_yes_no(ctx, YES_NO, self._leave, self._stay)

    def _leave(self, ctx: TurnContext) -> None:
        cooperator = unsubscribe_endpoint(ctx.session, contact_endpoints(ctx))
        if cooperator is None:
            ctx.say("utter_unsubscribe_not_registered")
        else:
            ctx.say("utter_unsubscribed")
            ctx.effect(EffectKind.cooperator_unsubscribed, cooperator_id=cooperator.id)
        ctx.finish()

    def _stay(self, ctx: TurnContext) -> None:
        ctx.say("utter_unsubscribe_kept")
        ctx.finish()
