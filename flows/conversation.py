"""Small talk and safety replies: greet (with the main menu), goodbye, out_of_scope, emergency.

The main menu is the same on every channel; on the phone it is spoken with its keys
(1 相談先を知りたい / 2 近所の方が心配 / 3 家族が行方不明 / 0 職員と話す).
"""

from __future__ import annotations

from bot.messages import Choice
from flows.base import Flow, TurnContext, register

__all__ = ["GreetFlow", "GoodbyeFlow", "OutOfScopeFlow", "EmergencyFlow", "ask_menu", "MENU"]

# (intent the button starts, response with its title, phone key)
MENU = (
    ("ask_where", "utter_choice_ask_where", "1"),
    ("report_worry", "utter_choice_report_worry", "2"),
    ("report_missing", "utter_choice_report_missing", "3"),
    ("talk_to_human", "utter_choice_talk_to_human", "0"),
)
MENU_RESPONSES = ("utter_menu", *(response for _, response, _ in MENU))


def ask_menu(ctx: TurnContext, prompt: str = "utter_menu") -> None:
    ctx.ask(prompt, choices=[Choice(ctx.t(response), f"intent:{intent}", digit) for intent, response, digit in MENU])


@register
class GreetFlow(Flow):
    name = "greet"
    intents = ("greet",)
    responses = ("utter_greet", *MENU_RESPONSES)

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_greet")
        ask_menu(ctx)
        ctx.finish(keep_prompt=True)


@register
class GoodbyeFlow(Flow):
    name = "goodbye"
    intents = ("goodbye",)
    responses = ("utter_goodbye",)

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_goodbye", end=True)
        ctx.finish()


@register
class OutOfScopeFlow(Flow):
    name = "out_of_scope"
    intents = ("out_of_scope",)
    responses = ("utter_out_of_scope", *MENU_RESPONSES)

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_out_of_scope")
        ask_menu(ctx)
        ctx.finish(keep_prompt=True)


@register
class EmergencyFlow(Flow):
    """The model's emergency (the lexicon already answers most): 119 guidance, nothing else."""

    name = "emergency"
    intents = ("emergency",)
    responses = ("utter_emergency_119", "utter_emergency_110")

    def start(self, ctx: TurnContext) -> None:
        ctx.say("utter_emergency_119", urgent=True)
        ctx.finish()
