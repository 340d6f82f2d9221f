"""The conversation engine: one inbound event in, replies and effects out, every step persisted.

Order of a turn (the same on every channel):
1. persist the inbound event — a repeated (channel, event id) is ignored (idempotent webhooks);
2. load the contact's conversation (a quiet one times out and starts afresh);
3. the safety layer, on every text, before anything else: 119/110 or crisis-line guidance;
4. "cancel" and "a person, please" work in any flow;
5. the active flow continues, or the classifier picks a flow by intent (or asks when unsure);
6. persist the replies and commit; then deliveries of new cases are scheduled.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import threading
import unicodedata
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import flows
from bot.db import init_db, session_factory
from bot.domain import Domain, load_domain
from bot.messages import Choice, InboundMessage, TurnResult
from bot.models import Contact, Conversation, CooperatorEndpoint, Message, MessageDirection
from bot.settings import settings
from flows.ask_where import hotlines_text
from flows.base import (
    CHOICES_SLOT,
    FLOWS,
    TurnContext,
    check_forms,
    flow_claiming,
    flow_for_intent,
    required_responses,
)
from flows.conversation import MENU, ask_menu
from intents import Classification, SafetySignal, detect_safety, get_classifier
from intents.classifier import CONFIDENCE_THRESHOLD
from alerts.fanout import enqueue as fanout
from routing.counters import choose_counter
from routing.delivery import schedule_delivery

__all__ = ["ConversationEngine", "conversation_engine", "ENGINE_RESPONSES"]

# Importing every module of the flows package registers its flows (see flows.base.register).
for _module in pkgutil.iter_modules(flows.__path__):
    importlib.import_module(f"flows.{_module.name}")

log = logging.getLogger(__name__)

ENGINE_RESPONSES = (
    "utter_emergency_119",
    "utter_emergency_110",
    "utter_crisis",
    "utter_after_emergency_resume",
    "utter_cancelled",
    "utter_clarify",
    "utter_timeout_restart",
    "utter_greet",
    "utter_menu",
)

_CANCEL_WORDS = {"やめる", "やめます", "やめたい", "キャンセル", "取り消し", "取消", "中止", "最初から", "はじめから",
                 "もういい", "cancel", "start over", "restart", "quit"}
_HUMAN_PATTERNS = re.compile(
    r"(人|ひと|職員|担当|係|オペレーター|人間|相談員)(の方|さん)?と(話|はな)|"
    r"(オペレーター|職員|担当者|人間)(に|を)(つな|繋|代わ|かわ)|"
    r"talk to (a |an )?(human|person|staff|operator|someone)|real person|speak to (a |an )?(human|person|staff)"
)
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# The only digit that means something outside a question: 0 = a person, as on the phone menu.
HUMAN_DIGIT = "0"


def _plain(text: str) -> str:
    return re.sub(r"[\s。、.!！?？]+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def detect_language(text: str) -> str | None:
    """'ja' when the text has Japanese script, 'en' for Latin-only prose, None when unsure."""
    if _JAPANESE.search(text):
        return "ja"
    if len(_LATIN_WORD.findall(text)) >= 2:
        return "en"
    return None


class ConversationEngine:
    """Handles one inbound event at a time per call; safe to call from several threads."""

    def __init__(self, sessions: sessionmaker[Session], domain: Domain) -> None:
        domain.check_required(required_responses() | set(ENGINE_RESPONSES))
        check_forms(domain)
        self.sessions = sessions
        self.domain = domain

    # ------------------------------------------------------------------ public
    def handle(self, message: InboundMessage) -> TurnResult:
        with self.sessions() as session:
            result = self._turn(session, message)
            session.commit()
        if any(effect.kind in ("case_created", "case_linked") for effect in result.effects):
            schedule_delivery()
        if any(effect.kind == "alert_queued" for effect in result.effects):
            fanout.kick()
        return result

    # ------------------------------------------------------------------ the turn
    def _turn(self, session: Session, message: InboundMessage) -> TurnResult:
        contact = self._contact(session, message)
        if message.event == "unfollow":
            # Blocked or left: stop writing to them, alerts included (LINE multicast drops
            # such users silently, so the outbox would count them as sent).
            contact.active = False
            session.execute(update(CooperatorEndpoint).where(
                CooperatorEndpoint.channel == message.channel,
                CooperatorEndpoint.address == message.user_id).values(active=False))
            return TurnResult(contact_id=contact.id, language=contact.language)
        contact.active = True
        inbound = self._persist_inbound(session, contact, message)
        if inbound is None:
            log.info("duplicate event ignored channel=%s", message.channel)
            return TurnResult(duplicate=True, contact_id=contact.id, language=contact.language)

        now = message.received_at
        conversation, timed_out = self._conversation(session, contact, now)
        language = message.language or (detect_language(message.text) if message.text else None)
        if language:
            conversation.language = contact.language = language
        ctx = TurnContext(session, message, contact, conversation, self.domain, now)
        ctx.answer = self._match_choice(conversation, message)
        inbound.conversation_id = conversation.id

        if timed_out and message.event == "message":
            ctx.say("utter_timeout_restart")
        self._dispatch(ctx)
        inbound.intent = ctx.classification.intent if ctx.classification else None
        for reply in ctx.replies:
            session.add(Message(contact_id=contact.id, conversation_id=conversation.id,
                                direction=MessageDirection.outbound, channel=message.channel,
                                kind="text", text=reply.text))
        log.info("turn channel=%s flow=%s intent=%s replies=%d", message.channel, conversation.flow,
                 inbound.intent, len(ctx.replies))
        return TurnResult(ctx.replies, ctx.effects, contact_id=contact.id, language=conversation.language)

    def _dispatch(self, ctx: TurnContext) -> None:
        message = ctx.message
        if message.event in ("follow", "call_start"):
            ctx.finish()
            ctx.say("utter_greet")
            ask_menu(ctx)
            ctx.finish(keep_prompt=True)
            return
        if message.event == "silence":
            if not ctx.repeat_prompt():
                ask_menu(ctx)
            return

        if ctx.text:
            signal = detect_safety(ctx.text)
            if signal is not None and self._safety(ctx, signal):
                return
        plain = _plain(ctx.text)
        if plain in _CANCEL_WORDS or ctx.answer == "intent:cancel":
            ctx.finish()
            ctx.say("utter_cancelled")
            return
        if ctx.answer == "intent:talk_to_human" or _HUMAN_PATTERNS.search(plain):
            self._start(ctx, "talk_to_human")
            return
        if ctx.answer.startswith("intent:"):
            self._start(ctx, ctx.answer.removeprefix("intent:"))
            return
        claimed = flow_claiming(ctx.answer, plain)
        if claimed is not None:
            self._start(ctx, claimed.name)
            return

        active = FLOWS.get(ctx.conversation.flow or "")
        if active is not None:
            active.resume(ctx)
        else:
            self._classify_and_start(ctx)
        if ctx.switch_to == "*":
            ctx.switch_to = None
            self._classify_and_start(ctx)
        elif ctx.switch_to:
            self._start(ctx, ctx.switch_to)

    def _safety(self, ctx: TurnContext, signal: SafetySignal) -> bool:
        """Say the safety guidance first. True when nothing else should follow this turn."""
        if signal.kind == "emergency":
            response = "utter_emergency_110" if signal.service == "110" else "utter_emergency_119"
            ctx.say(response, urgent=True)
            ctx.effect("emergency_guidance", service=signal.service or "119")
            if ctx.conversation.flow:
                # Keep what the resident already told us; the question waits until they are safe.
                ctx.say("utter_after_emergency_resume")
                ctx.repeat_prompt()
            else:
                ctx.finish()
            return True
        # Suicidal ideation: crisis lines now, then the ward's こころの相談 through ask_where.
        lines = choose_counter(ctx.session, intent="ask_where", topic="mental", area=None, now=ctx.now).hotlines
        ctx.say("utter_crisis", urgent=True, hotlines=hotlines_text(ctx, lines))
        ctx.effect("crisis_guidance")
        if ctx.conversation.flow:
            ctx.repeat_prompt()
            return True
        ctx.classification = _given("ask_where", topic="mental", safety=signal)
        self._start(ctx, "ask_where", classified=True)
        return True

    def _classify_and_start(self, ctx: TurnContext) -> None:
        if not ctx.text:
            ask_menu(ctx, "utter_clarify")
            ctx.finish(keep_prompt=True)
            return
        classification = get_classifier().classify(ctx.text)
        ctx.classification = classification
        if classification.intent == "emergency":
            self._start(ctx, "emergency", classified=True)
            return
        # out_of_scope says what we do and shows the menu; ask_where with an unclear topic
        # asks the topic itself. Anything else we are unsure of gets a clarifying question.
        sure_of_intent = classification.is_confident or (
            classification.intent in ("out_of_scope", "ask_where")
            and classification.confidence >= CONFIDENCE_THRESHOLD)
        if not sure_of_intent:
            self._clarify(ctx, classification)
            return
        self._start(ctx, classification.intent, classified=True)

    def _clarify(self, ctx: TurnContext, classification: Classification) -> None:
        """Unsure: offer the likely flows (then the menu) as choices instead of guessing."""
        menu_intents = [intent for intent, _, _ in MENU]
        likely = [intent for intent, _ in ((classification.intent, 1.0), *classification.alternatives)
                  if intent in FLOWS and intent not in ("greet", "goodbye", "out_of_scope", "emergency")]
        ordered = list(dict.fromkeys([*likely[:2], *menu_intents]))
        titles = {intent: response for intent, response, _ in MENU}
        choices = [Choice(ctx.t(titles[intent]), f"intent:{intent}") for intent in ordered if intent in titles]
        ctx.finish()
        ctx.ask("utter_clarify", choices=choices)
        ctx.finish(keep_prompt=True)

    def _start(self, ctx: TurnContext, flow_name: str, classified: bool = False) -> None:
        flow = FLOWS.get(flow_name) or flow_for_intent(flow_name)
        if flow is None:
            # An intent whose flow this deployment does not run yet: say what we can do.
            flow = FLOWS["out_of_scope"]
        if not classified:
            ctx.classification = _given(flow.intents[0] if flow.intents else flow_name)
        keep = {k: v for k, v in ctx.conversation.slots.items() if k in ("place", "topic")} if flow.name == "talk_to_human" else {}
        ctx.finish()
        ctx.conversation.slots = keep
        ctx.conversation.flow = flow.name
        flow.start(ctx)
        if ctx.switch_to and ctx.switch_to != "*":
            next_flow, ctx.switch_to = ctx.switch_to, None
            self._start(ctx, next_flow)

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
        payload = {key: value for key, value in (
            ("postback", message.postback), ("latitude", message.latitude), ("longitude", message.longitude),
            ("address", message.address), ("media_ref", message.media_ref)) if value is not None}
        return payload or None

    def _conversation(self, session: Session, contact: Contact, now: datetime) -> tuple[Conversation, bool]:
        conversation = session.scalar(
            select(Conversation).where(Conversation.contact_id == contact.id, Conversation.active.is_(True))
            .order_by(Conversation.id.desc()).limit(1)
        )
        timed_out = False
        if conversation is not None and now - conversation.updated_at > timedelta(
                minutes=settings.conversation_timeout_minutes):
            timed_out = conversation.flow is not None
            conversation.active = False
            conversation = None
        if conversation is None:
            conversation = Conversation(contact_id=contact.id, language=contact.language, slots={}, started_at=now)
            session.add(conversation)
            session.flush()
        conversation.updated_at = now
        return conversation, timed_out

    @staticmethod
    def _match_choice(conversation: Conversation, message: InboundMessage) -> str:
        """The resident's answer: a button payload, or a typed/pressed number or title of a choice."""
        if message.postback:
            answer = message.postback
        else:
            answer = (message.text or "").strip()
        plain = _plain(answer)
        for title, payload, digit in conversation.slots.get(CHOICES_SLOT, []):
            if plain in (digit, _plain(title)):
                return payload
        if plain == HUMAN_DIGIT:
            return "intent:talk_to_human"
        return answer


def _given(intent: str, topic: str | None = None, safety: SafetySignal | None = None) -> Classification:
    """The classification of a message whose intent is already known (a button, the safety layer)."""
    return Classification(intent=intent, topic=topic, topics=(), confidence=1.0, safety=safety, alternatives=())


_ENGINE_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def conversation_engine() -> ConversationEngine:
    """The process-wide engine on the configured database (migrated and seeded on first use)."""
    with _ENGINE_LOCK:
        init_db()
        return ConversationEngine(session_factory(), load_domain())
