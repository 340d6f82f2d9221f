"""register_helper and unsubscribe: become a 協力者 of the missing-person alert network, or stop.

register_helper (cooperator_form in domain.yml): the consent text, the area of activity
(a town by the shared place question, or a location that is kept only as its town's
centroid — the exact point is dropped, even from the stored message), then how to be
reached: this chat automatically when alerts can be pushed to it (LINE, Telegram),
optionally an e-mail address and an SMS number; then quiet hours, a confirmation, and
the registration (re-confirmation due in a year). Someone already registered is offered
to continue as before (the yearly re-confirmation), to change the registration, or to stop.

unsubscribe: one message stops everything for the cooperator behind this chat.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from alerts.cooperators import (
    PUSH_CHANNELS,
    EndpointSpec,
    cooperator_at,
    parse_email,
    parse_mobile,
    parse_quiet_hours,
    reconfirm,
    register_cooperator,
    unsubscribe_endpoint,
)
from bot.messages import Choice, EffectKind
from bot.models import Cooperator, Message, MessageDirection
from flows.base import Flow, FormFlow, TurnContext, is_yes
from flows.place_question import PLACE_RESPONSES, ask_place, place_label
from flows.steps import (
    CONSENT,
    OPTIONAL_RESPONSES,
    REGISTER,
    REGISTRATION_RESPONSES,
    answered_none,
    ask_optional,
    ask_yes_no,
    decline_registration,
    on_yes_no,
    read_town,
)
from routing.areas import resolve_town_id
from routing.snapshot import get_directory

__all__ = ["RegisterHelperFlow", "UnsubscribeFlow", "contact_endpoints"]

# The order of cooperator_form's required slots in domain.yml.
QUESTIONS = {
    "helper_area": "utter_ask_helper_area",
    "helper_email": "utter_ask_helper_email",
    "helper_sms": "utter_ask_helper_sms",
    "quiet_hours": "utter_ask_quiet_hours",
}
# 「配信を停止して」「お知らせはもういらない」「stop alerts」 (matched on NFKC-folded, lower-cased text).
STOP_WORDS = re.compile(
    r"配信(を|は)?(停止|止め|とめ|やめ|中止|解除|いらない|不要)|"
    r"(通知|お知らせ|見守りメール)(を|は)?(もう)?(停止|止め|とめ|やめ|いらない|不要)|"
    r"協力者(の|を)?(登録)?(を)?(解除|やめ|辞め|退会)|"
    r"stop (the )?alerts|unsubscribe"
)


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


def _forget_exact_point(ctx: TurnContext, latitude: float, longitude: float) -> None:
    """Replace the coordinates stored with this turn's inbound message by the town's centroid."""
    inbound = ctx.session.scalar(
        select(Message).where(Message.contact_id == ctx.contact.id, Message.direction == MessageDirection.inbound)
        .order_by(Message.id.desc()).limit(1)
    )
    if inbound is not None and inbound.payload:
        kept = {key: value for key, value in inbound.payload.items() if key != "address"}
        inbound.payload = {**kept, "latitude": latitude, "longitude": longitude}


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
        if step == "existing":
            self._existing(ctx)
            return
        if step == "consent":
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
            _forget_exact_point(ctx, record.latitude, record.longitude)
        ctx.set_slot("helper_area", {"town_id": area.town.town_id, "label": place_label(area, None, area.town.town)})
        return True

    def _read_option(self, ctx: TurnContext, step: str) -> bool:
        """E-mail, SMS number or quiet hours: a value, or "none"; a bad value asks again."""
        if answered_none(ctx):
            ctx.set_slot(step, None)
            return True
        if step == "helper_email":
            value, problem = parse_email(ctx.text), "utter_bad_email"
        elif step == "helper_sms":
            value, problem = parse_mobile(ctx.text), "utter_bad_mobile"
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
        else:
            ask_optional(ctx, question)

    def _describe_endpoint(self, ctx: TurnContext, endpoint: EndpointSpec) -> str:
        if endpoint.channel in PUSH_CHANNELS:
            return ctx.t("utter_helper_endpoint_chat", chat=PUSH_CHANNELS[endpoint.channel])
        return ctx.t(f"utter_helper_endpoint_{endpoint.channel}", address=endpoint.address)

    def _confirm(self, ctx: TurnContext) -> None:
        separator = ", " if ctx.lang == "en" else "、"
        quiet = ctx.slots.get("quiet_hours")
        ctx.set_step("confirm")
        ask_yes_no(
            ctx,
            "utter_helper_confirm",
            REGISTER,
            area=ctx.slots["helper_area"]["label"],
            channels=separator.join(self._describe_endpoint(ctx, e) for e in self._endpoints(ctx)),
            quiet="-".join(quiet) if quiet else ctx.t("utter_none_label"),
        )

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
            now=ctx.now,
        )
        ctx.say("utter_helper_registered")
        ctx.effect(EffectKind.cooperator_registered, cooperator_id=cooperator.id)
        ctx.finish()


class UnsubscribeFlow(Flow):
    name = "unsubscribe"
    intents = ("unsubscribe",)
    # One message stops everything, even in the middle of another conversation.
    interrupts = STOP_WORDS
    responses = ("utter_unsubscribed", "utter_unsubscribe_not_registered")

    def start(self, ctx: TurnContext) -> None:
        cooperator = unsubscribe_endpoint(ctx.session, contact_endpoints(ctx))
        if cooperator is None:
            ctx.say("utter_unsubscribe_not_registered")
        else:
            ctx.say("utter_unsubscribed")
            ctx.effect(EffectKind.cooperator_unsubscribed, cooperator_id=cooperator.id)
        ctx.finish()
