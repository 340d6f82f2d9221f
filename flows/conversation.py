"""Opening, small talk, cancelling and safety replies: the flows around the real matters.

- the greeting with the main menu, on a follow / a call (``OpeningFlow``) or a "hello";
- silence on the phone repeats the last question (``SilenceFlow``);
- ways out of any flow (stop, start again, correct, found) are ``flows.ways_out``;
- goodbye, out of scope, the model's emergency;
- the safety layer's words, said before anything else: 119/110 guidance (what to do
  first depends on the situation: get out of a fire, air a gas leak), the crisis lines,
  and for a welfare risk (no answer at the door for days) the police's welfare check
  (``safety_guidance``).

The main menu is the same on every channel; on the phone it is spoken with its keys
(1 相談先を知りたい / 2 近所の方が心配 / 3 家族が行方不明 / 0 職員と話す).
"""

from __future__ import annotations

from bot.messages import Choice, EffectKind
from flows.ask_where import hotlines_text
from flows.base import Flow, TurnContext, intent_button
from flows.followup import FOLLOWUP, FollowupFlow
from flows.worry import WorryFlow
from intents.safety import SafetySignal, safety_matter
from routing.counters import choose_counter

__all__ = [
    "MENU",
    "MENU_RESPONSES",
    "SAFETY_RESPONSES",
    "EmergencyFlow",
    "GoodbyeFlow",
    "GreetFlow",
    "OpeningFlow",
    "OutOfScopeFlow",
    "SilenceFlow",
    "ask_menu",
    "safety_guidance",
]

# (intent the button starts, response with its title, phone key)
MENU = (
    ("ask_where", "utter_choice_ask_where", "1"),
    ("report_worry", "utter_choice_report_worry", "2"),
    ("report_missing", "utter_choice_report_missing", "3"),
    ("talk_to_human", "utter_choice_talk_to_human", "0"),
)
MENU_RESPONSES = ("utter_menu", *(response for _, response, _ in MENU))
# The first reply to an emergency, by the lexicon group's situation; else by its number.
_SITUATION_RESPONSES = {
    "fire": "utter_emergency_fire", "gas": "utter_emergency_gas", "attempt": "utter_emergency_attempt",
}
# The flows a welfare sign said in their midst belongs to: after the guidance the flow reads
# the words as it reads any answer (what was noticed, one more detail of the report, a
# detail of the case just made), so nothing the resident said is lost.
_READ_AFTER_WELFARE_GUIDANCE = {flow.name: flow for flow in (WorryFlow(), FollowupFlow())}
SAFETY_RESPONSES = ("utter_emergency_119", "utter_emergency_110", *_SITUATION_RESPONSES.values(), "utter_crisis",
                    "utter_welfare_check", "utter_after_emergency_resume")


def ask_menu(ctx: TurnContext, prompt: str = "utter_menu") -> None:
    ctx.ask(prompt, choices=[Choice(ctx.t(response), intent_button(intent), digit)
                             for intent, response, digit in MENU])


class GreetFlow(Flow):
    name = "greet"
    intents = ("greet",)
    responses = ("utter_greet", *MENU_RESPONSES)

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_greet")
        ask_menu(ctx)
        ctx.finish(keep_prompt=True)


class OpeningFlow(GreetFlow):
    """A new follower (LINE follow, Telegram /start, the web chat page) or a call: greeting and menu."""

    name = "opening"
    intents = ()
    events = ("follow", "call_start")


class SilenceFlow(Flow):
    """The caller said nothing: ask the last question again (or show the menu); the flow goes on."""

    name = "silence"
    events = ("silence",)
    takes_over = False
    responses = MENU_RESPONSES

    def start(self, ctx: TurnContext) -> None:
        if not ctx.repeat_prompt():
            ask_menu(ctx)


class GoodbyeFlow(Flow):
    name = "goodbye"
    intents = ("goodbye",)
    responses = ("utter_goodbye",)

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_goodbye", end=True)
        ctx.finish()


class OutOfScopeFlow(Flow):
    name = "out_of_scope"
    intents = ("out_of_scope",)
    responses = ("utter_out_of_scope", *MENU_RESPONSES)

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_out_of_scope")
        ask_menu(ctx)
        ctx.finish(keep_prompt=True)


class EmergencyFlow(Flow):
    """The model's emergency (the lexicon already answers most): 119 guidance, nothing else."""

    name = "emergency"
    intents = ("emergency",)
    responses = ("utter_emergency_119",)

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_emergency_119", urgent=True)
        ctx.finish()


def safety_guidance(ctx: TurnContext, signal: SafetySignal) -> bool:
    """Say the safety layer's guidance before anything else.

    An emergency: 119 (or 110) at once, with what to do first for its situation (out of
    the building for a fire); a flow in progress keeps what the resident told it and asks
    its question again once they are safe. Suicidal ideation: the crisis lines at once; a
    flow in progress asks its question again. A welfare risk (someone may be lying inside):
    ask the police, 110, to check on them, 119 if they can be seen collapsed; then the
    worry report starts, or the report in progress (or the case just made) takes the words,
    or another flow asks its question again.

    Returns:
        True when nothing else follows this turn; False when the signal's matter
        (:func:`intents.safety.safety_matter`: the ward's こころの相談, the worry report)
        should start now.
    """
    if signal.kind == "welfare":
        ctx.say("utter_welfare_check", urgent=True)
        ctx.effect(EffectKind.emergency_guidance, service=signal.service or "110")
        if not ctx.conversation.flow:
            return False
        reader = _READ_AFTER_WELFARE_GUIDANCE.get(ctx.conversation.flow)
        if reader is not None:
            reader.resume(ctx)
        else:
            # Another form goes on: its open question again.
            ctx.repeat_prompt()
        return True
    if signal.kind == "emergency":
        fallback = "utter_emergency_110" if signal.service == "110" else "utter_emergency_119"
        ctx.say(_SITUATION_RESPONSES.get(signal.situation or "", fallback), urgent=True)
        ctx.effect(EffectKind.emergency_guidance, service=signal.service or "119")
        # A flow in progress asks its question again once they are safe (a message being left
        # waits for it); following a case just ends.
        if ctx.conversation.flow and ctx.conversation.flow != FOLLOWUP:
            ctx.say("utter_after_emergency_resume")
            ctx.repeat_prompt()
        else:
            ctx.finish()
        return True
    matter = safety_matter(signal)
    lines = choose_counter(ctx.session, intent=matter.intent, topic=matter.topic, area=None, now=ctx.now).hotlines
    ctx.say("utter_crisis", urgent=True, hotlines=hotlines_text(ctx, lines))
    ctx.effect(EffectKind.crisis_guidance)
    if ctx.conversation.flow:
        ctx.repeat_prompt()
        return True
    return False
