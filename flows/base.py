"""What every flow is built from: the turn context and the flow base classes.

A flow is a small state machine over one conversation: ``start`` runs on the message
that chose it, ``resume`` on each later message while it is active. Flows talk only
through ``TurnContext`` (say / ask / finish / switch), never to a platform SDK, and
find every sentence in domain.yml by response name. ``flows.registry`` lists the flows
the engine runs; the engine starts a flow when the classifier names one of its
``intents``, or whatever flow is active when the flow ``claims`` the message (an event,
its button, a payload prefix or its interrupt words).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from bot.domain import EASY, Domain, DomainError
from bot.messages import Choice, Effect, EffectKind, Handoff, InboundEvent, InboundMessage, Reply
from bot.models import Contact, Conversation
from flows.report_words import about_a_neighbour
from intents.classification import Classification, IntentClassifier
from intents.exits import is_with_the_person, named_item, says_not_missing
from intents.normalize import fold_for_matching
from intents.safety import SafetySignal

__all__ = [
    "CORRECTION_PREFIX",
    "CORRECTION_STEP",
    "INTENT_BUTTON",
    "NOT_A_MATTER",
    "RESTART",
    "Flow",
    "FormFlow",
    "TurnContext",
    "check_forms",
    "intent_button",
    "is_bare_no",
    "is_bare_yes",
    "is_no",
    "is_yes",
    "required_responses",
]

# The intent a resident can deny in the same words that name it (「行方不明じゃないです」).
_MISSING_INTENT = "report_missing"
# Slot keys the engine keeps for itself (prompt to repeat, choices to match digits against).
PROMPT_SLOT = "_prompt"
# The label of the "send my location" button a question asking for a place carries.
LOCATION_BUTTON = "utter_location_button_label"
CHOICES_SLOT = "_choices"
# Kept while the conversation lasts, whatever flow ends: the language whose missing
# translations the resident was told about (said once, not on every reply).
UNTRANSLATED_SLOT = "_untranslated_told"
CONVERSATION_SLOTS = (UNTRANSLATED_SLOT,)
# A button payload naming an intent or a flow ("intent:report_worry") starts that flow
# from anywhere: the main menu, a clarifying question.
INTENT_BUTTON = "intent:"
# Going back to change an answer (flows.ways_out): the step that asks which answer, and
# the payload prefix of its buttons ("correct:where").
CORRECTION_STEP = "_correct"
CORRECTION_PREFIX = "correct:"
# ``TurnContext.answer`` of a message that asked to start again: a command, not the
# resident's words for the restarted flow's first question.
RESTART = "restart"
# Intents that start no matter of their own, so a reply read as one is no new request: the
# classifier reads a bare 「北区」 as a greeting and 「東京都の渋谷区です」 as out_of_scope.
NOT_A_MATTER = ("greet", "goodbye", "out_of_scope")


def intent_button(intent: str) -> str:
    """The payload of a button that starts the flow for ``intent``."""
    return f"{INTENT_BUTTON}{intent}"


@dataclass
class TurnContext:
    """Everything a flow may read or do during one turn."""

    session: Session
    message: InboundMessage
    contact: Contact
    conversation: Conversation
    domain: Domain
    now: datetime
    # The engine's intent classifier (loaded on first use), for a flow that reads free text.
    classifier: Callable[[], IntentClassifier]
    classification: Classification | None = None
    # The resident's answer after choice matching: a choice payload or the (stripped) text.
    answer: str = ""
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    switch_to: str | None = None
    # Set by ``treat_as_new_request``: the classifier reads this message afresh.
    reclassify: bool = False
    # Places extracted from texts this turn (several steps ask "is it a place?" of one message).
    places: dict[str, Any] = field(default_factory=dict)
    # The stored inbound message of this turn (the safety question refers to it by id).
    inbound_id: int | None = None
    # The words being read are those the resident wrote before answering "no" to the safety
    # question: the safety model has had its say on them.
    reread_after_safety_question: bool = False
    # The messages a clarifying question was asked about (ids, oldest first); set by the engine.
    unclear_message_ids: tuple[int, ...] = ()
    # The stored messages whose words this turn reads when they are not (only) its own: the
    # words before the safety question, or earlier unclear words with this reply (ids, oldest first).
    words_from: tuple[int, ...] = ()
    # An intent the resident said is not what they meant; the classifier's next one is read instead.
    ruled_out: str | None = None
    _classified: dict[str, Classification] = field(default_factory=dict)

    # ------------------------------------------------------------------ reading
    @property
    def lang(self) -> str:
        return self.conversation.language

    @property
    def channel(self) -> str:
        return self.message.channel

    @property
    def text(self) -> str:
        return (self.message.text or "").strip()

    @property
    def own_words(self) -> str:
        """The text when it is the resident's own words; empty when the message pressed a
        button or typed a choice's digit or title (the engine matched it to a payload)."""
        if self.message.postback or self.answer != self.text:
            return ""
        return self.text

    @cached_property
    def plain(self) -> str:
        """The text folded for comparing with command words (cancel, a person, stop alerts)."""
        return fold_for_matching(self.text)

    @property
    def slots(self) -> dict[str, Any]:
        return self.conversation.slots

    @property
    def step(self) -> str | None:
        return self.conversation.step

    def classify(self, text: str) -> Classification:
        """What the classifier makes of ``text`` (e.g. the topic of a free answer); once a turn."""
        if text not in self._classified:
            self._classified[text] = self.classifier().classify(text)
        classification = self._classified[text]
        ruled_out = self.ruled_out_for(text)
        if ruled_out == _MISSING_INTENT and self.ruled_out is None and about_a_neighbour(text):
            # A neighbour who is there is no missing person (a family's report, TAXONOMY): what the
            # model weighed as one is a worry about her (「近所に 認知症 っぽい 方が いて あの 夜 ずっと
            # 外に 立ってるんです」, missing 0.56 and worry 0.34).
            return classification.read_as(_MISSING_INTENT, "report_worry")
        return classification.ruling_out(ruled_out) if ruled_out else classification

    def ruled_out_for(self, text: str) -> str | None:
        """The intent ``text`` is not to be read as: one the resident said they did not mean, or
        a missing report the words deny — 「실종이 아니에요」「行方不明じゃないです」 name the matter
        only to deny it; someone being talked to is not missing, however strange they seem (a
        sudden daze is the safety layer's)."""
        denied = says_not_missing(text) or is_with_the_person(text)
        return self.ruled_out or (_MISSING_INTENT if denied else None)

    def reread(self, text: str, words_from: tuple[int, ...]) -> None:
        """Read ``text`` (the words before the safety question, stored as ``words_from``) as
        this turn's message — not as a missing report when the answer denied one (「いえ、母は
        家にいます」: not in danger, and not missing either)."""
        self.ruled_out = self.ruled_out_for(self.message.text or "")
        self._read_instead(text)
        self.words_from = words_from
        self.reread_after_safety_question = True

    def read_together(self, text: str, words_from: tuple[int, ...] = ()) -> None:
        """Read ``text`` (earlier unclear words with this reply, stored as ``words_from``) as
        this turn's message."""
        self._read_instead(text)
        self.words_from = words_from

    def read_again(self, text: str, ruled_out: str) -> None:
        """Read ``text`` (what the resident first said) afresh as this turn's message, but not
        as ``ruled_out``: the flow it started was not what they meant. The safety layer and the
        classifier read it as the resident's own words."""
        self._read_instead(text)
        self.ruled_out = ruled_out
        self.reclassify = True

    def _read_instead(self, text: str) -> None:
        self.message = replace(self.message, text=text, postback=None, metadata={})
        self.answer = text.strip()
        self.__dict__.pop("plain", None)  # the cached fold of the answer just replaced

    def set_slot(self, name: str, value: Any) -> None:
        self.conversation.slots[name] = value
        flag_modified(self.conversation, "slots")

    def set_step(self, step: str | None) -> None:
        self.conversation.step = step

    # ------------------------------------------------------------------ talking
    @property
    def register(self) -> str | None:
        """``EASY`` when the resident reads やさしい日本語 (``Contact.register``)."""
        return EASY if self.contact.register == EASY else None

    def t(self, response: str, /, **values: Any) -> str:
        """A response's text in the conversation language (for labels inside other texts)."""
        return self.domain.text(response, self.lang, self.channel, register=self.register, **values)

    def t_for_both(self, response: str, /, **values: Any) -> str:
        """A label the resident reads back and the counter's staff read in the case: in the
        conversation language with the Japanese after it (「Không rõ (不明)」), or Japanese alone."""
        own, japanese = self.t(response, **values), self.domain.text(response, "ja", self.channel, **values)
        return own if own == japanese else f"{own} ({japanese})"

    def choice(self, payload: str, response: str, digit: str | None = None) -> Choice:
        return Choice(title=self.t(response), payload=payload, digit=digit)

    def say(self, response: str, /, *, urgent: bool = False, handoff: Handoff | None = None,
            record: bool = False, end: bool = False, **values: Any) -> None:
        self.replies.append(
            Reply(text=self.t(response, **values), urgent=urgent, handoff=handoff, record=record, end=end,
                  response=response)
        )

    def ask(self, response: str, /, *, choices: Sequence[Choice] = (), request_location: bool = False,
            **values: Any) -> None:
        """Ask a question; it is remembered so silence or a bad answer repeats it."""
        numbered = tuple(
            c if c.digit else Choice(c.title, c.payload, str(i)) for i, c in enumerate(choices, start=1)
        )
        reply = Reply(text=self.t(response, **values), choices=numbered, request_location=request_location,
                      location_label=self.t(LOCATION_BUTTON) if request_location else "", response=response)
        self.replies.append(reply)
        self.set_slot(PROMPT_SLOT, {"name": response, "values": values, "request_location": request_location,
                                    "choices": [[c.title, c.payload, c.digit] for c in numbered],
                                    "language": self.lang})
        self.set_slot(CHOICES_SLOT, [[c.title, c.payload, c.digit] for c in numbered])

    def repeat_prompt(self) -> bool:
        """Ask the last question again; False when there is none."""
        prompt = self.slots.get(PROMPT_SLOT)
        if not prompt:
            return False
        asked_in = prompt.get("language", self.lang)
        choices = [Choice(self._retitled(title, asked_in), payload, digit) for title, payload, digit in prompt["choices"]]
        self.ask(prompt["name"], choices=choices, request_location=prompt["request_location"], **prompt["values"])
        return True

    def _retitled(self, title: str, asked_in: str) -> str:
        """A button's title in this turn's language: the resident who now writes Japanese reads
        「はい」, not the "Yes" the question was first asked with. A title that is no response of
        its own (a place name) stays as it was."""
        if asked_in == self.lang:
            return title
        name = self.domain.name_of(title, asked_in)
        return self.t(name) if name is not None else title

    def effect(self, kind: EffectKind, **data: Any) -> None:
        self.effects.append(Effect(kind, data))

    # ------------------------------------------------------------------ flow control
    def finish(self, keep_prompt: bool = False) -> None:
        """End the active flow and forget its slots (keeping the last question if asked to,
        so a menu just shown can still be answered with a button or a phone key)."""
        kept = {key: self.slots[key] for key in (PROMPT_SLOT, CHOICES_SLOT) if keep_prompt and key in self.slots}
        kept |= {key: self.slots[key] for key in CONVERSATION_SLOTS if key in self.slots}
        self.conversation.flow = None
        self.conversation.step = None
        self.conversation.slots = kept

    def switch(self, flow_name: str) -> None:
        """Hand this same message to another flow (e.g. a menu button pressed mid-flow)."""
        self.finish()
        self.switch_to = flow_name

    def treat_as_new_request(self) -> None:
        """Not an answer to this flow's question: end the flow and classify the message afresh."""
        self.finish()
        self.reclassify = True


class Flow:
    """Base class: set ``name``, ``intents`` and ``responses``; implement ``start``/``resume``."""

    name: ClassVar[str]
    # The classifier's intents this flow answers; a flow without intents leaves the
    # message it takes unclassified (a greeting on follow, silence, cancel).
    intents: ClassVar[tuple[str, ...]] = ()
    responses: ClassVar[tuple[str, ...]] = ()
    # Events that start this flow whatever is going on (e.g. "follow": the greeting).
    events: ClassVar[tuple[InboundEvent, ...]] = ()
    # A button payload prefix (e.g. "sighting:") that starts this flow from anywhere.
    postback_prefix: ClassVar[str | None] = None
    # Words that take over from any active flow (e.g. "配信を停止して"), matched against
    # the folded text (``TurnContext.plain``).
    interrupts: ClassVar[re.Pattern[str] | None] = None
    # Slots of the interrupted conversation this flow carries over (a person to talk to
    # about the place and topic just discussed).
    carries_over: ClassVar[tuple[str, ...]] = ()
    # False: the flow answers beside the active one, which goes on (silence repeats its question).
    takes_over: ClassVar[bool] = True
    # True: the words that start this flow tell its matter (a report, a question), so a choice
    # picked from a clarifying question starts it with the words that were unclear.
    reads_opening_words: ClassVar[bool] = False
    # False: nothing is being asked, so a conversation that times out in this flow starts
    # afresh without "we were in the middle of something" (e.g. following a finished report).
    asks_on_timeout: ClassVar[bool] = True

    def claims(self, ctx: TurnContext) -> bool:
        """Whether this message is for this flow whatever flow is active: one of its
        ``events``, its button (``intent:<name or intent>``), a payload starting with its
        ``postback_prefix``, or its ``interrupts`` words."""
        if ctx.message.event in self.events:
            return True
        if ctx.answer in {intent_button(name) for name in (self.name, *self.intents)}:
            return True
        if self.postback_prefix and ctx.answer.startswith(self.postback_prefix):
            return True
        return self.interrupts is not None and bool(ctx.plain) and self.interrupts.search(ctx.plain) is not None

    def start(self, ctx: TurnContext) -> None:
        raise NotImplementedError

    def resume(self, ctx: TurnContext) -> None:
        self.start(ctx)

    def after_safety_guidance(self, ctx: TurnContext, signal: SafetySignal) -> bool:
        """The safety layer has just given its guidance for ``signal``: a flow that must act on
        the danger whatever flow is active (a sensor's open 安否確認 escalates to the hub) does so here.

        Returns:
            True when it took the matter on and nothing else should start this turn.
        """
        return False

    def account_so_far(self, ctx: TurnContext) -> str:
        """The resident's account this flow has kept so far (what a worry report noticed), read
        by the safety layer with each new message: a welfare risk may be told over two
        messages (「3日ほど姿見えへん」, then 「なんか臭いもするんよ」). Empty by default."""
        return ""

    def describes_a_person(self, step: str | None) -> bool:
        """Whether ``step`` asks what a person looks like or how they are (height, gait, illnesses):
        the safety model's reading of frailty there is not an emergency (the engine's safety layer)."""
        return False

    def opens_with_urgent_guidance(self) -> bool:
        """Whether this flow's first reply is itself the urgent call to make (a missing person:
        110 now). The message that starts it is read like a person's description: the safety
        model's doubt is let be and its alarm only asks, so a family is not sent to 119 instead."""
        return False

    def reads_free_words(self, step: str | None) -> bool:
        """Whether ``step`` takes the resident's own account (what happened, what they noticed),
        where the safety model's doubt is worth a question; a place, a time, a phone number or a
        menu answer is not. Outside any flow every message is the resident's own account."""
        return False

    # Ways out (flows.ways_out) call these on the active flow; a form flow has them all.
    def restart(self, ctx: TurnContext) -> bool:
        """Start again with nothing kept; False when this flow cannot start without the
        message that began it (the caller ends it instead)."""
        return False

    def go_back(self, ctx: TurnContext, new_answer: str = "") -> bool:
        """The resident said an answer was wrong (perhaps with the right one): go back to
        it; False when there is none to go back to."""
        return False

    def take_correction(self, ctx: TurnContext) -> bool:
        """The answer to "which answer do you want to change?"; False when it names none."""
        return False

    def abandon(self, ctx: TurnContext) -> None:
        """The resident stopped, started again or said the matter is over (flows.ways_out),
        before the flow finished: undo what it saved on the way (a report's draft)."""


class FormFlow(Flow):
    """A flow that fills a domain.yml form: it asks for each required slot in turn.

    ``form`` names the form in domain.yml and ``questions`` maps each of its slots, in
    the form's order, to the response that asks for it (checked against domain.yml at
    start-up). Override ``ask_slot`` for a question that needs buttons or a place.
    """

    form: ClassVar[str]
    questions: ClassVar[dict[str, str]] = {}
    # Steps that show the answers and ask to confirm them: "that's wrong" there asks which one.
    confirm_steps: ClassVar[tuple[str, ...]] = ("confirm",)
    # Save first, ask later: a form whose loss costs most (a report about a person) is saved
    # by ``save_draft`` after every answer, from the first, so a hang-up leaves a case.
    saves_first: ClassVar[bool] = False
    # The steps whose answer is the resident's own account (see ``Flow.reads_free_words``).
    free_word_steps: ClassVar[frozenset[str]] = frozenset()

    def reads_free_words(self, step: str | None) -> bool:
        return step in self.free_word_steps

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.responses = tuple(dict.fromkeys((*cls.responses, *cls.questions.values())))

    def ask_slot(self, ctx: TurnContext, slot: str, question: str) -> None:
        ctx.ask(question)

    def ask_next(self, ctx: TurnContext) -> bool:
        """Ask for the first slot not yet filled; False when the form is complete.

        A form that ``saves_first`` saves its answers so far before each question."""
        for slot, question in self.questions.items():
            if slot not in ctx.slots:
                if self.saves_first and any(answered in ctx.slots for answered in self.questions):
                    self.save_draft(ctx)
                ctx.set_step(slot)
                self.ask_slot(ctx, slot, question)
                return True
        return False

    def save_draft(self, ctx: TurnContext) -> None:
        """Save the answers so far as an incomplete case (forms that ``saves_first``;
        :func:`flows.steps.save_report_draft` does it for a report)."""
        raise NotImplementedError(f"flow '{self.name}' saves first but has no save_draft")

    # ------------------------------------------------------------------ ways out
    def restart(self, ctx: TurnContext) -> bool:
        """Start this form again from its first question, every answer forgotten."""
        self.abandon(ctx)
        ctx.finish()
        ctx.conversation.flow = self.name
        # The words that asked to restart are not an answer to the first question.
        ctx.answer = RESTART
        ctx.classification = None
        self.start(ctx)
        return True

    def go_back(self, ctx: TurnContext, new_answer: str = "") -> bool:
        """At the confirmation, ask which answer to change (one button per answer given),
        unless the new answer names it (「場所は北区栄町です」); before it, the previous
        question again — or, when the correction brings the right answer (「間違えました。
        北区栄町4丁目です」), that answer to the question it names, else to the previous one.
        False when nothing was answered yet."""
        filled = [slot for slot in self.questions if slot in ctx.slots]
        if ctx.step in self.confirm_steps:
            named = named_item(new_answer, self._item_texts(ctx, filled)) if new_answer else None
            if named is not None:
                self.reanswer(ctx, named, new_answer)
            elif filled:
                ctx.set_step(CORRECTION_STEP)
                ctx.ask("utter_ask_what_to_correct", choices=[
                    Choice(self._item_title(ctx, slot), f"{CORRECTION_PREFIX}{slot}") for slot in filled])
            return bool(filled)
        order = list(self.questions)
        current = order.index(ctx.step) if ctx.step in order else len(order)
        earlier = [slot for slot in filled if order.index(slot) < current]
        # The new answer may name what it corrects (「場所は…」); else it is the previous one.
        named = named_item(new_answer, self._item_texts(ctx, earlier)) if new_answer else None
        if not earlier:
            return False
        if new_answer:
            self.reanswer(ctx, named or earlier[-1], new_answer)
        else:
            ctx.say("utter_going_back")
            self.reask(ctx, earlier[-1])
        return True

    def take_correction(self, ctx: TurnContext) -> bool:
        filled = [slot for slot in self.questions if slot in ctx.slots]
        if ctx.answer.startswith(CORRECTION_PREFIX):
            slot: str | None = ctx.answer.removeprefix(CORRECTION_PREFIX)
        else:
            # Named in words: by its question's words or its answer (「場所」「4日前から」).
            slot = named_item(ctx.text, self._item_texts(ctx, filled))
        if slot not in filled:
            return False
        self.reask(ctx, slot)
        return True

    def reask(self, ctx: TurnContext, slot: str) -> None:
        """Forget one answer and ask its question again; the flow then goes on as before
        (its next unanswered question, or its confirmation once the form is complete)."""
        del ctx.conversation.slots[slot]
        flag_modified(ctx.conversation, "slots")
        self.ask_next(ctx)

    def reanswer(self, ctx: TurnContext, slot: str, new_answer: str) -> None:
        """Forget one answer and take ``new_answer`` as the answer to its question, as if
        the resident had just been asked it."""
        del ctx.conversation.slots[slot]
        flag_modified(ctx.conversation, "slots")
        ctx.set_step(slot)
        ctx.message = replace(ctx.message, text=new_answer, postback=None)
        ctx.answer = new_answer
        ctx.__dict__.pop("plain", None)  # the cached fold of the old text
        self.resume(ctx)

    def _item_texts(self, ctx: TurnContext, slots: list[str]) -> dict[str, list[str]]:
        """What each answer is known by: its question and the answer given."""
        return {slot: [ctx.t(self.questions[slot]), _shown(ctx.slots[slot])] for slot in slots}

    def _item_title(self, ctx: TurnContext, slot: str) -> str:
        """A button for one answer: its question's first sentence (「いつ頃から気になっていますか」)."""
        question = ctx.t(self.questions[slot])
        first = _FIRST_SENTENCE.match(question)
        return first.group(1) if first else question


def check_forms(domain: Domain, flows: Iterable[Flow]) -> None:
    """Every form flow asks exactly its domain.yml form's slots, in that order."""
    for flow in flows:
        if isinstance(flow, FormFlow):
            expected = domain.forms.get(flow.form)
            if expected != list(flow.questions):
                raise DomainError(f"flow '{flow.name}' asks {list(flow.questions)} but form "
                                  f"'{flow.form}' in domain.yml requires {expected}")


def required_responses(flows: Iterable[Flow]) -> set[str]:
    """Every response the flows can say (checked against domain.yml at start-up)."""
    names: set[str] = {LOCATION_BUTTON}
    for flow in flows:
        names.update(flow.responses)
    return names


def _shown(value: Any) -> str:
    """A slot's answer as the resident gave it: its text, or a place's label."""
    if isinstance(value, dict):
        return str(value.get("label") or "")
    return value if isinstance(value, str) else ""


# A question's first sentence, without its full stop (「どのような服装でしたか。」→「どのような服装でしたか」).
_FIRST_SENTENCE = re.compile(r"\s*(.+?[?？]|.+?(?=[。.（(]|$))")

_YES = {"はい", "はいそうです", "うん", "ええ", "お願いします", "おねがいします", "お願い", "そうです", "いいです",
        "大丈夫です", "よろしいです", "かまいません", "構いません", "送る", "送って", "ok", "okay", "yes", "y",
        "yeah", "sure", "please", "いいよ", "ええよ", "頼むわ", "たのみます", "はい お願いします",
        # Consent in its own word (a registration's consent question).
        "同意します", "同意する", "同意", "同意いたします", "同意です", "承諾します", "i agree", "agree", "agreed",
        # やさしい日本語 readers write kana.
        "おねがい", "どういします", "どういする", "どうい", "だいじょうぶです", "かまいません",
        # The residents' languages, as whole answers only (「sim」, not a sentence that starts so).
        "네", "예", "네 네", "네 좋아요", "좋아요", "그래요", "동의합니다", "동의해요", "부탁합니다",  # 한국어
        "có", "co", "vâng", "dạ", "dạ có", "vâng ạ", "có ạ", "được", "đồng ý", "tôi đồng ý",  # Tiếng Việt
        "oo", "opo", "oo po", "sige", "sige po", "payag ako", "pumapayag ako", "sang-ayon ako",  # Tagalog
        "sim", "claro", "concordo", "eu concordo", "pode", "pode sim", "sim por favor",  # Português
        "sí", "si", "claro que sí", "de acuerdo", "acepto", "vale", "sí por favor", "si por favor",  # Español
        "是", "是的", "对", "對", "好", "好的", "可以", "同意的", "我同意", "要",  # 中文
        "हो", "हजुर", "हुन्छ", "ठीक छ", "सहमत छु", "म सहमत छु"}  # नेपाली
_NO = {"いいえ", "いや", "いえ", "結構です", "けっこうです", "不要", "不要です", "いらない", "いりません", "やめて",
       "だめ", "ダメ", "no", "n", "nope", "no thanks", "いらん", "ええわ", "ない", "なし",
       "いやです", "嫌です", "いやだ", "嫌だ", "いやや", "嫌や",
       # At a confirmation: "do not send it".
       "送らないで", "送らないでください", "送らんで", "送らんでええ", "送らなくていい", "送らなくていいです",
       "送りません", "送らない", "送らないで下さい",
       # The residents' languages, as whole answers only (Spanish 「no」 is English's).
       "아니요", "아니오", "아니", "아뇨", "아니에요", "싫어요", "필요 없어요", "필요없어요",  # 한국어
       "không", "khong", "không ạ", "dạ không", "không cần", "thôi",  # Tiếng Việt
       "hindi", "hindi po", "ayoko", "ayaw ko", "huwag", "huwag na",  # Tagalog
       "não", "nao", "não obrigado", "não obrigada", "não precisa",  # Português
       "no gracias", "no hace falta", "no es necesario",  # Español
       "不是", "不", "不要", "不用", "不用了", "不需要", "否", "不同意", "没有", "沒有",  # 中文
       "होइन", "हैन", "पर्दैन", "चाहिँदैन", "चाहिदैन"}  # नेपाली


def is_yes(answer: str) -> bool:
    plain = fold_for_matching(answer)
    return answer == "yes" or plain in _YES or plain.startswith(("はい", "yes"))


def is_bare_yes(answer: str) -> bool:
    """Whether the whole answer is a yes (「はい」「có」), with nothing it could be an answer to
    another question by (「はい、紺のジャンパーです」 is more)."""
    return answer == "yes" or fold_for_matching(answer) in _YES


# 「連絡はええわ」「電話はせんでええよ」「電話はいらねぇ」: the call or contact offered,
# declined in any register or dialect (the whole answer is that, nothing more).
_DECLINED_CONTACT = re.compile(
    r"\A(?:(?:いや|いえ|うーん|んー)\s*)?(?:連絡|れんらく|電話|でんわ|折り返し|おりかえし|かけなおし|コールバック)\s*(?:は|も)?\s*"
    r"(?:いら(?:ない|ん|ねえ|ねぇ|へん|ないです|んです|んよ|んわ)|いりません|要りません|不要(?:です)?|結構(?:です)?|けっこう(?:です)?|"
    r"ええ(?:わ|よ|です)?|せんで(?:ええ|いい)|しなくて(?:いい|ええ|大丈夫)|なくて(?:いい|ええ|大丈夫)|(?:大丈夫|だいじょうぶ)(?:です)?|"
    r"(?:し|せ)?んで(?:ええ|いい)|よか(?:です)?|いいです)\s*(?:よ|わ|ね|です)*\s*[。.!！]*\Z")


def is_bare_no(answer: str) -> bool:
    """Whether the whole answer is a no (「いいえ」「아니요」), nothing more."""
    return answer == "no" or fold_for_matching(answer) in _NO


def is_no(answer: str) -> bool:
    plain = fold_for_matching(answer)
    # 「いや、ええわ」「いえ、結構です」: a no-word first, then words that soften it.
    return (answer == "no" or plain in _NO or plain.startswith(("いいえ", "no ", "いや ", "いえ "))
            or _DECLINED_CONTACT.match(plain) is not None)
