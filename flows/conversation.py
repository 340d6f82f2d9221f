"""Opening, small talk, cancelling and safety replies: the flows around the real matters.

- the greeting with the main menu, on a follow / a call (``OpeningFlow``) or a "hello";
- silence on the phone repeats the last question, at most ``voice_silence_repeats`` times,
  then says how to call again and ends the call (``SilenceFlow``);
- what a caller can always do on the phone, whatever is being asked (``PhoneLineFlow``):
  hear it again (「もう一度」, ``*``), ask for a moment (「ちょっと待って」「メモします」: a
  pause, then the question slowly), hear 119/110 again (``9``), a person (``0``, the
  engine's), another language (``8`` on the main menu opens the language menu, each language
  said in its own voice; "English please" switches at once); a key no menu offers is said to be so, and
  a spoken menu choice the recogniser was unsure of is asked again once;
- on the phone a turn never ends in dead air (:func:`finish_phone_turn`): a turn that told
  something without asking ends with 「他にご用件はありますか」 (1 / 2), and only a no to it or
  an explicit goodbye (「さようなら」「切ります」) ends the call; 「わかりました」「ありがとう」
  "okay" are acknowledgements, answered with that question, never a hang-up;
- ways out of any flow (stop, start again, correct, found) are ``flows.ways_out``;
- goodbye, out of scope, the model's emergency;
- the safety layer's words, said before anything else: 119/110 guidance (what to do
  first depends on the situation: get out of a fire, air a gas leak), the crisis lines,
  and for a welfare risk (no answer at the door for days) the police's welfare check
  (``safety_guidance``).

The main menu is the same on every channel and in every menu of a call; on the phone it is
spoken with its keys. What every key means is data in one place, ``MENU`` and ``PHONE_KEYS``
below (docs/phone.md's call tree is drawn from them): a menu's own choices are 1-8, and
0 (a person), 9 (119/110), ``*`` (again) mean the same in every menu.
"""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy import select

from bot.messages import Choice, EffectKind, Reply
from bot.models import Message, MessageDirection
from bot.settings import settings
from flows.ask_where import hotlines_text
from flows.base import PROMPT_SLOT, Flow, TurnContext, intent_button, is_no, is_yes
from flows.followup import FOLLOWUP, add_urgent_words
from flows.steps import guidance_words, note_guidance
from flows.worry import WorryFlow
from intents.safety import SafetySignal, safety_matter
from routing.counters import choose_counter

__all__ = [
    "LANGUAGE_KEY",
    "LANGUAGE_MENU",
    "LANGUAGE_OFFER",
    "MENU",
    "MENU_RESPONSES",
    "PHONE_KEYS",
    "SAFETY_RESPONSES",
    "EmergencyFlow",
    "GoodbyeFlow",
    "GreetFlow",
    "OpeningFlow",
    "OutOfScopeFlow",
    "PhoneLineFlow",
    "SilenceFlow",
    "ask_languages",
    "ask_menu",
    "finish_phone_turn",
    "safety_guidance",
]

VOICE = "voice"
# ---------------------------------------------------------------- every key of the phone, in one place
# The main menu, the same on every channel and in every menu of a call: (intent the button
# starts, response with its title, phone key). A menu's own choices use the keys 1-8.
MENU = (
    ("ask_where", "utter_choice_ask_where", "1"),
    ("report_worry", "utter_choice_report_worry", "2"),
    ("report_missing", "utter_choice_report_missing", "3"),
    ("register_helper", "utter_choice_register_helper", "4"),
    ("register_person", "utter_choice_register_person", "5"),
    ("talk_to_human", "utter_choice_talk_to_human", "0"),
)
# Keys that mean the same in every menu of a call (never a menu's own choice): what each does.
STAFF_KEY, EMERGENCY_KEY, REPEAT_KEY = "0", "9", "*"
PHONE_KEYS = {
    STAFF_KEY: "a person (flows.handoff; the engine maps a lone 0 to it)",
    EMERGENCY_KEY: "119/110 guidance again, then the open question again",
    REPEAT_KEY: "what was just said and the open question again",
}
# The main menu's key for the language menu, said in English in a Japanese call ("For English
# and other languages, press 8"), else in the call's language.
LANGUAGE_KEY = "8"
LANGUAGE_OFFER = "utter_offer_languages"
LANGUAGE_MENU_PROMPT = "utter_language_menu"
# The language menu: (language, key, its name in itself), each said in its own language and
# voice (channels.voice), so a caller hears their language whatever the call's. Nepali has no
# Twilio voice: a Nepali caller takes English (docs/phone.md). 9, 0 and * keep their meaning.
LANGUAGE_MENU = (
    ("ja", "1", "日本語"), ("en", "2", "English"), ("zh", "3", "中文"), ("ko", "4", "한국어"),
    ("vi", "5", "Tiếng Việt"), ("tl", "6", "Tagalog"), ("pt", "7", "Português"), ("es", "8", "Español"),
)
_LANGUAGE_WORDS = {
    "en": re.compile(r"\A(?:english|in english|english please|イングリッシュ|英語)(?:で)?(?:\s*(?:お願いします|please))?\Z"),
    "ja": re.compile(r"\A(?:japanese|in japanese|日本語|にほんご)(?:で)?(?:\s*(?:お願いします|please))?\Z"),
}
_LANGUAGE_PAYLOAD = "language:"
_LANGUAGES_PAYLOAD = f"{_LANGUAGE_PAYLOAD}menu"  # key 8: the language menu, not a language
# The question that ends a task on the phone, and its two answers.
MORE_PROMPT = "utter_phone_anything_else"
_MORE_PAYLOAD = "more:"
_MORE_YES, _MORE_NO = f"{_MORE_PAYLOAD}yes", f"{_MORE_PAYLOAD}no"
_MORE_CHOICES = (("utter_choice_more_yes", _MORE_YES, "1"), ("utter_choice_more_no", _MORE_NO, "2"))

# What a caller says instead of a key: the whole message, fillers and politeness around it.
_LEAD = r"(?:(?:えーと|えっと|あの|あのー|すみません|すいません|ごめんなさい|はい|あ|え)\s*)*"
_POLITE = r"(?:\s*(?:ください|下さい|くれる|くれ|もらえますか|もらえる|いただけますか|お願いします|おねがいします|ね|か|な|よ))*"
REPEAT_WORDS = re.compile(
    rf"\A{_LEAD}(?:もう|も)\s*(?:一度|いちど|一回|いっかい|1回|1度)\s*(?:言って|いって|お願い|おねがい|聞かせて|きかせて|"
    rf"教えて|おしえて|言って頂け|聞きたい|ききたい)?\s*{_POLITE}\s*\Z"
    r"|\A(?:(?:say|repeat) (?:that|it) again|again|repeat|pardon|sorry\??|what was that|one more time)"
    r"(?: please)?\Z")
WAIT_WORDS = re.compile(
    rf"\A{_LEAD}(?:ちょっと|ちょっと\s*だけ|少し|すこし|しばらく)?\s*(?:待って|まって|お待ち)\s*(?:ください|下さい|くれ|ね)?"
    rf"(?:\s*(?:メモ|めも)(?:します|する|を取ります|をとります|とります|取ります))?\s*{_POLITE}\s*\Z"
    rf"|\A{_LEAD}(?:ちょっと\s*)?(?:メモ|めも)\s*(?:しますので|しますから|します|する|を取ります|をとります|取ります|とります|を取るので|するので)"
    rf"(?:\s*(?:待って|まって)\s*(?:ください|下さい)?)?{_POLITE}\s*\Z"
    r"|\A(?:(?:wait(?: a (?:moment|minute|second))?|hold on|one moment|just a moment|a moment)(?: please)?(?: i'?m writing (?:it|this) down)?"
    r"|let me write (?:it|that|this) down)\Z")
# An explicit goodbye: the only words that end a call (besides a no to 「他にご用件は」).
GOODBYE_WORDS = re.compile(
    r"\A(?:(?:はい|では|じゃあ|それでは)\s*)?(?:さようなら|さよなら|切ります|きります|電話を切ります|失礼します|失礼いたします)"
    r"(?:\s*(?:ね|どうも|ありがとう(?:ございました)?))*\s*\Z"
    r"|\A(?:はい\s*)?(?:もう|もう\s*これで)\s*(?:大丈夫|結構|いい)(?:です)?\s*(?:ありがとう|どうも)(?:ございました|ございます)?\s*\Z"
    r"|\A(?:(?:ok|okay|thanks|thank you)\s*)?(?:good ?bye|bye|that'?s all)(?: thank you| thanks)?\s*\Z")
# Acknowledgements and thanks: never a goodbye on the phone.
ACKNOWLEDGEMENTS = re.compile(
    r"\A(?:(?:はい|ええ|うん|あ)\s*)*(?:わかりました|分かりました|わかった|了解(?:です|しました)?|そうです|そうですか|"
    r"結構です|けっこうです|ありがとう(?:ございます|ございました)?|どうも(?:ありがとう(?:ございます)?)?|はい|ええ)"
    r"(?:\s*(?:ありがとう(?:ございます|ございました)?|です|ね))*\s*\Z"
    r"|\A(?:ok|okay|all right|alright|i see|right|thanks|thank you|thank you very much|got it)(?: thanks| thank you)?\s*\Z")

MENU_RESPONSES = ("utter_menu", *(response for _, response, _ in MENU), LANGUAGE_OFFER, LANGUAGE_MENU_PROMPT)
# The first reply to an emergency, by the lexicon group's situation; else by its number.
_SITUATION_RESPONSES = {
    "fire": "utter_emergency_fire", "gas": "utter_emergency_gas", "attempt": "utter_emergency_attempt",
    # The safety model or the safety question: which number is not known, so both.
    "unspecified": "utter_emergency_unspecified",
}
# The flows a welfare sign said in their midst belongs to: after the guidance the flow reads
# the words as it reads any answer (what was noticed, one more detail of the report), so
# nothing the resident said is lost. The case just made takes them with the call advised
# (:func:`flows.followup.add_urgent_words`).
_READ_AFTER_WELFARE_GUIDANCE = {flow.name: flow for flow in (WorryFlow(),)}
SAFETY_RESPONSES = ("utter_emergency_119", "utter_emergency_110", *_SITUATION_RESPONSES.values(), "utter_crisis",
                    "utter_welfare_check", "utter_after_emergency_resume", "utter_after_crisis_resume",
                    "utter_emergency_numbers")


def ask_menu(ctx: TurnContext, prompt: str = "utter_menu") -> None:
    """Show the main menu (on the phone with its language key too)."""
    choices = [Choice(ctx.t(response), intent_button(intent), digit) for intent, response, digit in MENU]
    if ctx.channel == VOICE:
        choices.append(Choice(ctx.t(LANGUAGE_OFFER), _LANGUAGES_PAYLOAD, LANGUAGE_KEY,
                              language=_choice_language(_LANGUAGES_PAYLOAD, ctx.lang)))
    ctx.ask(prompt, choices=choices)


def ask_languages(ctx: TurnContext) -> None:
    """The phone's language menu: each language by its key, said in itself."""
    ctx.ask(LANGUAGE_MENU_PROMPT, choices=[Choice(name, f"{_LANGUAGE_PAYLOAD}{language}", digit, language=language)
                                           for language, digit, name in LANGUAGE_MENU])


def _choice_language(payload: str, call_language: str) -> str:
    """The language a language choice is said in: a language in its own; the key to the menu
    in English in a Japanese call (its Japanese variation is English), else in the call's."""
    if payload == _LANGUAGES_PAYLOAD:
        return "en" if call_language == "ja" else call_language
    return payload.removeprefix(_LANGUAGE_PAYLOAD)


def ask_more(ctx: TurnContext) -> None:
    """「他にご用件はありますか。ある場合は1、ない場合は2」: the phone's question after a task."""
    ctx.ask(MORE_PROMPT, choices=[Choice(ctx.t(title), payload, digit) for title, payload, digit in _MORE_CHOICES])


def _mark_prompt(ctx: TurnContext, **marks: object) -> None:
    """Keep ``marks`` with the open question (forgotten as soon as another question is asked)."""
    prompt = ctx.slots.get(PROMPT_SLOT)
    if prompt is not None:
        ctx.set_slot(PROMPT_SLOT, {**prompt, **marks})


def _ask_again(ctx: TurnContext, *, retell: bool = True) -> None:
    """The open question again (the menu when none), after what the turn that asked it told
    (a counter and its number) when ``retell``; what it told stays for another repeat."""
    prompt = ctx.slots.get(PROMPT_SLOT) or {}
    told = prompt.get("told") or []
    if retell:
        ctx.replies.extend(Reply(text, response=response, urgent=urgent) for response, text, urgent in told)
    if not ctx.repeat_prompt():
        ask_menu(ctx)
        if not ctx.conversation.flow:
            ctx.finish(keep_prompt=True)
    _mark_prompt(ctx, told=told)


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
    """The caller said nothing: ask the last question again (or show the menu); the flow goes
    on. After ``voice_silence_repeats`` silent turns in a row, say how to call again and end."""

    name = "silence"
    events = ("silence",)
    takes_over = False
    responses = (*MENU_RESPONSES, "utter_silence_goodbye")

    def start(self, ctx: TurnContext) -> None:
        if _silent_turns(ctx) > settings.voice_silence_repeats:
            ctx.say("utter_silence_goodbye", end=True)
            ctx.finish()
            return
        # After a task what was told is the point (119 guidance, a counter's number): said again too.
        prompt = ctx.slots.get(PROMPT_SLOT) or {}
        _ask_again(ctx, retell=prompt.get("name") == MORE_PROMPT)


def _silent_turns(ctx: TurnContext) -> int:
    """How many of the conversation's last inbound events, this one included, were silences."""
    # This one is joined to the conversation only at the end of the turn (bot.engine).
    earlier = ctx.session.scalars(
        select(Message.kind).where(Message.conversation_id == ctx.conversation.id,
                                   Message.direction == MessageDirection.inbound)
        .order_by(Message.id.desc()).limit(settings.voice_silence_repeats + 1))
    count = 0
    for kind in [ctx.message.event, *earlier]:
        if kind != "silence":
            break
        count += 1
    return count


class PhoneLineFlow(Flow):
    """What a caller can always do, whatever is being asked (see the module's list).

    An interrupt beside the active flow, which goes on: the question in progress is asked
    again after each of these, nothing the caller answered is lost.
    """

    name = "phone_line"
    takes_over = False
    postback_prefix = _LANGUAGE_PAYLOAD
    responses = ("utter_phone_wait", "utter_emergency_numbers", "utter_key_not_on_menu", "utter_not_sure_heard",
                 "utter_phone_acknowledged", "utter_goodbye", MORE_PROMPT, *(title for title, _, _ in _MORE_CHOICES),
                 *MENU_RESPONSES)

    def claims(self, ctx: TurnContext) -> bool:
        return self._action(ctx) is not None

    def _action(self, ctx: TurnContext) -> str | None:
        if ctx.message.event != "message":
            return None
        if ctx.answer.startswith(_LANGUAGE_PAYLOAD):
            return "language"
        if ctx.answer.startswith(_MORE_PAYLOAD):
            return ctx.answer
        if ctx.channel != VOICE or not ctx.text:
            return None
        prompt = ctx.slots.get(PROMPT_SLOT) or {}
        if any(words.match(ctx.plain) for words in _LANGUAGE_WORDS.values()):
            return "language"
        if ctx.message.metadata.get("input") == "dtmf":
            if ctx.text == REPEAT_KEY:
                return "repeat"
            if ctx.text == EMERGENCY_KEY:
                return "emergency"
            # A single key that is none of the open menu's (the engine matched the choices first).
            unmatched = ctx.answer == ctx.text and len(ctx.text) == 1 and ctx.text != STAFF_KEY
            return "not_on_menu" if unmatched and prompt.get("choices") else None
        plain = ctx.plain
        if REPEAT_WORDS.match(plain):
            return "repeat"
        if WAIT_WORDS.match(plain):
            return "wait"
        at_rest = ctx.conversation.flow in (None, FOLLOWUP)  # no form in progress: a task is done or not begun
        if at_rest and prompt.get("name") == MORE_PROMPT and (is_yes(ctx.text) or is_no(ctx.text)):
            return _MORE_YES if is_yes(ctx.text) and not is_no(ctx.text) else _MORE_NO
        if at_rest and GOODBYE_WORDS.match(plain):
            return _MORE_NO
        if at_rest and ACKNOWLEDGEMENTS.match(plain):
            return "acknowledged"
        confidence = ctx.message.speech_confidence
        if (confidence is not None and confidence < settings.voice_min_confidence and prompt.get("choices")
                and not prompt.get("reasked")):
            return "unsure"
        return None

    def start(self, ctx: TurnContext) -> None:
        action = self._action(ctx)
        if action == "language":
            named = [language for language, words in _LANGUAGE_WORDS.items() if words.match(ctx.plain)]
            if not named and ctx.answer == _LANGUAGES_PAYLOAD:
                ask_languages(ctx)
                if not ctx.conversation.flow:
                    ctx.finish(keep_prompt=True)
            else:
                self._switch_language(ctx, ctx.answer.removeprefix(_LANGUAGE_PAYLOAD) if not named else named[0])
        elif action == _MORE_YES:
            ctx.finish()
            ask_menu(ctx)
            ctx.finish(keep_prompt=True)
        elif action == _MORE_NO:
            ctx.say("utter_goodbye", end=True)
            ctx.finish()
        elif action == "acknowledged":
            ctx.say("utter_phone_acknowledged")
            ask_more(ctx)
        elif action == "wait":
            ctx.say("utter_phone_wait")
            said = len(ctx.replies)
            _ask_again(ctx)
            # A pause, then slowly: the channel's way of saying it (<Pause>, a slower voice).
            ctx.replies[said:] = [replace(reply, slow=True) for reply in ctx.replies[said:]]
        elif action == "emergency":
            ctx.say("utter_emergency_numbers", urgent=True)
            ctx.effect(EffectKind.emergency_guidance, service="119")
            _ask_again(ctx, retell=False)
        elif action == "not_on_menu":
            ctx.say("utter_key_not_on_menu", key=ctx.text)
            _ask_again(ctx, retell=False)
        elif action == "unsure":
            ctx.say("utter_not_sure_heard")
            _ask_again(ctx, retell=False)
            _mark_prompt(ctx, reasked=True)
        else:
            _ask_again(ctx)

    @staticmethod
    def _switch_language(ctx: TurnContext, language: str) -> None:
        ctx.conversation.language = ctx.contact.language = language
        if ctx.conversation.flow:
            ctx.repeat_prompt()
        else:
            ask_menu(ctx)
            ctx.finish(keep_prompt=True)


def finish_phone_turn(ctx: TurnContext) -> None:
    """On the phone, end every turn that neither hangs up, dials, records nor asks with
    「他にご用件はありますか」 (1 / 2), and keep what a question's turn told before it, to say
    again on 「もう一度」.

    Called by the engine after every turn; nothing happens on other channels.
    """
    if ctx.channel != VOICE or not ctx.replies:
        return
    if any(reply.end or reply.record or (reply.handoff and reply.handoff.open_now) for reply in ctx.replies):
        return
    prompt = ctx.slots.get(PROMPT_SLOT)
    if prompt is None or ctx.replies[-1].response != prompt["name"]:
        if ctx.replies[-1].response == "utter_anything_else":
            ctx.replies.pop()  # said by the flow as a sentence: asked here with its keys instead
        ask_more(ctx)
        prompt = ctx.slots[PROMPT_SLOT]
    if "told" not in prompt:
        # Asked this turn (a repeat keeps what the asking turn told): what came before it is
        # said again with it on 「もう一度」 — a counter's number, the 119 guidance.
        _mark_prompt(ctx, told=[[reply.response, reply.text, reply.urgent] for reply in ctx.replies[:-1]])
    # A question asked again from what was kept of it has lost which choice is in which language.
    asked = ctx.replies[-1]
    ctx.replies[-1] = replace(asked, choices=tuple(
        replace(choice, language=_choice_language(choice.payload, ctx.lang))
        if choice.payload.startswith(_LANGUAGE_PAYLOAD) else choice for choice in asked.choices))


class GoodbyeFlow(Flow):
    """The classifier's goodbye. On the phone only an explicit goodbye ends the call
    (``PhoneLineFlow`` takes those first): anything else it hears as goodbye (「どうも」,
    "okay then") is acknowledged and asked 「他にご用件はありますか」."""

    name = "goodbye"
    intents = ("goodbye",)
    responses = ("utter_goodbye", "utter_phone_acknowledged", MORE_PROMPT)

    def start(self, ctx: TurnContext) -> None:
        if ctx.channel == VOICE:
            ctx.finish()
            ctx.say("utter_phone_acknowledged")
            ask_more(ctx)
            return
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


# The reports whose case tells staff the urgent guidance given while it was told.
_REPORTS = ("report_worry", "report_missing")


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
    # The report's case is told which call was advised (a report being told keeps it for its
    # case; the case just made takes it with the words). Not the resident's own crisis: the
    # case is about the person they report, and its counter needs nothing of the reporter's health.
    given = (signal.service or "119") if signal.kind == "emergency" else signal.kind
    following = signal.kind != "crisis" and ctx.conversation.flow == FOLLOWUP
    if signal.kind != "crisis" and ctx.conversation.flow in (None, *_REPORTS):
        note_guidance(ctx, given)
    if signal.kind == "welfare":
        ctx.say("utter_welfare_check", urgent=True)
        ctx.effect(EffectKind.emergency_guidance, service=signal.service or "110")
        if following:
            add_urgent_words(ctx, guidance_words(given))
            return True
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
            if following:
                add_urgent_words(ctx, guidance_words(given))
            ctx.finish()
        return True
    matter = safety_matter(signal)
    lines = choose_counter(ctx.session, intent=matter.intent, topic=matter.topic, area=None, now=ctx.now).hotlines
    ctx.say("utter_crisis", urgent=True, hotlines=hotlines_text(ctx, lines))
    ctx.effect(EffectKind.crisis_guidance)
    if ctx.conversation.flow:
        # The question that was open stays, but not as if nothing had been said: the resident
        # is told the rest can wait (a neighbour's report is no reason to hurry them now).
        ctx.say("utter_after_crisis_resume")
        ctx.repeat_prompt()
        return True
    return False
