"""The conversation engine: one inbound event in, replies and effects out, every step persisted.

Order of a turn (the same on every channel):
1. persist the inbound event — a repeated (channel, event id) is ignored (idempotent webhooks);
2. load the contact's conversation (a quiet one times out and starts afresh);
3. dispatch, in the order of precedence declared in ``ConversationEngine.__init__``:
   the safety layer first (119/110 or crisis lines), then staff holding the chat (they
   answer from the console: the bot says nothing more, the words go to their case), then
   the interrupts (a flow that takes the message whatever flow is active), then the
   active flow, then the classifier, which picks a flow by intent (or asks when unsure);
4. persist the replies and commit; then the turn's effects are run (``after_commit``:
   deliveries of new cases, the alert fan-out, …), as the composition root wired them.

The engine knows flows and intents only: what a flow does with routing or alerts is the
flow's business, and what an effect starts is ``bot.effects``'.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import EASY, LANGUAGES, Domain
from bot.messages import Choice, Effect, EffectKind, InboundMessage, Reply, TurnResult, coarse_point
from bot.metrics import count_turn
from bot.models import Case, CaseEvent, CaseStatus, Contact, Conversation, Message, MessageDirection
from bot.settings import settings
from flows.base import (
    CHOICES_SLOT,
    INTENT_BUTTON,
    NOT_A_MATTER,
    UNTRANSLATED_SLOT,
    Flow,
    TurnContext,
    check_forms,
    intent_button,
    required_responses,
)
from flows.conversation import MENU, SAFETY_RESPONSES, ask_menu, finish_phone_turn, safety_guidance
from flows.registry import FLOWS
from flows.report_words import about_a_neighbour
from flows.safety_question import (
    SAFETY_QUESTION_RESPONSES,
    ask_safety_question,
    model_signal,
    take_safety_answer,
)
from intents.classification import CONFIDENCE_THRESHOLD, Classification, IntentClassifier
from intents.normalize import fold_for_matching
from intents.register import detect_register
from intents.safety import SafetySignal, detect_safety, safety_matter

if TYPE_CHECKING:
    from lingua import LanguageDetector

__all__ = ["ConversationEngine", "ENGINE_RESPONSES", "detect_language"]

log = logging.getLogger(__name__)

# Said once in a conversation whose language this city has not translated every reply into.
UNTRANSLATED_NOTICE = "utter_untranslated_notice"
# What the engine itself says: the safety layer's guidance, a clarifying question, a timeout notice.
ENGINE_RESPONSES = ("utter_clarify", "utter_clarify_after_no", "utter_timeout_restart", UNTRANSLATED_NOTICE, *SAFETY_RESPONSES,
                    *SAFETY_QUESTION_RESPONSES)

# Events that carry the resident's own words, which the safety layer reads first
# (a follow, a call being answered or a silence says nothing).
_WORDED_EVENTS = ("message", "recording")
# How sure the intent must be before a flow that opens with its own urgent call (110 for a
# missing person) is let speak first, without the safety model's question or 119 before it.
SURE_OF_THE_FLOW = 0.8
# An alternative reading this likely was a real possibility for words (what the clarifying
# question offers them): a reply that settles on it goes on with those words.
_A_LIKELY_READING = 0.25
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Codes say nothing about a language: an invitation code (PT-R5CU-ASTN), a reference, a room
# (203B); their letters are not words.
_CODE = re.compile(r"\b[A-Z0-9]+(?:-[A-Z0-9]+)+\b|\b[A-Za-z]*\d[A-Za-z\d]*\b")
_HIRAGANA = re.compile(r"[\u3040-\u309f]")
_JAPANESE_RUN = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]+")
# English with Japanese names in it: at least this many English words, and at most this
# much hiragana or this many English words for each Japanese word (「the おじいさん next door」).
_MIXED_ENGLISH_WORDS = 3
_MIXED_HIRAGANA = 2
# One word that is English only; "ok", "yes" and "no" are said in Japanese chats too.
_ENGLISH_WORDS = frozenset({"hello", "hi", "hey", "help", "thanks", "thank", "please", "sorry", "english"})
# The only digit that means something outside a question: 0 = a person, as on the phone menu.
HUMAN_DIGIT = "0"
# Intents the classifier may name that are never worth offering in a clarifying question.
_NOT_OFFERED = (*NOT_A_MATTER, "emergency")
# The messages a clarifying question is open about; a reply that picks none of its choices is
# read together with them. Three at most: older words are another moment's.
UNCLEAR_SLOT = "_unclear"
_UNCLEAR_KEPT = 3
# ask_where's topics whose counters serve the resident's own household; the same matter of a
# neighbour is a worry report. Abuse, violence, fraud and a child's matter seen next door stay
# with their counters (TAXONOMY).
_HOUSEHOLD_TOPICS = frozenset({"elderly", "disability", "money", "mental", "hikikomori", "complex"})

DispatchStep = Callable[[TurnContext], bool]
"""One rule of dispatch: True when it took the message (no later rule runs)."""


# Residents' languages told by their script: Hangul is Korean, Devanagari Nepali (the
# Devanagari-writing residents tsunagu serves). Han without kana is Chinese only with a
# character Japanese does not write (simplified forms, Chinese particles): a short
# kanji-only message (「火事」「救急車」) is Japanese.
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_CHINESE_ONLY = re.compile(
    "[吗嗎呢吧们們没沒这這么麼说說谁怎哪很你妳她是"
    "门个对为发过还动样问从钱边让认该办气帮护烧伤晕冲杀药烟灾脏报电话车给现题"
    "對會來發樣從裡錢邊讓辦區氣幫燒醫暈藥臟]|着火|著火|老公|老婆|正在|我的|我家|我想|救救我")
# Which Chinese script: characters that differ between the two (「沒/没」「這/这」「燒/烧」).
_SIMPLIFIED = re.compile("[们这么说谁门个对为发过还动样问从钱边让认该办气帮护烧伤晕冲杀药烟灾脏报电话车给现题没吗里后会来时头医厨妈爷儿楼]")
_TRADITIONAL = re.compile("[區們這麼說誰門個對為發過還動樣問從錢邊讓認該辦氣幫護燒傷暈衝殺藥煙災臟報電話車給現題沒嗎裡後會來時頭醫廚媽爺兒樓]")
# Latin-script languages go to lingua (its models ship in its wheel), among these only.
_LATIN_LANGUAGES = {"ENGLISH": "en", "PORTUGUESE": "pt", "SPANISH": "es", "TAGALOG": "tl", "VIETNAMESE": "vi"}
# Below this confidence a Latin-script message is taken for English, as before lingua.
# Portuguese and Spanish share most short words, so they count together (「Mi hija no
# respira」 is Spanish at 0.44, Portuguese at 0.24).
_LATIN_MIN_CONFIDENCE = 0.5
_IBERIAN = ("pt", "es")
# Letters only Vietnamese writes (ơ, ư, ă, đ and the stacked tone marks): no need to ask lingua.
_VIETNAMESE_LETTERS = re.compile(r"[ơưăđƠƯĂĐ\u1ea0-\u1ef9]")
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
# Tagalog's markers and particles: two of them make a message Tagalog however many English
# words it borrows ("Ang number ko po ay …"), which lingua would call English.
_TAGALOG_MARKERS = frozenset({"po", "opo", "ang", "ng", "mga", "yung", "ay", "ko", "sa", "siya", "niya", "namin", "naman"})
_TAGALOG_MIN_MARKERS = 2
# Romanized Nepali, as many Nepali residents type on a phone ("mero buwa bihana dekhi ghar
# farkinu bhayena"): lingua has no such language and reads it as Tagalog or English. Two of
# these words make a message Nepali (answered in Devanagari, which its writers read).
_NEPALI_MARKERS = frozenset({
    "mero", "meri", "hajur", "cha", "chha", "chan", "chhan", "chaina", "chhaina", "bhayo", "bhayena", "bhaera",
    "garnu", "garna", "garne", "garchu", "gardai", "garyo", "hunuhuncha", "huncha", "hunchha", "parcha",
    "parchha", "kaha", "kahaa", "kasari", "malai", "mailai", "unlai", "uhaa", "uhaalai", "aama", "buwa", "bahini",
    "didi", "ghar", "bihana", "beluka", "raati", "aaja", "hijo", "baje", "tira", "dekhi", "samma", "najik",
    "sanga", "sakincha", "sakinchha", "chahiyo", "thiyo", "thiena", "farkinu", "farkeko", "aayena", "gayo",
    "dherai", "kina", "sodhne", "sahayog", "namaste", "dhanyabad", "dhanyawad", "budha", "budhi", "chhora",
    "chhori", "srimati", "sasu", "sasura", "kripaya",
})
_NEPALI_MIN_MARKERS = 2
# Short words romanized Nepali shares with other languages: in a Nepali conversation one of
# them, or one marker, keeps it Nepali ("kalo jacket ra khairo pant", "station najik").
_NEPALI_WORDS = _NEPALI_MARKERS | {"ra", "ko", "ma", "lai", "le", "pani", "ani", "tara", "kalo", "seto", "rato",
                                   "nilo", "khairo", "hariyo", "pahelo", "lagayeko", "lagaeko", "sano", "thulo",
                                   "barsa", "umer", "jana", "ho", "hoina", "ki"}
# Romaji place suffixes and particles a Latin-script reader adds to a place: still no English.
_PLACE_SUFFIXES = frozenset({"ku", "cho", "chome", "machi", "po", "em", "en", "de", "o"})
# A word that could be Japanese in romaji (Kita-ku, Takasagocho, arigatou): lingua takes
# those for Tagalog or Portuguese, so they are left out of what it reads.
_ROMAJI_WORD = re.compile(
    r"(?:(?:kk|ss|tt|pp|tch|ch|sh|ts|[kgszjtdnhbpmrwf])?y?[aeiouāīūēō]+|n)+", re.IGNORECASE)


@lru_cache(maxsize=1)
def _latin_detector() -> LanguageDetector:
    # Loaded on the first Latin-script message, so `tsunagu --help` stays light.
    from lingua import Language, LanguageDetectorBuilder  # noqa: PLC0415

    return LanguageDetectorBuilder.from_languages(*(getattr(Language, name) for name in _LATIN_LANGUAGES)).build()


def _latin_language(text: str) -> str:
    """The Latin-script language of a message with at least two words: English unless
    lingua is sure of another served language."""
    if _VIETNAMESE_LETTERS.search(text):
        return "vi"
    words = _LETTER_WORD.findall(text)
    lowered = {word.lower() for word in words}
    if len(lowered & _NEPALI_MARKERS) >= _NEPALI_MIN_MARKERS:
        return "ne"
    if len(lowered & _TAGALOG_MARKERS) >= _TAGALOG_MIN_MARKERS:
        return "tl"
    foreign = [word for word in words if not _ROMAJI_WORD.fullmatch(word)]
    if not foreign:
        return "en"  # romaji, or English made of romaji-like words ("no name")
    # Mostly romaji names in an English sentence: lingua reads the other words.
    readable = " ".join(foreign) if len(foreign) >= 2 else text
    confidences = {_LATIN_LANGUAGES[value.language.name]: value.value
                   for value in _latin_detector().compute_language_confidence_values(readable)}
    best = max(confidences, key=confidences.__getitem__)
    iberian = sum(confidences.get(language, 0.0) for language in _IBERIAN) if best in _IBERIAN else 0.0
    if best == "en" or max(confidences[best], iberian) < _LATIN_MIN_CONFIDENCE:
        return "en"
    return best


def detect_language(text: str) -> str | None:
    """The language of a message: 'ko' (Hangul), 'ne' (Devanagari, or romanized with two telling
    words), 'zh' or 'zh-Hant' (Han
    without kana and with characters only Chinese writes), 'ja' (other Japanese script), a Latin-script
    language by lingua ('en', 'pt', 'es', 'tl', 'vi'; English when unsure or for an English
    greeting or plea, "hello", "help"), None when there is no signal (digits, 「OK」, "yes",
    one romaji name, a code)."""
    words = _LATIN_WORD.findall(_CODE.sub(" ", text))
    if _HANGUL.search(text) and not _KANA.search(text):
        return "ko"
    if _DEVANAGARI.search(text):
        return "ne"
    if _JAPANESE.search(text) and len(_KANA.findall(text)) <= 1 and _CHINESE_ONLY.search(text):
        return "zh-Hant" if len(_TRADITIONAL.findall(text)) > len(_SIMPLIFIED.findall(text)) else "zh"
    if _JAPANESE.search(text):
        # An English sentence may carry Japanese names (「My grandfather has 認知症 and lives
        # in 南区 泉町」); a Japanese sentence has its particles and endings in hiragana.
        english = len(words) >= _MIXED_ENGLISH_WORDS and (
            len(_HIRAGANA.findall(text)) <= _MIXED_HIRAGANA
            or len(words) >= _MIXED_ENGLISH_WORDS * len(_JAPANESE_RUN.findall(text)))
        return "en" if english else "ja"
    if len(words) >= 2:
        return _latin_language(text)
    if len(words) == 1 and words[0].lower() in _ENGLISH_WORDS:
        return "en"
    return None


_CHINESE = ("zh", "zh-Hant")


def _keeps_language(text: str, detected: str, current: str) -> bool:
    """Whether a message detected as ``detected`` keeps the conversation's ``current`` language:
    only romaji words (a place, a name: 「Minami-ku Asahicho 3-chome」, typed by any resident —
    the buttons show the romaji too, and a phone may have no kana input), kanji without kana in
    any non-Japanese conversation, Chinese without a character that tells simplified from
    traditional in a Chinese conversation, or romanized Nepali with one telling word in a
    Nepali one."""
    if (current == "ne" and detected in _LATIN_LANGUAGES.values()
            and {word.lower() for word in _LETTER_WORD.findall(text)} & _NEPALI_WORDS):
        return True
    if detected == "en":
        words = _LETTER_WORD.findall(_CODE.sub(" ", text))
        return all(_ROMAJI_WORD.fullmatch(word) or word.lower() in _PLACE_SUFFIXES for word in words)
    if detected == "ja" and current != "ja":
        return not _KANA.search(text)
    if detected in _CHINESE and current in _CHINESE:
        # 「不是」「好的」 are written alike in both scripts: the reader's script stays.
        return not (_SIMPLIFIED.search(text) or _TRADITIONAL.search(text))
    return False


class ConversationEngine:
    """Handles one inbound event at a time per call; safe to call from several threads.

    Args:
        sessions: sessions on the database holding conversations, cases and the directory.
        domain: what the bot says (checked here against every flow's responses).
        classifier: returns the intent classifier, loaded on first use.
        after_commit: runs a turn's effects once the turn is committed.
    """

    def __init__(self, sessions: sessionmaker[Session], domain: Domain, *,
                 classifier: Callable[[], IntentClassifier],
                 after_commit: Callable[[Sequence[Effect]], None]) -> None:
        domain.check_required(required_responses(FLOWS) | set(ENGINE_RESPONSES))
        check_forms(domain, FLOWS)
        self.sessions = sessions
        self.domain = domain
        self.classifier = classifier
        self.after_commit = after_commit
        self.flows = {flow.name: flow for flow in FLOWS}
        # The order of precedence of a turn, in one place; the first rule that takes the message ends dispatch.
        self.dispatch_order: tuple[DispatchStep, ...] = (
            self._answer_safety_question,  # 「今、命に関わる状況ですか？」 answered: guidance, or the words go on
            self._safety_first,  # 119/110 or the crisis lines, before anything else
            self._held_by_staff,  # staff answer this resident from the console: the bot is quiet
            self._interrupt,  # a flow that claims the message whatever flow is active (flows.registry order)
            self._active_flow,  # the flow in progress goes on
            self._classify,  # the classifier picks a flow, or a clarifying question
        )

    # ------------------------------------------------------------------ public
    def handle(self, message: InboundMessage) -> TurnResult:
        started = time.perf_counter()
        with self.sessions() as session:
            result = self._turn(session, message)
            session.commit()
        count_turn(message.channel, result, time.perf_counter() - started)
        self.after_commit(result.effects)
        return result

    # ------------------------------------------------------------------ the turn
    def _turn(self, session: Session, message: InboundMessage) -> TurnResult:
        contact = self._contact(session, message)
        if message.event == "unfollow":
            # Blocked or left: stop writing to them, alerts included (after the commit).
            contact.active = False
            left = Effect(EffectKind.contact_unfollowed, {"channel": message.channel, "address": message.user_id})
            return TurnResult(effects=[left], contact_id=contact.id, language=contact.language)
        contact.active = True
        inbound = self._persist_inbound(session, contact, message)
        if inbound is None:
            log.info("duplicate event ignored channel=%s", message.channel)
            return TurnResult(duplicate=True, contact_id=contact.id, language=contact.language)

        now = message.received_at
        conversation, timed_out, created = self._conversation(session, contact, now)
        conversation.language = contact.language = self._language(message, conversation, created)
        # A phone transcript's spaces are the recogniser's, not the caller's writing.
        if message.text and not message.postback and conversation.language == "ja" and message.channel != "voice":
            register = detect_register(message.text)
            if register is not None:
                contact.register = EASY if register == EASY else None
        ctx = TurnContext(session, message, contact, conversation, self.domain, now, self.classifier,
                          inbound_id=inbound.id)
        ctx.answer = self._match_choice(conversation, message)
        ctx.unclear_message_ids = tuple(conversation.slots.get(UNCLEAR_SLOT, ()))
        if ctx.unclear_message_ids:  # one reply's worth, whatever path this turn takes
            conversation.slots = {key: value for key, value in conversation.slots.items() if key != UNCLEAR_SLOT}
        held = self._holding_case(session, contact)
        if held is not None:
            # Staff answer now: what was being asked is over, the words are theirs to read.
            ctx.finish()
            if message.event == "message":
                session.add(CaseEvent(case_id=held.id, kind="resident_message", actor=message.channel,
                                      created_at=now, details={"message_id": inbound.id}))

        if timed_out and message.event == "message" and held is None:
            ctx.say("utter_timeout_restart")
        for step in self.dispatch_order:
            if step(ctx):
                break
        finish_phone_turn(ctx)  # on the phone a turn ends with a question, never in dead air
        self._tell_untranslated(ctx)
        # Written last, with the conversation's time: one UPDATE each at the commit, not one
        # per query that flushes on the way (a turn's statements are most of its CPU).
        inbound.conversation_id = conversation.id
        inbound.intent = ctx.classification.intent if ctx.classification else None
        conversation.updated_at = now
        for reply in ctx.replies:
            outbound = Message(contact_id=contact.id, conversation_id=conversation.id,
                               direction=MessageDirection.outbound, channel=message.channel,
                               kind="text", text=reply.text)
            session.add(outbound)
            if held is not None:
                # Only the safety layer speaks while staff hold the chat: they see what it said.
                session.flush()
                session.add(CaseEvent(case_id=held.id, kind="bot_reply", actor="safety", created_at=now,
                                      details={"message_id": outbound.id, "response": reply.response}))
        log.info("turn channel=%s flow=%s intent=%s replies=%d", message.channel, conversation.flow,
                 inbound.intent, len(ctx.replies))
        return TurnResult(ctx.replies, ctx.effects, contact_id=contact.id, language=conversation.language,
                          flow=conversation.flow)

    # ------------------------------------------------------------------ dispatch, in order
    def _answer_safety_question(self, ctx: TurnContext) -> bool:
        """The resident answered the safety question: yes → the guidance; no → the words they
        wrote before it go on to the flow in progress. A reply that is neither is read afresh
        when it surely starts another matter; otherwise it goes on with the words before the
        question (「北区です」 after a worry about a neighbour: the report goes on, and takes its
        place), so neither is lost — and the safety word list reads both."""
        pending = take_safety_answer(ctx)
        if pending is None:
            return False
        if pending.answer == "yes":
            self._give_guidance(ctx, pending.signal)
            return True
        original = ctx.session.get(Message, pending.message_id) if pending.message_id is not None else None
        if pending.answer is None:
            if original is not None and original.text and not self._another_matter(ctx, original.text):
                ctx.reread(f"{original.text}\n{ctx.text}", _ids(original.id, ctx.inbound_id))
            return False
        if original is None or not original.text:
            # Purged meanwhile: nothing to go on with but the question that was open.
            if not ctx.repeat_prompt():
                ask_menu(ctx)
            return True
        ctx.reread(original.text, (original.id,))
        return False

    @staticmethod
    def _another_matter(ctx: TurnContext, before: str) -> bool:
        """Whether this message is to be read on its own: the safety model hears urgency in it
        (read with the earlier words, it would count as answered), or it surely asks for
        something the words ``before`` it were not likely to mean (not a greeting-like fragment:
        a bare 「北区」 reads as a greeting to the classifier). A reply that settles between the
        earlier words' likely readings is theirs: 「南区に住んでいます。相談員の方に相談したい」
        (a counter 0.49, a person 0.49), then 「このチャットに返事をください」 — the person, in 南区."""
        now = ctx.classify(ctx.text)
        if now.urgency_band is not None:
            return True
        if now.confidence < SURE_OF_THE_FLOW or now.intent in NOT_A_MATTER:
            return False
        earlier = ctx.classify(before)
        return now.intent not in {earlier.intent, *(intent for intent, share in earlier.alternatives
                                                    if share >= _A_LIKELY_READING)}

    def _safety_first(self, ctx: TurnContext) -> bool:
        """119/110 or the crisis lines first; suicidal ideation outside a flow then starts its matter.

        The word list decides on its own signs. What it cannot see, the safety model reads:
        from its alarm threshold on, the guidance; in its uncertain band, the safety question
        (:mod:`flows.safety_question`) — in the resident's own account. In a place, a time, a
        command, or while a person is being described (a missing person's height and gait, a
        registration), its doubt is let be and its alarm only asks: frailty in a description
        is not an emergency, and a false 119 in the middle of a missing report costs the
        family the 110 call that matters.
        """
        if ctx.message.event not in _WORDED_EVENTS or not ctx.text:
            return False
        signal = detect_safety(ctx.text) or self._welfare_told_over_messages(ctx)
        if signal is None:
            return self._safety_model(ctx)
        if (signal.kind != "welfare" and ctx.own_words and not ctx.reread_after_safety_question
                and ctx.contact.held_case_id is None and ctx.classify(ctx.text).safety_doubted):
            # A danger word out of its situation (「火事のドラマ」, a past 救急車): asked, not answered.
            ask_safety_question(ctx, ctx.inbound_id, signal)
            return True
        self._give_guidance(ctx, signal)
        return True

    def _welfare_told_over_messages(self, ctx: TurnContext) -> SafetySignal | None:
        """A welfare risk the words complete with what the report in progress already kept (not
        seen for three days, then 「なんか臭いもするんよ」): the same 110 advice as when told at
        once. Only what these words add: a risk the account told by itself was answered then."""
        active = self.flows.get(ctx.conversation.flow or "")
        earlier = active.account_so_far(ctx) if active is not None else ""
        if not earlier:
            return None
        together = detect_safety(f"{earlier}\n{ctx.text}")
        # The account alone is read only when the two together are a risk (rarely): every turn
        # of a report pays one reading of the lexicon, not two.
        if together is None or together.kind != "welfare" or detect_safety(earlier) is not None:
            return None
        return together

    def _safety_model(self, ctx: TurnContext) -> bool:
        if not ctx.own_words or ctx.reread_after_safety_question:
            return False
        classification = ctx.classify(ctx.text)
        band = classification.urgency_band
        if band is None:
            return False
        active = self.flows.get(ctx.conversation.flow or "")
        # The model is heard in the resident's own account (outside a flow, what a worry report
        # noticed); in a place, a time or a command a form or a flow asks for, its alarm only
        # asks and its doubt is let be; in a person's description likewise (「腰が曲がっとる」),
        # and in a message surely starting a flow whose first words are the urgent call (a
        # missing report: 110, not 119, and not a question before it).
        # Inside a flow its alarm asks too: a form's answer is read in the form's frame, and
        # the lexicon still interrupts any of them at once.
        starting = self._flow_for(classification.intent) if active is None else None
        describes = (active is not None and active.describes_a_person(ctx.step)) or (
            starting is not None and starting.opens_with_urgent_guidance()
            and classification.confidence >= SURE_OF_THE_FLOW)
        own_account = (active is None or active.reads_free_words(ctx.step)) and not describes and not any(
            flow.claims(ctx) for flow in FLOWS)
        if band == "alarm" and own_account and active is None:
            self._give_guidance(ctx, model_signal(classification))
            self._go_on_with_the_matter(ctx, classification)
            return True
        if (band == "ask" and not own_account) or ctx.contact.held_case_id is not None:
            # Staff holding the chat read the words; only an alarm in their own account is the bot's.
            return False
        ask_safety_question(ctx, ctx.inbound_id, model_signal(classification))
        return True

    def _go_on_with_the_matter(self, ctx: TurnContext, classification: Classification) -> None:
        """After the safety model's alarm, the matter the words also tell starts.

        The model's guidance is conditional (「命に関わるときは、いますぐ119番か110番に」): for the
        resident it does not fit — a neighbour found sitting dazed at her door, already better —
        the worry report must not be lost with the turn. The intent head's own reading decides:
        an emergency ends the turn at the guidance; a sure matter starts; an unsure reading, or
        one that names no matter (words alarming enough for 119 are no greeting), asks what it
        is about. Found in Vietnamese: 「Thằng bé nhà hàng xóm hay bị bố đánh」 (the neighbour's
        boy is often beaten by his father) read as goodbye 0.56, and the resident was left with
        the 119 sentence alone, never told of 189.
        """
        if classification.intent == "emergency" or ctx.conversation.flow is not None \
                or ctx.contact.held_case_id is not None:
            return
        if classification.is_confident and classification.intent not in _NOT_OFFERED:
            ctx.classification = classification
            self._start(ctx, self._flow_for(classification.intent), classified=True)
        else:
            self._clarify(ctx, classification)

    def _give_guidance(self, ctx: TurnContext, signal: SafetySignal) -> None:
        handled = safety_guidance(ctx, signal)
        if any(flow.after_safety_guidance(ctx, signal) for flow in FLOWS):
            return
        if not handled and ctx.contact.held_case_id is None:
            # Held by staff: the guidance is all; staff, not a form, take the matter on.
            matter = safety_matter(signal)
            ctx.classification = _given(matter.intent, topic=matter.topic, safety=signal)
            self._start(ctx, self._flow_for(matter.intent), classified=True)

    def _tell_untranslated(self, ctx: TurnContext) -> None:
        """Once a conversation, say that a reply is in やさしい日本語 and English because this
        city has not translated it into the resident's language (after any safety guidance)."""
        language = ctx.lang
        if language in LANGUAGES or ctx.slots.get(UNTRANSLATED_SLOT) == language:
            return
        if not any(reply.response and not self.domain.translated(reply.response, language) for reply in ctx.replies):
            return
        ctx.set_slot(UNTRANSLATED_SLOT, language)
        first_not_urgent = next((i for i, reply in enumerate(ctx.replies) if not reply.urgent), len(ctx.replies))
        notice = Reply(text=ctx.t(UNTRANSLATED_NOTICE), response=UNTRANSLATED_NOTICE)
        ctx.replies.insert(first_not_urgent, notice)

    @staticmethod
    def _held_by_staff(ctx: TurnContext) -> bool:
        """Staff hold this resident's chat: nothing is said (the words went to their case)."""
        return ctx.contact.held_case_id is not None

    def _interrupt(self, ctx: TurnContext) -> bool:
        claimed = next((flow for flow in FLOWS if flow.claims(ctx)), None)
        if claimed is None and ctx.answer.startswith(INTENT_BUTTON):
            # A button for a flow this deployment does not run (any more): say what we can do.
            claimed = self.flows["out_of_scope"]
        if claimed is None:
            return False
        if claimed.takes_over:
            self._start(ctx, claimed, classified=self._read_unclear_words_for(ctx, claimed))
        else:
            claimed.start(ctx)
            self._follow_switch(ctx)
        return True

    def _active_flow(self, ctx: TurnContext) -> bool:
        active = self.flows.get(ctx.conversation.flow or "")
        if active is None:
            return False
        active.resume(ctx)
        self._follow_switch(ctx)
        return True

    def _classify(self, ctx: TurnContext) -> bool:
        self._read_with_unclear_words(ctx)
        self._classify_and_start(ctx)
        self._follow_switch(ctx)
        return True

    def _read_with_unclear_words(self, ctx: TurnContext) -> None:
        """A reply to the clarifying question that picks none of its choices is read together
        with the words that were unclear (「南区 住吉町 4丁目」 after a hesitant worry about a
        neighbour: the place of that worry, not a question of its own), unless it surely starts
        another matter. Neither the earlier words nor the reply is lost."""
        if not ctx.own_words:
            return
        earlier = self._unclear_words(ctx)
        if earlier and not self._another_matter(ctx, earlier):
            ctx.read_together("\n".join([earlier, ctx.text]), _ids(*ctx.unclear_message_ids, ctx.inbound_id))

    def _read_unclear_words_for(self, ctx: TurnContext, flow: Flow) -> bool:
        """A choice picked from the clarifying question starts its flow with the words that were
        unclear, as if they had started it: 「おじいさんが夜外にいて」 then 「近所の方が心配」 is a
        worry report that has told what was noticed, not one that asks it again.

        Returns:
            True when ``ctx.classification`` is set for the words (the flow is started classified).
        """
        if not flow.reads_opening_words or ctx.own_words or not flow.intents:
            return False
        earlier = self._unclear_words(ctx)
        if not earlier:
            return False
        picked = ctx.answer.removeprefix(INTENT_BUTTON)
        chosen = picked if picked in flow.intents else flow.intents[0]
        ctx.read_together(earlier, ctx.unclear_message_ids)
        # The words' own reading when the choice is one the model weighed (an ask_where keeps its topic).
        reading = ctx.classify(earlier).preferring(chosen)
        ctx.classification = reading if reading.intent == chosen else _given(chosen)
        return True

    @staticmethod
    def _unclear_words(ctx: TurnContext) -> str:
        """The words the last clarifying question was asked about, oldest first ("" when none)."""
        earlier = [message.text for message_id in ctx.unclear_message_ids
                   if (message := ctx.session.get(Message, message_id)) is not None and message.text]
        return "\n".join(earlier)

    # ------------------------------------------------------------------ starting flows
    def _follow_switch(self, ctx: TurnContext) -> None:
        """A flow handed the message on: to the classifier afresh, or to a named flow."""
        if ctx.reclassify:
            ctx.reclassify = False
            # Words read again for another matter (ctx.read_again) pass the safety layer again:
            # in the flow they first started, the safety model's doubt may have been let be.
            if ctx.ruled_out is None or not self._safety_first(ctx):
                self._classify_and_start(ctx)
        else:
            self._take_switch(ctx)

    def _take_switch(self, ctx: TurnContext) -> None:
        """Start the flow a flow switched to, if any."""
        if ctx.switch_to:
            # Taken before starting, or the started flow would be started once more.
            next_flow, ctx.switch_to = ctx.switch_to, None
            self._start(ctx, self._flow_for(next_flow))

    def _classify_and_start(self, ctx: TurnContext) -> None:
        if not ctx.text:
            ask_menu(ctx, "utter_clarify")
            ctx.finish(keep_prompt=True)
            return
        classification = self._neighbours_matter(ctx.text, ctx.classify(ctx.text))
        if ctx.reread_after_safety_question:
            classification = classification.without_model_emergency()
        ctx.classification = classification
        # An emergency is never second-guessed. out_of_scope says what we do and shows the
        # menu; ask_where with an unclear topic asks the topic itself. Anything else we
        # are unsure of gets a clarifying question.
        sure_of_intent = classification.intent == "emergency" or classification.is_confident or (
            classification.intent in ("out_of_scope", "ask_where")
            and classification.confidence >= CONFIDENCE_THRESHOLD)
        if not sure_of_intent:
            self._clarify(ctx, classification)
            return
        self._start(ctx, self._flow_for(classification.intent), classified=True)

    @staticmethod
    def _neighbours_matter(text: str, classification: Classification) -> Classification:
        """A household's matter told of a neighbour is a worry report, when the model saw one too.

        ask_where is the resident's own household's matter (TAXONOMY). 「お向かいのご主人が、奥さん
        を亡くしてからずっと家にこもって」 reads like hikikomori, whose centre counsels families;
        about someone across the road it is a worry for the area's 見守り相談室. The words decide
        only between the two the model already weighed.
        """
        if (classification.intent == "ask_where" and classification.topic in _HOUSEHOLD_TOPICS
                and "report_worry" in dict(classification.alternatives) and about_a_neighbour(text)):
            return classification.preferring("report_worry")
        return classification

    def _clarify(self, ctx: TurnContext, classification: Classification) -> None:
        """Unsure: offer the likely flows (then the menu) as choices instead of guessing."""
        menu_intents = [intent for intent, _, _ in MENU]
        likely = [intent for intent, _ in ((classification.intent, 1.0), *classification.alternatives)
                  if intent in self.flows and intent not in _NOT_OFFERED]
        # Not what the resident said they did not mean, nor what their words deny.
        ruled_out = ctx.ruled_out_for(ctx.text or "")
        ordered = [intent for intent in dict.fromkeys([*likely[:2], *menu_intents]) if intent != ruled_out]
        # Keys as on the main menu (a key never changes its meaning), a person always last on 0.
        keys = {intent: digit for intent, _, digit in MENU}
        ordered.sort(key=lambda intent: keys.get(intent) == HUMAN_DIGIT)
        titles = {intent: response for intent, response, _ in MENU}
        choices = [Choice(ctx.t(titles[intent]), intent_button(intent), keys.get(intent))
                   for intent in ordered if intent in titles]
        ctx.finish()
        # Right after "no" to the safety question the resident was understood: not urgent.
        ctx.ask("utter_clarify_after_no" if ctx.reread_after_safety_question else "utter_clarify", choices=choices)
        ctx.finish(keep_prompt=True)
        # The words read (after the safety question, those written before it; still unclear with
        # the earlier words, all of them): the next reply is read with them.
        read = ctx.words_from or _ids(ctx.inbound_id)
        if ctx.own_words and read:
            ctx.set_slot(UNCLEAR_SLOT, list(read[-_UNCLEAR_KEPT:]))

    def _flow_for(self, name: str) -> Flow:
        """The flow with this name or intent; out_of_scope for an intent this deployment does not run yet."""
        flow = self.flows.get(name) or next((flow for flow in FLOWS if name in flow.intents), None)
        return flow or self.flows["out_of_scope"]

    def _start(self, ctx: TurnContext, flow: Flow, classified: bool = False) -> None:
        if not classified:
            ctx.classification = _given(flow.intents[0]) if flow.intents else None
        carried = {key: value for key, value in ctx.conversation.slots.items() if key in flow.carries_over}
        ctx.finish()
        ctx.conversation.slots = {**ctx.conversation.slots, **carried}
        ctx.conversation.flow = flow.name
        flow.start(ctx)
        self._take_switch(ctx)

    # ------------------------------------------------------------------ persistence
    def _contact(self, session: Session, message: InboundMessage) -> Contact:
        query = select(Contact).where(Contact.channel == message.channel, Contact.channel_user_id == message.user_id)
        contact = session.scalar(query)
        if contact is not None:
            return contact
        try:
            with session.begin_nested():
                contact = Contact(channel=message.channel, channel_user_id=message.user_id,
                                  language=message.language or settings.default_language)
                session.add(contact)
            return contact
        except IntegrityError:
            # Another worker created it a moment ago.
            return session.scalars(query).one()

    def _persist_inbound(self, session: Session, contact: Contact, message: InboundMessage) -> Message | None:
        row = Message(
            contact_id=contact.id,
            direction=MessageDirection.inbound,
            channel=message.channel,
            channel_event_id=message.event_id,
            kind=message.event if message.event != "message" else self._kind(message),
            text=message.text,
            payload=self._payload(message),
            created_at=message.received_at,
        )
        try:
            with session.begin_nested():
                session.add(row)
            return row
        except IntegrityError:
            return None

    @staticmethod
    def _kind(message: InboundMessage) -> str:
        if message.has_location:
            return "location"
        if message.postback:
            return "postback"
        if message.media_ref:
            return "image"
        return "text"

    @staticmethod
    def _payload(message: InboundMessage) -> dict[str, object] | None:
        # A location is kept only as a point rounded to about 500 m, never with its street
        # address: the flows read the exact point from the message itself, and keep what they need.
        point: tuple[float | None, float | None] = (None, None)
        if message.latitude is not None and message.longitude is not None:
            point = coarse_point(message.latitude, message.longitude)
        payload = {key: value for key, value in (
            ("postback", message.postback), ("latitude", point[0]), ("longitude", point[1]),
            ("media_ref", message.media_ref)) if value is not None}
        return payload or None

    @staticmethod
    def _holding_case(session: Session, contact: Contact) -> Case | None:
        """The case whose staff hold the contact's chat; a hold on a case that is gone or closed
        (by retention, say, without staff handing back) is let go."""
        if contact.held_case_id is None:
            return None
        case = session.get(Case, contact.held_case_id)
        if case is None or case.status == CaseStatus.closed:
            contact.held_case_id = None
            return None
        return case

    def _conversation(self, session: Session, contact: Contact, now: datetime) -> tuple[Conversation, bool, bool]:
        conversation = session.scalar(
            select(Conversation).where(Conversation.contact_id == contact.id, Conversation.active.is_(True))
            .order_by(Conversation.id.desc()).limit(1)
        )
        timed_out = created = False
        if conversation is not None and now - conversation.updated_at > timedelta(
                minutes=settings.conversation_timeout_minutes):
            active = self.flows.get(conversation.flow or "")
            timed_out = active is not None and active.asks_on_timeout
            conversation.active = False
            conversation = None
        if conversation is None:
            conversation = Conversation(contact_id=contact.id, language=contact.language, slots={}, started_at=now,
                                        updated_at=now)
            session.add(conversation)
            session.flush()
            created = True
        return conversation, timed_out, created

    @staticmethod
    def _language(message: InboundMessage, conversation: Conversation, created: bool) -> str:
        """The language of this turn: the message's own words decide (English typed in a
        Japanese console or browser is answered in English); a message without a language
        signal (a digit, 「OK」, a button, a location) keeps the conversation's, and the
        channel's hint (``--lang``, the browser, the LINE/Telegram setting) is only the
        default of a conversation that starts with such a message."""
        detected = detect_language(message.text) if message.text else None
        if detected and not _keeps_language(message.text or "", detected, conversation.language):
            return detected
        if detected and created:
            return detected
        if message.language and created:
            return message.language
        return conversation.language

    @staticmethod
    def _match_choice(conversation: Conversation, message: InboundMessage) -> str:
        """The resident's answer: a button payload, or a typed/pressed number or title of a choice."""
        if message.postback:
            answer = message.postback
        else:
            answer = (message.text or "").strip()
        plain = fold_for_matching(answer)
        for title, payload, digit in conversation.slots.get(CHOICES_SLOT, []):
            if plain in (digit, fold_for_matching(title)):
                return payload
        if plain == HUMAN_DIGIT:
            return intent_button("talk_to_human")
        return answer


def _ids(*message_ids: int | None) -> tuple[int, ...]:
    """Stored message ids, the unsaved (None) left out."""
    return tuple(message_id for message_id in message_ids if message_id is not None)


def _given(intent: str, topic: str | None = None, safety: SafetySignal | None = None) -> Classification:
    """The classification of a message whose intent is already known (a button, the safety layer)."""
    return Classification(intent=intent, topic=topic, topics=(), confidence=1.0, safety=safety, alternatives=())
