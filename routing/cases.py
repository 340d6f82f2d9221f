"""Cases: a matter handed to one counter, its first-contact deadline, lifecycle and deliveries.

A case moves ``new → acknowledged → contacted → closed``; closing needs a reason. A
missing-person case ends its search first: ``found`` or ``cancelled`` (from any open
status, when its alert ends), then ``closed`` (by staff, or when the alert's data is purged);
it stays open until then so the family's last words still reach the desk.
Its first contact is due ``first_contact_hours`` after it was opened (the counter's
own value from the directory, else the setting). A worry report about a household
that already has an open case reported within ``duplicate_worry_days`` is linked to
that case as a ``repeat_report`` event — the counter gets the new sighting as an
update instead of a second case. Only a plausibly same household links (the same 丁目
and a matching room, house number or building: :class:`Household`); other open reports
of the same town and 丁目 are marked ``possibly_related`` on both cases, for staff.
Details a resident adds later are ``details_added`` events (:func:`add_details`).
Every new case, linked report and added detail is queued for delivery to each active
target of the case's counter, and only that counter's.

A report about a person is saved from its first answer (:func:`save_draft`), so that a
caller who hangs up to phone 110 — as the first reply tells them to — or a chat left
half-way leaves a case staff can act on, with the reporter's number or contact. Such a
*draft* is an ordinary ``new`` case whose details say ``incomplete``; its first-contact
clock runs from the first answer, and it is listed to staff at once (urgent first).
Completing the form turns the same row into the complete case (:func:`open_case` with
``draft=``), never a second one. Delivery to the counter happens once for a worry report:
when it is complete (a repeat report of a known household is then linked and its draft
removed), or — left half-way — when nobody answered for ``conversation_timeout_minutes``
(:func:`send_abandoned_drafts`, run by housekeeping), marked incomplete. An urgent report
(a missing person) is delivered as soon as its counter is known — the alert desk must
not wait for the clothing question, nor for a timeout — and its completion follows as a
``report_completed`` update. A draft whose place is not known yet has no counter
(``counter_id`` empty) and is listed by ``tsunagu cases list`` for staff to take on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.models import Case, CaseEvent, CaseKind, CaseStatus, Delivery, DeliveryTarget, utcnow
from bot.settings import settings
from intents.normalize import kanji_number
from routing.areas import AreaResolution
from routing.partners import notify_closed
from routing.snapshot import get_directory
from routing.targets import ensure_console_target

__all__ = [
    "INCOMPLETE",
    "OPEN_STATUSES",
    "SEARCH_ENDINGS",
    "Household",
    "InvalidTransition",
    "add_details",
    "case_facts",
    "case_for_counter",
    "cases_for_counter",
    "household_key",
    "open_case",
    "overdue_cases",
    "save_draft",
    "send_abandoned_drafts",
    "transition",
]

OPEN_STATUSES = (CaseStatus.new, CaseStatus.acknowledged, CaseStatus.contacted, CaseStatus.found,
                 CaseStatus.cancelled)
# How a missing-person case's search ends; no other kind of case has them.
SEARCH_ENDINGS = frozenset({CaseStatus.found, CaseStatus.cancelled})
# The detail that marks a draft (a report saved before it was complete), with what staff should know.
INCOMPLETE = "incomplete"
# The counter of a draft whose place is not known yet: the alert desk sees it (bot.staff_api).
NO_COUNTER_YET = ""
INCOMPLETE_NOTE = "incomplete: the reporter hung up or stopped answering before the report was complete"
# Forward only. A counter may close a case it never had to contact (a duplicate, the
# person turned up) and may call before acknowledging.
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.new: frozenset({CaseStatus.acknowledged, CaseStatus.contacted, CaseStatus.closed, *SEARCH_ENDINGS}),
    CaseStatus.acknowledged: frozenset({CaseStatus.contacted, CaseStatus.closed, *SEARCH_ENDINGS}),
    CaseStatus.contacted: frozenset({CaseStatus.closed, *SEARCH_ENDINGS}),
    CaseStatus.found: frozenset({CaseStatus.closed}),
    CaseStatus.cancelled: frozenset({CaseStatus.closed}),
    CaseStatus.closed: frozenset(),
}

_KANJI_NUMBER_RE = re.compile(r"[〇零一二三四五六七八九十]+(?=丁目|番|号|の|-)")
# Between two numbers of one address: 丁目 (spoken with pauses: 「2 丁目 3 番」), or 番/番地/の/a
# dash written tight — so that 「3番 4日前から」 does not become 3-4.
_SEPARATOR = r"(?:\s*丁目\s*|\s*(?:番地|番|の|[-‐‑‒–—−ー]))"
_ADDRESS_RE = re.compile(rf"(\d+)(?:{_SEPARATOR}(\d+))?(?:{_SEPARATOR}(\d+))?\s*(丁目|番地?|号)?")
_POSTAL_RE = re.compile(r"〒?\s*\d{3}-?\d{4}")
# 「301号室」「301号」 (a flat: not 「3番5号」's house number, not 「3号棟」), a floor (「1階」, not
# 「3階建て」), or the number right after a building's name (「柳町ハイツ301」).
_ROOM_RE = re.compile(
    r"(?i:room|flat|apt\.?|apartment|unit|no\.)\s*#?\s*(\d{1,4})\b|(\d{1,4})\s*号室|(\d{1,2}\s*階)(?!建)|(?<![番\d-])(\d{3,4})\s*号(?![棟館\d])|(?<=[ァ-ヶー])\s*(\d{3,4})(?![\d丁番号棟-])")
# A building's name: a word ending in what buildings are called (柳町ハイツ, グリーン荘,
# 市営柳町団地 3号棟), or starting so (メゾン柳町).
_BUILDING_RE = re.compile(
    r"(?:メゾン|コーポ|ハイツ|パレス|グラン)[ァ-ヶー一-龥A-Za-z]+|"
    r"[ぁ-んァ-ヶー一-龥A-Za-z]+(?:ハイツ|マンション|アパート|荘|コーポ|レジデンス|団地|ビル|ハウス|パレス|コート|ヒルズ|"
    r"タワー|住宅|寮|メゾン)(?:\s*\d+\s*号?棟)?|"
    # A shop is one household too (「角のたばこ屋」「たばこ屋さん」), and English names ("Sunrise Mansion").
    r"[ぁ-んァ-ヶー一-龥]+(?:屋|店|商店|食堂|医院)(?![ぁ-ん]*[内前横裏]|[一-龥])|"
    r"(?:[A-Z][A-Za-z]*\s+)+(?:Mansion|Heights|Apartments?|Court|House|Residence|Building|Tower|Haitsu|Kopo)\b")
# "3-chome", "3 chome" as residents write it in English.
_CHOME_EN_RE = re.compile(r"(\d+)\s*-?\s*chome", re.IGNORECASE)
# The Japanese particle before a name that ran into it: 「角のたばこ屋」 is たばこ屋.
_BEFORE_NAME = re.compile(r".*[のにでがはをもと、,]")
# Words that end like a name but name no particular place.
_NO_NAME = frozenset({"お店", "店", "お宅", "屋", "商店"})
_KEY_RE = re.compile(r"([^:]+):(\d*)/([\d-]*)(?:#(\d+階?))?(?:@(.+))?")
# At most this many open cases nearby are marked possibly related to a new one.
_RELATED_MAX = 5


# The conversation contract's ``fields`` of a case effect, by case kind: the contract name and
# the case detail it comes from. ``contact`` is added to every kind (only its kind, never a number).
_FIELDS: dict[CaseKind, dict[str, str]] = {
    CaseKind.worry: {"observation": "noticed", "since": "since_when"},
    CaseKind.missing: {"who": "who", "last_seen_where": "last_seen_where", "last_seen_when": "last_seen_when",
                       "clothing": "clothing"},
}


def case_facts(case: Case, details: dict[str, Any] | None = None, callback_consent: bool | None = None) -> dict[str, Any]:
    """What a ``case_created`` / ``case_linked`` / ``case_updated`` effect says about its case.

    The conversation contract (docs/conversation-contract.md): the case's id, kind, counter,
    town and urgency, and ``fields``, what the resident told us in the contract's names.

    Args:
        case: the case.
        details: the report's details when they are not the case's own (a linked repeat
            report tells its own observation); the case's details by default.
        callback_consent: the report's consent to a call-back, with ``details``.

    Returns:
        The effect's data.
    """
    details = case.details if details is None else details
    consent = case.callback_consent if callback_consent is None else callback_consent
    fields = {name: details.get(key) for name, key in _FIELDS.get(case.kind, {}).items()}
    # How the counter can reach the reporter, never the number itself: effects are logged.
    fields["contact"] = "phone" if details.get("callback_phone") else ("channel" if consent else None)
    if details.get("questions"):
        # Questions the resident put to the bot during the report, for staff to answer.
        fields["questions"] = details["questions"]
    facts = {"case_id": case.id, "case_kind": case.kind.value, "counter_id": case.counter_id,
             "town_id": case.town_id, "urgent": case.urgent, "fields": fields}
    if details.get("town_unknown"):
        # The resident did not know the town and gave a landmark: staff must look for it.
        facts["place_unknown"] = True
    if details.get(INCOMPLETE):
        # Saved before the report was complete (the reporter hung up or stopped answering).
        facts["incomplete"] = True
    return facts


def add_details(session: Session, case: Case, text: str, *, source: str | None, now: datetime | None = None,
                kind: str = "added", guidance: str | None = None) -> CaseEvent:
    """Add what the resident said after the report to the case, and queue it for the counter.

    Stored once, as a ``details_added`` event (the resident's words and the channel they
    came on, nothing else); delivered to every active target of the case's counter as an
    update, the way a linked repeat report is. Runs in the caller's transaction; call
    ``routing.delivery.schedule_delivery`` after committing.

    Args:
        session: the caller's session.
        case: an open case (the caller checks it is still the resident's to add to).
        text: the resident's words.
        source: the channel they came on.
        now: the current time (aware); defaults to now.
        kind: what the words are, as a detail key staff read under its label
            (``routing.methods.DETAIL_LABELS``): "added" (more about the matter) or "questions"
            (a question for the staff to answer).
        guidance: the urgent call the resident was told to make on these words (「119番」),
            kept beside them as detail ``guidance``.

    Returns:
        The event.
    """
    now = now or utcnow()
    told = {kind: text, **({"guidance": guidance} if guidance else {})}
    event = CaseEvent(case_id=case.id, kind="details_added", actor=source, created_at=now,
                      details={"details": told, "channel": source})
    session.add(event)
    session.flush()
    _queue_deliveries(session, case, event)
    session.flush()
    return event


class InvalidTransition(ValueError):
    """A status change the lifecycle does not allow (or a close without a reason)."""


@dataclass(frozen=True)
class Household:
    """Where the person a worry report is about lives, as precisely as the report said it.

    ``block`` is the 丁目; ``house`` the 番(地)-号 after it; ``room`` the 号室; ``building``
    the building's name. A 丁目 alone is a neighbourhood, not a household.
    """

    town_id: str
    block: str = ""
    house: str = ""
    room: str = ""
    building: str = ""

    @property
    def key(self) -> str:
        """``"kita-2-2:2/3-5#301@柳町ハイツ"``: stored as ``Case.household_key``."""
        return (f"{self.town_id}:{self.block}/{self.house}" + (f"#{self.room}" if self.room else "")
                + (f"@{self.building}" if self.building else ""))

    @classmethod
    def from_key(cls, key: str) -> Household | None:
        match = _KEY_RE.fullmatch(key)
        if match is None:
            return None
        return cls(*(part or "" for part in match.groups()))

    def same_as(self, other: Household) -> bool:
        """Plausibly the same household: the same town and 丁目 (which a report naming the
        same building may leave out), and a matching room, house number or building —
        never on the 丁目 alone, and never when two details differ."""
        if self.town_id != other.town_id:
            return False
        # A building's name is one place in a town: with it, one report may leave out the 丁目.
        named = bool(self.building) and self.building == other.building
        if self.block != other.block and not (named and not (self.block and other.block)):
            return False

        def agree(mine: str, theirs: str) -> bool:
            # A name in Latin letters and one in Japanese cannot be compared: neither contradicts.
            return not mine or not theirs or mine == theirs or mine.isascii() != theirs.isascii()

        if not (agree(self.house, other.house) and agree(self.building, other.building)):
            return False
        if self.room or other.room:
            # Rooms tell flats of one building apart: both must say the same one.
            return self.room == other.room
        return bool((self.house and other.house) or (self.building and other.building))

    def near(self, other: Household) -> bool:
        """The same town and 丁目 (or one of them did not say its 丁目): possibly related."""
        return self.town_id == other.town_id and (not self.block or not other.block or self.block == other.block)


def _building_and_room(text: str) -> tuple[str, str, str]:
    """The building's name and the 号室/floor the words name, and the words without them."""
    words = _POSTAL_RE.sub(" ", unicodedata.normalize("NFKC", text))
    # Every way the words may name a building; the longest name is the building's (「コーポ松原」,
    # not the 「コーポ」 that 「2丁目のコーポ」 ends with).
    names = [name for start in range(len(words)) if (match := _BUILDING_RE.match(words, start)) is not None
             and (name := _BEFORE_NAME.sub("", match.group(0))) not in _NO_NAME]
    named = max(names, key=lambda name: len(name.strip()), default="")
    room_match = _ROOM_RE.search(words)
    room = next((group for group in room_match.groups() if group), "") if room_match else ""
    for matched in (room_match.group(0) if room_match else "", named):
        if matched:
            words = words.replace(matched, " ")
    # 「1 階」 and 「1階」: a floor is kept as said, a flat as its number.
    return re.sub(r"\s+", "", named), re.sub(r"\s+", "", room), words


def household_key(area: AreaResolution | None, detail: str | None, where_text: str | None,
                  other_words: str | None = None) -> str | None:
    """A normalised address of the person concerned, used to link repeat worry reports.

    The town id, the 丁目 and 番-号 numbers (「柳町2丁目3番」「柳町２－３」「柳町二丁目三番地」
    give the same), the 号室 and the building's name (「柳町ハイツ301号室」). Without a
    resolved town, or with nothing more than the town, there is no key. A key that holds
    only the 丁目 never links two reports (:meth:`Household.same_as`): it only marks them
    as possibly related.

    Args:
        area: the resolved place; only a resolved town gives a key.
        detail: the 丁目/番地 part found by place extraction.
        where_text: the resident's words (or the flow's label) for the place.
        other_words: the report's other words (what was noticed), where a building or
            号室 may be named instead.

    Returns:
        ``"kita-2-2:2/3"``-style key (see :attr:`Household.key`), or None.
    """
    if area is None or area.status != "resolved" or area.town is None:
        return None
    building, room, words = _building_and_room(where_text or "")
    if other_words and not (building and room):
        # 「メゾン末広205号室のおばあさんの新聞が…」 then 「末広町3丁目です」: the building
        # and flat the report named elsewhere are this household's too.
        other_building, other_room, _ = _building_and_room(other_words)
        building, room = building or other_building, room or other_room
    words = _CHOME_EN_RE.sub(r"\1丁目", words)
    # The numbers: the 丁目/番地 part place extraction found, else the resident's words.
    source = _POSTAL_RE.sub(" ", unicodedata.normalize("NFKC", detail)) if detail else words
    for name in (area.town.ward, area.town.town):
        source = source.replace(name, " ")
    source = _KANJI_NUMBER_RE.sub(lambda number: str(kanji_number(number.group(0))), source)
    block = house = ""
    for match in _ADDRESS_RE.finditer(source):
        numbers = [str(int(n)) for n in match.groups()[:3] if n]
        mark = match.group(4) or ""
        # A lone number is an address only when marked as one (2丁目, 3番) — not 「3階」.
        if len(numbers) > 1:
            block, house = numbers[0], "-".join(numbers[1:])
        elif mark == "丁目":
            block = numbers[0]
        elif mark:
            house = numbers[0]
        else:
            continue
        break
    if not (block or house or room or building):
        return None
    return Household(area.town.town_id, block, house, room, building).key


def _queue_deliveries(session: Session, case: Case, event: CaseEvent) -> None:
    if not case.counter_id:
        return  # no counter yet (the place is not known): nowhere to send it
    ensure_console_target(session, case.counter_id)
    targets = session.scalars(
        select(DeliveryTarget).where(DeliveryTarget.counter_id == case.counter_id, DeliveryTarget.active)
    )
    session.add_all(Delivery(case_id=case.id, case_event_id=event.id, target_id=target.id) for target in targets)


def _nearby_cases(session: Session, household: Household, now: datetime,
                  exclude: Case | None = None) -> tuple[Case | None, list[Case]]:
    """The open worry case of the same household, if any, and the other open ones nearby.

    Only cases reported within ``duplicate_worry_days`` count, newest first.
    """
    if session.get_bind().dialect.name == "postgresql":
        # Two reports from one town at the same moment must not open two cases for one household.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:town))"), {"town": f"worry:{household.town_id}"})
    window_start = now - timedelta(days=settings.duplicate_worry_days)
    candidates = session.scalars(
        select(Case)
        .where(
            Case.kind == CaseKind.worry,
            Case.town_id == household.town_id,
            Case.status.in_(OPEN_STATUSES),
            Case.last_report_at >= window_start,
        )
        .order_by(Case.id.desc())
    )
    same: Case | None = None
    near: list[Case] = []
    for case in candidates:
        if exclude is not None and case.id == exclude.id:
            continue  # the report's own draft
        other = Household.from_key(case.household_key) if case.household_key else Household(household.town_id)
        if other is None:
            continue
        if same is None and household.same_as(other):
            same = case
        elif household.near(other) and len(near) < _RELATED_MAX:
            near.append(case)
    return same, near


def _mark_related(session: Session, case: Case, others: list[Case], actor: str | None, now: datetime) -> None:
    """Tell staff that reports nearby may be about the same person, on both cases (never to residents)."""
    for other in others:
        session.add_all([
            CaseEvent(case_id=case.id, kind="possibly_related", actor=actor, created_at=now,
                      details={"case_id": other.id}),
            CaseEvent(case_id=other.id, kind="possibly_related", actor=actor, created_at=now,
                      details={"case_id": case.id}),
        ])


def save_draft(
    session: Session,
    *,
    draft: Case | None,
    kind: CaseKind,
    topic: str,
    counter_id: str | None,
    area: AreaResolution | None,
    details: dict[str, Any],
    reason: str,
    channel: str | None,
    language: str,
    urgent: bool = False,
    reporter_contact_id: int | None = None,
    now: datetime | None = None,
) -> tuple[Case, bool]:
    """Save a report from its first answer, or update its draft with the answers so far.

    The draft keeps the reporter's contact (a hang-up must leave someone to call back)
    and is marked :data:`INCOMPLETE`. An urgent draft is queued for delivery once its
    counter is known (see the module docstring). Runs in the caller's transaction.

    Args:
        session: the caller's session.
        draft: the draft saved by an earlier answer, or None for the first one.
        kind: worry or missing.
        topic: the directory topic.
        counter_id: the counter, once the place tells it; None before.
        area: the place as far as it is known.
        details: the answers so far, as the complete case will hold them.
        reason: why this counter.
        channel: the channel the report comes in on.
        language: the reporter's language.
        urgent: a missing person: shown first, an urgent first-contact deadline, delivered at once.
        reporter_contact_id: the reporter's contact.
        now: the current time (aware); defaults to now.

    Returns:
        ``(case, queued)``: queued is True when this save queued its delivery.
    """
    now = now or utcnow()
    if draft is None or not draft.details.get(INCOMPLETE) or draft.status != CaseStatus.new:
        hours = _first_contact_hours(session, counter_id, urgent)
        draft = Case(kind=kind, topic=topic, status=CaseStatus.new, urgent=urgent, counter_id=NO_COUNTER_YET,
                     routing_reason="", details={}, channel=channel, language=language,
                     reporter_contact_id=reporter_contact_id, callback_consent=reporter_contact_id is not None,
                     created_at=now, last_report_at=now, first_contact_due=now + timedelta(hours=hours))
        session.add(draft)
    if counter_id and (not draft.counter_id or not _delivered(session, draft)):
        draft.counter_id = counter_id  # the place may still change until the draft reaches a desk
    _place(draft, area)
    draft.routing_reason = reason
    draft.details = {**details, INCOMPLETE: INCOMPLETE_NOTE}
    draft.last_report_at = now
    session.flush()
    queued = urgent and bool(draft.counter_id) and not _delivered(session, draft)
    if queued:
        event = CaseEvent(case_id=draft.id, kind="created", actor=channel, created_at=now,
                          details={"reason": reason, INCOMPLETE: True})
        session.add(event)
        session.flush()
        _queue_deliveries(session, draft, event)
        session.flush()
    return draft, queued


def send_abandoned_drafts(session: Session, now: datetime, quiet: timedelta) -> int:
    """Queue the drafts nobody answered for ``quiet`` (a conversation timed out, a call
    ended) for their counters, marked incomplete: delivery happens once, complete or not.

    Housekeeping runs it every minute. A draft is a case with no ``created`` event (a
    complete case always has one); one with no counter yet waits, listed, for staff.

    Args:
        session: the caller's session.
        now: the current time (aware).
        quiet: how long since the last answer (``conversation_timeout_minutes``).

    Returns:
        How many drafts were queued.
    """
    created = select(CaseEvent.id).where(CaseEvent.case_id == Case.id, CaseEvent.kind == "created").exists()
    drafts = session.scalars(select(Case).where(Case.status == CaseStatus.new, Case.counter_id != "",
                                                Case.last_report_at < now - quiet, ~created))
    sent = 0
    for draft in drafts:
        if not draft.details.get(INCOMPLETE):
            continue
        event = CaseEvent(case_id=draft.id, kind="created", actor="housekeeping", created_at=now,
                          details={"reason": draft.routing_reason, INCOMPLETE: True})
        session.add(event)
        session.flush()
        _queue_deliveries(session, draft, event)
        sent += 1
    session.flush()
    return sent


def _first_contact_hours(session: Session, counter_id: str | None, urgent: bool) -> int:
    service = get_directory(session).services.get(counter_id) if counter_id else None
    hours = (service.first_contact_hours if service else None) or settings.first_contact_hours
    # A missing person is searched for in hours, not a day (issue 16, item 9).
    return min(hours, settings.urgent_first_contact_hours) if urgent else hours


def _place(case: Case, area: AreaResolution | None) -> None:
    """The case's town, care area and ward, as far as ``area`` tells them."""
    if area is not None and (area.town is not None or area.ward_code):
        case.town_id = area.town.town_id if area.town else None
        case.sphere = area.sphere
        case.ward = area.ward_code


def _delivered(session: Session, case: Case) -> bool:
    """Whether the case's creation was queued for its counter already (an urgent draft's is)."""
    query = select(CaseEvent.id).where(CaseEvent.case_id == case.id, CaseEvent.kind == "created").limit(1)
    return case.id is not None and session.scalar(query) is not None


def open_case(
    session: Session,
    *,
    kind: CaseKind,
    topic: str,
    counter_id: str,
    area: AreaResolution | None,
    details: dict[str, Any],
    reason: str,
    channel: str | None,
    language: str,
    urgent: bool = False,
    household_key: str | None = None,
    reporter_contact_id: int | None = None,
    callback_consent: bool = False,
    now: datetime | None = None,
    draft: Case | None = None,
) -> tuple[Case, bool]:
    """Open a case for a counter, or link a repeat worry report to the open one.

    Queues a delivery to every active target of the counter (a console target is
    always there). Runs in the caller's transaction; call
    ``routing.delivery.schedule_delivery`` after committing.

    Args:
        session: the caller's session.
        kind: consult, worry, missing or callback.
        topic: the directory topic (``watch`` for worry reports).
        counter_id: the service id chosen by ``choose_counter``; "" when the place is not
            known at all (the case waits, listed, for staff to assign it).
        area: the resolved place of the matter.
        details: what the counter needs (what was noticed, since when, ...); stored as given.
        reason: why this counter (``CounterChoice.reason``).
        channel: the channel the report came in on.
        language: the reporter's language.
        urgent: shown first to staff.
        household_key: from ``household_key``; a worry report of the same household
            (:meth:`Household.same_as`) is linked, nearby ones are marked possibly related.
        reporter_contact_id: kept only when the reporter agreed to a call back.
        callback_consent: whether the counter may contact the reporter.
        now: the current time (aware); defaults to now.
        draft: the report's draft (:func:`save_draft`): it becomes the complete case
            (delivered now, or — when it was delivered as urgent — with a
            ``report_completed`` update), or is removed when the report is linked.

    Returns:
        ``(case, linked)``: linked is True when the report was added to an existing case.

    Raises:
        ValueError: when ``counter_id`` is not an active service of the directory.
    """
    now = now or utcnow()
    # "": a report whose place nobody knew has no counter yet; listed to staff, sent nowhere.
    if counter_id and counter_id not in get_directory(session).services:
        raise ValueError(f"'{counter_id}' is not an active service of the directory")
    related: list[Case] = []
    household = Household.from_key(household_key) if household_key else None
    if household is None and kind == CaseKind.worry and area is not None and area.town is not None:
        household = Household(area.town.town_id)  # the town alone: never the same household, maybe related
    if draft is not None and not draft.details.get(INCOMPLETE):
        draft = None  # already complete (or staff closed it): this report is a case of its own
    if kind == CaseKind.worry and household is not None:
        existing, related = _nearby_cases(session, household, now, exclude=draft)
        if existing is not None and draft is not None and not _delivered(session, draft):
            # The same household's open case takes this report; its draft was never sent.
            session.delete(draft)
            session.flush()
        if existing is not None:
            event = CaseEvent(
                case_id=existing.id,
                kind="repeat_report",
                actor=channel,
                created_at=now,
                details={
                    "details": details,
                    "reason": reason,
                    "channel": channel,
                    "urgent": urgent,
                    "callback_consent": callback_consent,
                    "reporter_contact_id": reporter_contact_id if callback_consent else None,
                },
            )
            session.add(event)
            existing.report_count += 1
            existing.last_report_at = now
            existing.urgent = existing.urgent or urgent
            session.flush()
            _queue_deliveries(session, existing, event)
            session.flush()
            return existing, True
    if draft is not None:
        return _complete(session, draft, counter_id=counter_id, area=area, details=details, reason=reason,
                         channel=channel, household_key=household_key, reporter_contact_id=reporter_contact_id,
                         callback_consent=callback_consent, related=related, now=now), False
    hours = _first_contact_hours(session, counter_id, urgent)
    case = Case(
        kind=kind,
        topic=topic,
        status=CaseStatus.new,
        urgent=urgent,
        counter_id=counter_id,
        town_id=area.town.town_id if area and area.town else None,
        sphere=area.sphere if area else None,
        ward=area.ward_code if area else None,
        household_key=household_key,
        routing_reason=reason,
        details=details,
        channel=channel,
        language=language,
        reporter_contact_id=reporter_contact_id if callback_consent else None,
        callback_consent=callback_consent,
        created_at=now,
        last_report_at=now,
        first_contact_due=now + timedelta(hours=hours),
    )
    session.add(case)
    session.flush()
    event = CaseEvent(case_id=case.id, kind="created", actor=channel, created_at=now, details={"reason": reason})
    session.add(event)
    session.flush()
    _queue_deliveries(session, case, event)
    _mark_related(session, case, related, channel, now)
    session.flush()
    return case, False


def _complete(session: Session, draft: Case, *, counter_id: str, area: AreaResolution | None,
              details: dict[str, Any], reason: str, channel: str | None, household_key: str | None,
              reporter_contact_id: int | None, callback_consent: bool, related: list[Case],
              now: datetime) -> Case:
    """The draft becomes the complete case: its answers, its counter, its delivery."""
    draft.counter_id = counter_id
    _place(draft, area)
    draft.household_key = household_key
    draft.routing_reason = reason
    draft.details = details
    draft.reporter_contact_id = reporter_contact_id if callback_consent else None
    draft.callback_consent = callback_consent
    draft.last_report_at = now
    delivered = _delivered(session, draft)
    event = CaseEvent(case_id=draft.id, kind="report_completed" if delivered else "created", actor=channel,
                      created_at=now, details={"details": details} if delivered else {"reason": reason})
    session.add(event)
    session.flush()
    _queue_deliveries(session, draft, event)
    _mark_related(session, draft, related, channel, now)
    session.flush()
    return draft


def transition(
    session: Session,
    case: Case,
    status: CaseStatus,
    *,
    actor: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Move a case forward in its lifecycle and record who did it.

    Args:
        session: the caller's session.
        case: the case to change.
        status: the new status.
        actor: who (staff username or ``cli``).
        reason: why; required to close.
        now: the current time (aware); defaults to now.

    Raises:
        InvalidTransition: for a backward or repeated step, or a close without a reason.
    """
    now = now or utcnow()
    status = CaseStatus(status)
    if status not in TRANSITIONS[case.status]:
        raise InvalidTransition(f"case {case.id}: cannot go from {case.status.value} to {status.value}")
    if status in SEARCH_ENDINGS and case.kind != CaseKind.missing:
        raise InvalidTransition(f"case {case.id}: only a missing-person case can be {status.value}")
    if status == CaseStatus.closed and not (reason and reason.strip()):
        raise InvalidTransition(f"case {case.id}: closing needs a reason")
    previous = case.status
    if status in (CaseStatus.acknowledged, CaseStatus.contacted) and case.acknowledged_at is None:
        case.acknowledged_at = now
    if status == CaseStatus.contacted:
        case.contacted_at = now
    if status == CaseStatus.closed:
        case.closed_at, case.close_reason = now, reason.strip() if reason else None
    case.status = status
    session.add(
        CaseEvent(
            case_id=case.id,
            kind="status",
            actor=actor,
            created_at=now,
            details={"from": previous.value, "to": status.value, "reason": reason},
        )
    )
    if status == CaseStatus.closed:
        # A partner's reporter hears 「対応しました」 (the case number only).
        notify_closed(session, case, now)
    session.flush()


def overdue_cases(
    session: Session, now: datetime | None = None, counter_ids: Collection[str] | None = None
) -> list[Case]:
    """Cases whose first contact is past due and not yet made, most overdue first.

    Args:
        session: a session.
        now: the current time (aware); defaults to now.
        counter_ids: only these counters' cases; all counters when None.

    Returns:
        The overdue cases.
    """
    now = now or utcnow()
    query = select(Case).where(
        Case.status.in_((CaseStatus.new, CaseStatus.acknowledged)), Case.first_contact_due < now
    )
    if counter_ids is not None:
        query = query.where(Case.counter_id.in_(list(counter_ids)))
    return list(session.scalars(query.order_by(Case.first_contact_due, Case.id)))


def cases_for_counter(
    session: Session,
    counter_ids: Collection[str],
    *,
    statuses: Collection[CaseStatus] | None = OPEN_STATUSES,
    limit: int = 200,
    offset: int = 0,
) -> list[Case]:
    """The cases of some counters — staff only ever see their own counters' cases.

    Args:
        session: a session.
        counter_ids: the counters the staff member belongs to; empty means no cases.
        statuses: which statuses to list (open ones by default); None for all.
        limit: page size.
        offset: page start.

    Returns:
        Urgent cases first, then by first-contact deadline.
    """
    if not counter_ids:
        return []
    query = select(Case).where(Case.counter_id.in_(list(counter_ids)))
    if statuses is not None:
        query = query.where(Case.status.in_(list(statuses)))
    order = (Case.urgent.desc(), func.coalesce(Case.first_contact_due, Case.created_at), Case.id)
    return list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))


def case_for_counter(session: Session, case_id: int, counter_ids: Collection[str]) -> Case | None:
    """One case, only if it belongs to one of ``counter_ids`` (None otherwise).

    Args:
        session: a session.
        case_id: the case id.
        counter_ids: the counters the staff member belongs to.

    Returns:
        The case or None.
    """
    case = session.get(Case, case_id)
    return case if case is not None and case.counter_id in set(counter_ids) else None
