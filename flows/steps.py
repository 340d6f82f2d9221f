"""Steps several flows take the same way: a yes/no question and its answer, a question that
may be answered "none", a phone number for a call-back, reading the answer to a place
question into what the flow keeps, and saving a report from its first answer.

The place question itself (asking, resolving, the follow-up when a name is ambiguous)
is :mod:`flows.place_question`; these steps sit on top of it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from sqlalchemy.orm.attributes import flag_modified

from bot.messages import Choice, EffectKind
from bot.models import Case, CaseKind
from flows.base import PROMPT_SLOT, TurnContext, is_bare_no, is_bare_yes, is_no, is_yes
from flows.place_question import (
    PLACE_RESPONSES,
    READ_BACK_SLOT,
    REPORT_PLACE_SLOT,
    area_from_record,
    ask_place,
    ask_read_back,
    ask_town_in_ward,
    ask_which_town,
    dont_know_choice,
    forget_slot,
    is_bare_place,
    low_confidence,
    needs_read_back,
    person_choice,
    pick_by_ward,
    place_from_message,
    place_label,
    place_record,
    read_back_answer,
    read_place,
    reader_place_label,
    says_dont_know,
    sound_alike_towns,
    spot_words,
    ward_choices,
)
from flows.report_words import asks_the_bot, is_only_a_phone_number, names_a_spot, since_when, strip_fillers
from intents.normalize import fold_diacritics, fold_for_matching
from intents.phone import national_phone
from routing.areas import (
    OUTSIDE,
    AreaResolution,
    resolve_area,
    resolve_town_id,
    resolve_ward_code,
    ward_name,
)
from routing.cases import INCOMPLETE, add_details, case_facts, save_draft
from routing.counters import CounterInfo, choose_counter
from routing.readers import reads_japanese, reads_kanji, reads_romaji
from routing.snapshot import get_directory

__all__ = [
    "CONSENT",
    "GUIDANCE_SLOT",
    "NONE",
    "OPTIONAL_RESPONSES",
    "PHONE_RESPONSES",
    "QUESTIONS_SLOT",
    "REGISTER",
    "REGISTRATION_RESPONSES",
    "REPORT_CASE_SLOT",
    "REPORT_PLACE_RESPONSES",
    "SEND",
    "YES_NO",
    "Buttons",
    "PlaceAnswer",
    "ReportCounter",
    "address_after_the_place",
    "answered_here",
    "answered_none",
    "ask_optional",
    "ask_yes_no",
    "caller_phone",
    "counter_name",
    "counter_name_responses",
    "decline_registration",
    "discard_report_draft",
    "guidance_given",
    "guidance_words",
    "hotline_list",
    "is_bare_key",
    "keep_number_told_ahead",
    "keep_report_counter",
    "keep_told_ahead",
    "note_guidance",
    "note_question",
    "on_yes_no",
    "outside_city",
    "outside_lines",
    "place_flags",
    "questions_asked",
    "read_phone",
    "read_place_answer",
    "read_report_place",
    "read_town",
    "reply_here",
    "reply_here_instead_of_a_number",
    "report_counter",
    "report_draft",
    "save_report_draft",
    "tentative_place",
    "wants_reply_here",
    "yes_or_no",
]


@dataclass(frozen=True)
class Buttons:
    """The two buttons of a yes/no question: their payloads and the responses that title them."""

    yes: str
    yes_title: str
    no: str
    no_title: str

    @property
    def responses(self) -> tuple[str, str]:
        """The two titles, for the flow's list of responses."""
        return self.yes_title, self.no_title


YES_NO = Buttons("yes", "utter_choice_yes", "no", "utter_choice_no")
NONE = "none"
"""The payload of the "none" button of a question that may be skipped."""
CONSENT = Buttons("agree", "utter_choice_agree", "disagree", "utter_choice_disagree")
REGISTER = Buttons("register", "utter_choice_register", "cancel", "utter_choice_cancel")
SEND = Buttons("send", "utter_choice_send", "cancel", "utter_choice_cancel")

# What the steps below say, for the response lists of the flows that take them.
REGISTRATION_RESPONSES = (*CONSENT.responses, *REGISTER.responses, "utter_registration_declined")
OPTIONAL_RESPONSES = ("utter_choice_none",)
PHONE_RESPONSES = ("utter_bad_phone", "utter_phone_read_back", "utter_ask_callback_phone", *YES_NO.responses)
# A number read back to the caller, waiting for yes or no: {"phone", "prompt"}.
PHONE_READ_BACK_SLOT = "_phone_read_back"
REPORT_PLACE_RESPONSES = ("utter_outside_city", "utter_ask_landmark", "utter_place_unknown_label",
                          "utter_place_town_unknown_label", "utter_unknown_label", "utter_unassigned_desk",
                          *PLACE_RESPONSES)

Step = Callable[[TurnContext], None]
# The case a report was saved as from its first answer (a form that ``saves_first``); a
# flow that takes over mid-report (a person, please) may carry it over to refer to it.
REPORT_CASE_SLOT = "report_case_id"
# Questions the resident put to the bot in the middle of a report, kept for the counter.
QUESTIONS_SLOT = "questions_asked"
# The urgent guidance given while a report was being told, for its case (the reports carry it
# over from the message that started them).
GUIDANCE_SLOT = "guidance_given"
# What staff read of it: the call the resident was told to make.
_GUIDANCE_WORDS = {"welfare": "110番（安否確認）", "110": "110番", "119": "119番"}


def ask_yes_no(ctx: TurnContext, question: str, buttons: Buttons = YES_NO, **values: Any) -> None:
    """Ask a yes/no question with its two buttons (keys 1 and 2 on the phone)."""
    ctx.ask(question, choices=[Choice(ctx.t(buttons.yes_title), buttons.yes),
                               Choice(ctx.t(buttons.no_title), buttons.no)], **values)


def yes_or_no(ctx: TurnContext, buttons: Buttons = YES_NO) -> bool | None:
    """The answer to a yes/no question: a button or yes/no in words; None when it is neither."""
    if ctx.answer == buttons.yes or is_yes(ctx.answer):
        return True
    if ctx.answer == buttons.no or is_no(ctx.answer):
        return False
    return None


def on_yes_no(ctx: TurnContext, buttons: Buttons, on_yes: Step, on_no: Step) -> None:
    """Take the step the answer chooses; an answer that is neither asks the question again."""
    answer = yes_or_no(ctx, buttons)
    if answer is None:
        ctx.repeat_prompt()
    elif answer:
        on_yes(ctx)
    else:
        on_no(ctx)


def is_bare_key(ctx: TurnContext) -> bool:
    """Whether the answer is only keys pressed or digits said (「2」), matching no choice:
    never the content of a report (a phone number or an address is read where it is asked)."""
    return bool(ctx.own_words) and re.fullmatch(r"[\d\s#*]+", unicodedata.normalize("NFKC", ctx.own_words)) is not None


def ask_optional(ctx: TurnContext, question: str) -> None:
    """Ask a question that may be answered "none" (a button, or no in words)."""
    ctx.ask(question, choices=[Choice(ctx.t("utter_choice_none"), NONE)])


# 「写真はありません」「ないです」「特にありません」 "I don't have one": none, in a sentence.
_NONE_IN_WORDS = re.compile(
    r"\A(?:(?:写真|しゃしん|画像|それ|特に|とくに)\s*(?:は|も)?\s*)?(?:ありません|ない|無い|ないです|ございません|あらへん|ねえ|ねぇ|なし)"
    r"(?:です|ね|よ|わ|けど|んです)*\s*[。.!！]*\Z"
    r"|\A(?:i )?(?:don'?t|do not) have (?:one|any|a photo|a picture)\.?\Z|\A(?:no|none)(?: photo| picture)?\.?\Z")


def answered_none(ctx: TurnContext) -> bool:
    """Whether the answer to an optional question is "none"."""
    return ctx.answer == NONE or is_no(ctx.answer) or _NONE_IN_WORDS.match(fold_for_matching(ctx.answer)) is not None


def decline_registration(ctx: TurnContext) -> None:
    """The resident said no to a registration's consent or confirmation: nothing is kept."""
    ctx.say("utter_registration_declined")
    ctx.finish()


# 「この電話番号に」「この番号で」「今かけてる番号」: the caller's own number, in words.
_THIS_NUMBER_WORDS = re.compile(
    r"(この|こちらの|今の|いまの|今かけて(い)?る|いまかけて(い)?る|この携帯の|かけている)\s*(電話)?\s*(番号|電話|携帯)"
    r"|\bth(is|e same) (number|phone)\b|\bthe number i'?m calling from\b", re.IGNORECASE)


def says_this_number(ctx: TurnContext) -> bool:
    """Whether the answer names the number the caller is calling from (「この電話番号に」)."""
    return _THIS_NUMBER_WORDS.search(ctx.plain) is not None


def caller_phone(ctx: TurnContext) -> str | None:
    """On the phone line, the caller's own number (Twilio's E.164 "+81…", kept as national
    digits like a typed one): a call-back needs no question. None when the number is withheld."""
    return national_phone(ctx.message.user_id) if ctx.channel == "voice" else None


def read_phone(ctx: TurnContext, *, read_back: bool = False) -> str | None:
    """The phone number the answer gives; a bad one is refused and the question stays open.

    With ``read_back``, a number said on the phone (or heard with low confidence) is read
    back digit by digit first (「0 9 0 1 1 1 1 2 2 2 2ですね。よろしければ1、違う場合は2」):
    None is returned until the answer is yes; no asks the number again.
    """
    waiting = ctx.slots.get(PHONE_READ_BACK_SLOT)
    phone = national_phone(ctx.text) if ctx.text else None
    if waiting and phone is None:
        if ctx.answer == YES_NO.yes or is_yes(ctx.answer):
            forget_slot(ctx, PHONE_READ_BACK_SLOT)
            return str(waiting["phone"])
        if ctx.answer == YES_NO.no or is_no(ctx.answer):
            forget_slot(ctx, PHONE_READ_BACK_SLOT)
            ctx.ask(waiting["prompt"] or "utter_ask_callback_phone")
        else:
            ctx.repeat_prompt()
        return None
    forget_slot(ctx, PHONE_READ_BACK_SLOT)  # a new number instead of yes or no
    if phone is None:
        ctx.say("utter_bad_phone")
        return None
    if read_back and (ctx.channel == "voice" or low_confidence(ctx)):
        prompt = (ctx.slots.get(PROMPT_SLOT) or {}).get("name")
        ctx.set_slot(PHONE_READ_BACK_SLOT, {"phone": phone, "prompt": prompt})
        ask_yes_no(ctx, "utter_phone_read_back", phone=" ".join(phone) if ctx.channel == "voice" else phone)
        return None
    return phone


# The kinds of office a counter's English gloss names, most telling first (a counter may
# have several topics: よりそいホットライン is for money, mental health and any matter).
COUNTER_KINDS = ("watch", "elderly", "disability", "child_abuse", "child", "dv", "money", "mental", "hikikomori",
                 "consumer", "complex", "missing", "emergency")


def counter_name_responses() -> tuple[str, ...]:
    """The responses :func:`counter_name` may use, for a flow's list of responses."""
    return tuple(f"utter_counter_kind_{kind}" for kind in COUNTER_KINDS)


def counter_name(ctx: TurnContext, counter_id: str, name: str) -> str:
    """A counter's name for the resident: as the directory names it in Japanese; for every
    other language with a gloss of what it is, from its topic (and for a Latin-script reader
    its ward's romaji): 「北区見守り相談室 (Kita-ku watch-over office)」.

    The Japanese name stays first: it is what the resident reads on the sign and says at
    the counter. The directory has no translated names; the gloss comes from the counter's
    taxonomy topic (``utter_counter_kind_<topic>``, translated in ``responses/``) and the
    ward's romaji (towns.csv). A kanji reader (Chinese) reads the ward in the name itself.
    """
    if reads_japanese(ctx.lang):
        return name
    directory = get_directory(ctx.session)
    service = directory.services.get(counter_id)
    kind = next((kind for kind in COUNTER_KINDS if service is not None and kind in service.topics), None)
    if kind is None:
        return name
    ward = next((code for code, kanji in directory.wards.items() if name.startswith(kanji)), None)
    gloss = ctx.t(f"utter_counter_kind_{kind}")
    if ward and reads_romaji(ctx.lang):
        return f"{name} ({ward_name(ctx.session, ward, ctx.lang)} {gloss})"
    # Brackets as the reader's script writes them (a Chinese gloss has its own 「（）」).
    return f"{name}（{gloss}）" if reads_kanji(ctx.lang) else f"{name} ({gloss})"


class ReportCounter(NamedTuple):
    """The counter a complete report goes to, as the reporter is told about it."""

    id: str  # "" when the place is not known: every desk's staff see the report
    name: str
    reason: str
    phone: str | None


def report_counter(ctx: TurnContext, intent: str, place: dict[str, Any]) -> ReportCounter:
    """A complete report's counter: its id, its name for the reporter, why, and its phone. A
    report whose place nobody knew has none yet (id ""): it is listed to every desk's staff."""
    choice = choose_counter(ctx.session, intent=intent, topic=None, area=area_from_record(ctx, place), now=ctx.now)
    if choice.counter is None:
        return ReportCounter("", ctx.t("utter_unassigned_desk"), "the place is not known: no counter yet", None)
    counter = choice.counter
    return ReportCounter(counter.id, counter_name(ctx, counter.id, counter.name), choice.reason, counter.phone)


def keep_report_counter(ctx: TurnContext, intent: str, place: dict[str, Any]) -> ReportCounter:
    """:func:`report_counter`, kept in the slots the confirmation and the new case read."""
    counter = report_counter(ctx, intent, place)
    ctx.set_slot("counter_id", counter.id)
    ctx.set_slot("counter_name", counter.name)
    ctx.set_slot("counter_phone", counter.phone)
    ctx.set_slot("reason", counter.reason)
    return counter


def outside_lines(ctx: TurnContext) -> str:
    """Whom to call about a person when the city cannot take the report: the police (110),
    as the directory lists it (the missing-person desk's national line)."""
    lines = choose_counter(ctx.session, intent="report_missing", topic=None, area=OUTSIDE, now=ctx.now).hotlines
    return hotline_list(ctx, lines) or "110"


def hotline_list(ctx: TurnContext, lines: Sequence[CounterInfo]) -> str:
    """National or 24-hour lines as one text: "警察 110", "よりそいホットライン 0120-279-338"."""
    # One line each, as Japanese and Chinese list them; a Latin or Hangul reader reads commas.
    separator = "\n" if reads_kanji(ctx.lang) else ", "
    # 「警察 110」 already says its number.
    return separator.join(line.name if line.phone and line.phone in line.name
                          else f"{line.name} {line.phone or ''}".strip() for line in lines)


# 「2丁目」「3番5号」「2-chome」「5 banchi」: the rest of an address, sent on its own.
_ADDRESS_REST = re.compile(
    r"\A\s*(?:\d+|[一二三四五六七八九十]+)\s*(?:丁目|番地?|号|-\d|-?\s*(?:chome|chōme|choume|ban(?:chi)?|go)\b)",
    re.IGNORECASE)


def address_after_the_place(ctx: TurnContext, slot: str) -> bool:
    """「2丁目」「3番5号」「2-chome」 sent just after the town, to the question after the place:
    the rest of the address in ``slot``, not an answer to that question, which is asked again.
    False when the words are no such rest (「3日前から」 answers since when)."""
    words = ctx.own_words
    place = ctx.slots.get(slot)
    if not words or not place or not _ADDRESS_REST.match(unicodedata.normalize("NFKC", words)) or since_when(words):
        return False
    return keep_told_ahead(ctx, **{slot: {**place, "detail": " ".join(filter(None, (place.get("detail"), words))),
                                          "label": f"{place.get('label', '')} {words}".strip()}})


def keep_told_ahead(ctx: TurnContext, **answers: Any) -> bool:
    """Answers told ahead of their question, or again after it (「3日前から」 at the place
    question, 「2丁目」 after the town): kept, acknowledged, and the open question asked again.

    Returns:
        True: the turn is answered.
    """
    for slot, value in answers.items():
        ctx.set_slot(slot, value)
    ctx.say("utter_detail_noted")
    ctx.repeat_prompt()
    return True


def keep_number_told_ahead(ctx: TurnContext, *, consent_slot: str | None = None) -> bool:
    """A number to call back on, told before it is asked (「私の電話番号は090-1234-5678です」 at
    the place question): kept as the number (and, with ``consent_slot``, as a yes to a
    call-back), acknowledged, and the open question asked again — never read as a place, a
    landmark or a description, which can reach a cooperators' alert.

    Returns:
        True: the turn is answered. False when the words say more than a number, or hold none.
    """
    if not ctx.text or not is_only_a_phone_number(ctx.text):
        return False
    told = {"callback_phone": national_phone(ctx.text)}
    return keep_told_ahead(ctx, **told, **({consent_slot: True} if consent_slot else {}))


# Asked about a call-back or a number, the resident asks to be answered where they write
# instead, or will not be phoned (「このチャットで返事をください」「電話は苦手で」「番号は教えたくない」).
# Matched on the words with diacritics folded (「qua chat」 = 「qua chát」).
_REPLY_HERE = re.compile(
    r"(チャット|ライン|LINE|メッセージ|ここ|こちら|このまま|文字|テキスト)\s*(で|に|へ)\s*\S*(返事|返信|連絡|お願い|ください|下さい)"
    r"|(チャット|ライン|LINE|メッセージ)\s*で\s*(いい|大丈夫|結構|OK)"
    r"|電話(番号)?\s*(は|が|も)?\s*(苦手|無理|むり|できない|できません|出られ|出れ|困り|困る|嫌|いや|イヤ|ちょっと|ありません|持って(い)?ない)"
    r"|(番号|電話)\s*(は|を)?\s*(教えたくない|言いたくない|教えられない|伝えたくない|知られたくない)"
    r"|\b(reply|answer|contact|message|write|text)\s+(to\s+)?(me\s+)?(back\s+)?(here|in\s+(this|the)\s+chat|on\s+line|by\s+(message|chat|text))"
    r"|\b(no|without\s+a|not\s+by)\s+phone\b|\b(don'?t|do\s+not|rather\s+not)\s+(want\s+to\s+)?(give|share)\s+(my\s+)?(phone|number)"
    r"|\b(chat|line|text)\s+only\b"
    r"|在这里|在這裡|这个聊天|這個聊天|用聊天|不想(给|給)(电话|電話|号码|號碼)|不方便(接)?(电话|電話)"
    r"|채팅으로|여기로|여기서\s*답|전화는\s*(좀|어려|싫|못)|번호는\s*(좀|알려\S*\s*싫)"
    r"|\b(nhan tin|qua chat|o day|tra loi o day)\b|khong muon (cho|dua) so|khong co dien thoai"
    r"|\bpor (aqui|aqu[ií]|este chat|el chat|mensaje)\b|\bpelo chat\b|\bsem telefone\b|\bsin tel[eé]fono\b"
    r"|n[aã]o quero (dar|passar) (o |meu )?(telefone|n[uú]mero)|no quiero dar (mi )?(tel[eé]fono|n[uú]mero)"
    r"|\bdito (na )?lang\b|\bsa chat\b|ayoko(ng)? (ibigay|magbigay)"
    r"|यहीँ|च्याटमा|फोन नम्बर दिन चाहन्न|\b(yahi|chat ma)\b",
    re.IGNORECASE)


def wants_reply_here(ctx: TurnContext) -> bool:
    """On a written channel, whether the words ask to be answered there rather than by phone
    (staff reply on the case page; the phone line has no such choice)."""
    words = ctx.own_words
    return (ctx.channel != "voice" and bool(words)
            and (_REPLY_HERE.search(words) or _REPLY_HERE.search(fold_diacritics(words))) is not None)


def reply_here(ctx: TurnContext) -> None:
    """Keep "answer me here": no number to call back on (``callback_phone`` None, which the
    case reads as contact by the resident's channel), and say so."""
    ctx.set_slot("callback_phone", None)
    ctx.say("utter_reply_here_noted")


def reply_here_instead_of_a_number(ctx: TurnContext) -> bool:
    """Asked for a number, the resident gives none and asks to be answered here (「番号は教えたく
    ない、このチャットで」): kept (:func:`reply_here`). False when the words are a number or
    ask nothing of the kind."""
    if national_phone(ctx.text) is not None or not wants_reply_here(ctx):
        return False
    reply_here(ctx)
    return True


def answered_here(ctx: TurnContext) -> bool:
    """Whether the resident asked to be answered in the chat (:func:`reply_here`)."""
    return "callback_phone" in ctx.slots and ctx.slots["callback_phone"] is None


def note_question(ctx: TurnContext, *, ask_again: bool = True) -> bool:
    """A question put to the bot in the middle of a report (「相談室の人はいつ連絡をくれるんですか」):
    kept for the counter, the resident told that the staff will answer it when they get in
    touch, and (``ask_again``) the report's question asked again. False when the words ask
    nothing, or answer "since when" while wondering aloud (「先週からですか?」)."""
    words = ctx.own_words
    if not words or not asks_the_bot(words) or since_when(words):
        return False
    ctx.set_slot(QUESTIONS_SLOT, [*ctx.slots.get(QUESTIONS_SLOT, []), words])
    ctx.say("utter_question_noted")
    if ask_again:
        ctx.repeat_prompt()
    return True


def questions_asked(ctx: TurnContext) -> dict[str, str]:
    """The case detail of the questions :func:`note_question` kept (none: no detail)."""
    asked = ctx.slots.get(QUESTIONS_SLOT)
    return {"questions": " / ".join(asked)} if asked else {}


def note_guidance(ctx: TurnContext, given: str) -> None:
    """Keep for the case that urgent guidance was given: "welfare" (110 to check on someone),
    "110" or "119". Staff then know whom the resident may have called before they get in touch."""
    kept = ctx.slots.get(GUIDANCE_SLOT, [])
    if given not in kept:
        ctx.set_slot(GUIDANCE_SLOT, [*kept, given])


def guidance_given(ctx: TurnContext) -> dict[str, str]:
    """The case detail of the guidance :func:`note_guidance` kept (none: no detail)."""
    given = ctx.slots.get(GUIDANCE_SLOT)
    return {"guidance": "、".join(guidance_words(kind) for kind in given)} if given else {}


def guidance_words(given: str) -> str:
    """What staff read of one guidance kind (:func:`note_guidance`): 「110番（安否確認）」."""
    return _GUIDANCE_WORDS[given]


def outside_city(ctx: TurnContext) -> None:
    """The place is outside the city: say whom to call, offer a person, and end the report."""
    _end_report(ctx, "utter_outside_city")


def _end_report(ctx: TurnContext, response: str) -> None:
    # The city cannot take the report: its draft goes, whom to call is said.
    discard_report_draft(ctx)
    ctx.ask(response, choices=[person_choice(ctx)], hotlines=outside_lines(ctx))
    # The person button (or key 0) still works once the report has ended.
    ctx.finish(keep_prompt=True)


@dataclass(frozen=True)
class PlaceAnswer:
    """A place question answered well enough: where, the 丁目/番地 detail, and a label for the resident."""

    area: AreaResolution
    detail: str | None
    label: str

    def record(self) -> dict[str, Any]:
        """What a flow keeps in its slots (see :func:`flows.place_question.place_record`)."""
        return place_record(self.area, self.detail, self.label)


def read_place_answer(
    ctx: TurnContext, need: Literal["town", "ward"], prompt: str, fallback: str | None = None, *,
    give_up_after: int | None = None, dont_know: bool = False,
) -> PlaceAnswer | None:
    """Read the answer to the place question ``prompt``.

    Args:
        ctx: the turn.
        need: how precise the place must be (an ``outside`` answer is returned too).
        prompt: the place question, asked again when the answer is not understood.
        fallback: the label when the place has no town or ward name (default: the text).
        give_up_after: see :func:`flows.place_question.read_place`.
        dont_know: see :func:`flows.place_question.read_place`.

    Returns:
        The answer, or None when a follow-up question was asked instead.
    """
    area = read_place(ctx, need, prompt, give_up_after=give_up_after, dont_know=dont_know)
    if area is None:
        return None
    detail = ctx.slots.get("_place_detail")
    return PlaceAnswer(area, detail, reader_place_label(ctx, area, detail, ctx.text if fallback is None else fallback))


def read_town(ctx: TurnContext, prompt: str) -> AreaResolution | None:
    """Read an answer that must name one town of the city; otherwise ask ``prompt`` again.

    Returns:
        A resolution with its ``town``, or None when the question was asked again.
    """
    area = read_place(ctx, "town", prompt)
    if area is None:
        return None
    if area.status != "resolved" or area.town is None:
        ctx.say("utter_place_not_found")
        ask_place(ctx, prompt)
        return None
    return area


def read_report_place(ctx: TurnContext, prompt: str) -> dict[str, Any] | None:
    """The place of a report about a person (where they live, where they were last seen),
    as the slot record the report keeps: a town at least, or a flagged "town unknown".

    Call it with each answer while the report's place step is open (the steps below stay
    on that step). A ward alone (「南区」, its button) asks which town, with the ward's towns
    as buttons; 「わからない」 / "I don't know" (or the button) asks once for a landmark,
    keeps the ward, and settles with ``town_unknown`` — asking the ward first when none is
    known. Sound-alike towns ask which one. A place outside the city (postal code, a
    location) ends the report with whom to call; words that name no place twice go on as
    a landmark, the report settling with the place unknown.

    A form that wants to tell more-about-the-person from a place answer checks
    :func:`flows.place_question.looks_like_place` first (this function reads any words as
    the place, or as a landmark).

    Args:
        ctx: the turn.
        prompt: the report's place question (asked again after an answer naming no place).

    Returns:
        The record (:func:`flows.place_question.place_record`, plus ``town_unknown`` (bool)
        and ``landmark`` (str or None)): ``area.town_id`` is set unless ``town_unknown``,
        and ``ward_code`` unless ``place_unknown``. None when a follow-up question was
        asked, or when the report ended (outside the city: the flow is already finished
        then, with whom to call said).
    """
    state: dict[str, Any] = dict(ctx.slots.get(REPORT_PLACE_SLOT) or {})
    asking = state.pop("asking", None)
    answer, checked, checked_detail = read_back_answer(ctx)
    if answer == "confirmed" and checked is not None:
        return _settled(ctx, state, checked, checked_detail, read_back=True)
    if answer == "asked":
        return None
    if answer == "rejected" and checked is not None and checked.town is not None:
        alikes = sound_alike_towns(ctx, checked.town.town_id)
        if len(alikes) > 1:
            state["candidates"] = [town.town_id for town in alikes]
            return _ask(ctx, state, "town", lambda: ask_which_town(ctx, alikes, dont_know=True))
        return _ask(ctx, state, "ward", lambda: _ask_ward(ctx, prompt))
    hint = ward_name(ctx.session, state["ward"]) if state.get("ward") else None
    area, detail = place_from_message(ctx, ward_hint=hint)
    dont_know = says_dont_know(ctx)
    if dont_know:
        state["dont_knows"] = int(state.get("dont_knows", 0)) + 1
    if area.status == "resolved":
        return _settled(ctx, state, area, detail)
    if area.status == "outside":
        outside_city(ctx)
        return None
    if ctx.own_words and not is_bare_place(ctx) and (
            (asking == "landmark" and not dont_know) or (dont_know and names_a_spot(ctx.own_words))):
        # The landmark asked for; or 「住所はわからんけど、公園の横の青い家」: not known, and
        # where instead (a ward alone, 「南区」, is the ward, no landmark).
        _add_landmark(state, ctx.own_words)
    if area.status == "ward_only" and state.get("candidates"):
        picked = pick_by_ward(ctx, state["candidates"], area)
        if picked is not None:
            return _settled(ctx, state, picked, None)
    if area.status == "ward_only" and area.ward_code:
        state["ward"] = area.ward_code
        if asking != "landmark" and ctx.own_words and not dont_know and not is_bare_place(ctx):
            # 「北区の、いつも散歩している川沿いの遊歩道のほう」: the ward and a description, no town.
            _add_landmark(state, ctx.own_words)
            state["landmark_asked"] = True
        if not (dont_know or state.get("landmark_asked")):
            return _ask(ctx, state, "town", lambda: ask_town_in_ward(ctx, area, dont_know=True))
        # They said they do not know the town: the ward is what was missing.
        return _town_unknown(ctx, state)
    if asking == "landmark" or dont_know:
        return _town_unknown(ctx, state)
    if area.status == "ambiguous" and area.candidates:
        state["candidates"] = [town.town_id for town in area.candidates]
        return _ask(ctx, state, "town", lambda: ask_which_town(ctx, area.candidates, dont_know=True))
    # Words that name no place of the city: kept for staff, as a landmark.
    if ctx.own_words:
        _add_landmark(state, ctx.own_words)
    state["misses"] = int(state.get("misses", 0)) + 1
    if state["misses"] >= 2:
        # Twice no place of the city: the report goes on with the place unknown and their
        # words for staff. Only a sign (a postal code, coordinates) says it is outside: a
        # family answering something else ends no missing-person report.
        return _town_unknown(ctx, state)
    ctx.say("utter_place_not_found")
    if state.get("ward"):
        ward_area = resolve_ward_code(ctx.session, state["ward"])
        return _ask(ctx, state, "town", lambda: ask_town_in_ward(ctx, ward_area, dont_know=True))
    state["ward_asked"] = True
    return _ask(ctx, state, "ward", lambda: _ask_ward(ctx, prompt))


def place_flags(record: dict[str, Any]) -> dict[str, Any]:
    """What a case's details add about a place read by :func:`read_report_place`: the flag
    for staff when the town is not known, with the landmark given instead; the spot said
    with a known town (「スーパーの 前」), when one was."""
    if record.get("unconfirmed"):
        return {"place_unconfirmed": True}
    if not record.get("town_unknown"):
        return {"landmark": record["landmark"]} if record.get("landmark") else {}
    flags = {"town_unknown": True, "landmark": record.get("landmark")}
    return {**flags, "place_unknown": True} if record.get("place_unknown") else flags


def _ask_ward(ctx: TurnContext, prompt: str) -> None:
    ctx.ask(prompt, choices=[*ward_choices(ctx), dont_know_choice(ctx)], request_location=True)


def _add_landmark(state: dict[str, Any], words: str) -> None:
    if is_bare_yes(words) or is_bare_no(words):
        return  # 「네」 to "which town?" tells staff nothing about where
    state["landmark"] = " / ".join(part for part in (state.get("landmark"), strip_fillers(words)) if part)


def _ask(ctx: TurnContext, state: dict[str, Any], asking: str, question: Callable[[], None]) -> None:
    """Ask the report's next place question and remember what it asks."""
    ctx.set_slot(REPORT_PLACE_SLOT, {**state, "asking": asking})
    question()
    return None


def _town_unknown(ctx: TurnContext, state: dict[str, Any]) -> dict[str, Any] | None:
    """The resident does not know the town: a landmark once, the ward if none yet, then settle flagged."""
    if "landmark" not in state and not state.get("landmark_asked"):
        state["landmark_asked"] = True
        return _ask(ctx, state, "landmark", lambda: ctx.ask("utter_ask_landmark"))
    if not state.get("ward"):
        if state.get("ward_asked") or state.get("dont_knows", 0) >= 2:
            # 「わからない」 twice: the report goes on with what it has, flagged for staff.
            return _place_unknown(ctx, state)
        state["ward_asked"] = True
        return _ask(ctx, state, "ward",
                    lambda: ctx.ask("utter_ask_ward", choices=[*ward_choices(ctx), dont_know_choice(ctx)]))
    area = resolve_ward_code(ctx.session, state["ward"])
    landmark = state.get("landmark")
    # The ward in kanji for staff; with its romaji for a Latin-script reader of the confirmation.
    ward = area.ward or ""
    if reads_romaji(ctx.lang) and area.ward_code:
        ward = f"{ward} {ward_name(ctx.session, area.ward_code, ctx.lang)}"
    label = ctx.t("utter_place_town_unknown_label", ward=ward,
                  landmark=landmark or ctx.t("utter_unknown_label"))
    forget_slot(ctx, REPORT_PLACE_SLOT)
    return {**place_record(area, None, label), "town_unknown": True, "landmark": landmark}


def _place_unknown(ctx: TurnContext, state: dict[str, Any]) -> dict[str, Any]:
    """Neither town nor ward is known: the landmark if any, flagged (the case has no counter yet)."""
    landmark = state.get("landmark")
    label = ctx.t("utter_place_unknown_label", landmark=landmark or ctx.t("utter_unknown_label"))
    forget_slot(ctx, REPORT_PLACE_SLOT)
    return {**place_record(resolve_area(ctx.session, None), None, label), "town_unknown": True,
            "place_unknown": True, "landmark": landmark}


def _settled(ctx: TurnContext, state: dict[str, Any], area: AreaResolution,
             detail: str | None, *, read_back: bool = False) -> dict[str, Any] | None:
    if not read_back and (spot := spot_words(ctx)):
        # 「南区の あさひまちの スーパーの 前」: the spot is what searchers look for.
        _add_landmark(state, spot)
    if not read_back and needs_read_back(ctx, area):
        # Read back first (the phone, a shared or other reading, a ward that is not the town's).
        return _ask(ctx, state, "read_back", lambda: ask_read_back(ctx, area, detail))
    forget_slot(ctx, REPORT_PLACE_SLOT)
    if detail:
        ctx.set_slot("_place_detail", detail)
    label = reader_place_label(ctx, area, detail, ctx.text)
    if landmark := state.get("landmark"):
        label = f"{label}（{landmark}）"  # 「南区 朝日町（スーパーの 前）」: the spot with the town
    return {**place_record(area, detail, label), "town_unknown": False, "landmark": landmark}


def tentative_place(ctx: TurnContext) -> dict[str, Any] | None:
    """The town being read back, not yet confirmed: a draft keeps it (flagged) so that a
    caller who hangs up at the read-back leaves the place they said."""
    waiting = ctx.slots.get(READ_BACK_SLOT)
    if not waiting or not waiting.get("town_id"):
        return None
    area = resolve_town_id(ctx.session, waiting["town_id"])
    label = place_label(area, waiting.get("detail"), "")
    return {**place_record(area, waiting.get("detail"), label), "unconfirmed": True}


def save_report_draft(ctx: TurnContext, *, kind: CaseKind, intent: str, topic: str, details: dict[str, Any],
                      place: dict[str, Any] | None, urgent: bool = False) -> None:
    """Save a report's answers so far as its draft case (:func:`routing.cases.save_draft`):
    the counter once the place tells it, the reporter's contact and, on the phone, the
    caller's number. An urgent draft delivered now says so (``case_updated``).

    Args:
        ctx: the turn.
        kind: the case kind.
        intent: the report's intent, for the counter.
        topic: the case topic.
        details: the answers so far, as the complete case will hold them.
        place: the report's place record, once answered.
        urgent: a missing person.
    """
    area = area_from_record(ctx, place) if place else None
    choice = choose_counter(ctx.session, intent=intent, topic=None, area=area, now=ctx.now) if area else None
    counter = choice.counter if choice else None
    caller = caller_phone(ctx)
    case, queued = save_draft(
        ctx.session, draft=report_draft(ctx), kind=kind, topic=topic, counter_id=counter.id if counter else None,
        # A number the reporter told (「携帯は090…です」) before the caller's own.
        area=area, details={**details, "callback_phone": details.get("callback_phone")
                            or ctx.slots.get("callback_phone") or caller},
        reason=choice.reason if choice else "the place is not known yet", channel=ctx.channel, language=ctx.lang,
        urgent=urgent, reporter_contact_id=ctx.contact.id, now=ctx.now)
    ctx.set_slot(REPORT_CASE_SLOT, case.id)
    if place and place.get("ward_code"):
        # Where the report is: a person asked for mid-report is of that ward's counters.
        ctx.set_slot("place", place)
    if queued:
        ctx.effect(EffectKind.case_updated, **case_facts(case))


def report_draft(ctx: TurnContext) -> Case | None:
    """The report's draft case, while it is one (None once complete, or before the first answer)."""
    case_id = ctx.slots.get(REPORT_CASE_SLOT)
    case = ctx.session.get(Case, case_id) if case_id else None
    return case if case is not None and case.details.get(INCOMPLETE) else None


def discard_report_draft(ctx: TurnContext) -> None:
    """The reporter stopped (cancelled, found, outside the city): their draft goes too; one
    that already reached its desk (urgent) stays, and the desk is told in their words."""
    case = report_draft(ctx)
    if case is not None and not case.events:
        ctx.session.delete(case)
        ctx.session.flush()
    elif case is not None:
        add_details(ctx.session, case, ctx.text or ctx.answer, source=ctx.channel, now=ctx.now)
        ctx.effect(EffectKind.case_updated, **case_facts(case))
    if REPORT_CASE_SLOT in ctx.slots:
        del ctx.slots[REPORT_CASE_SLOT]
        flag_modified(ctx.conversation, "slots")
