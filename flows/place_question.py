"""The place question shared by every flow that needs to know where: ask once, resolve, clarify.

Residents answer with a town in kanji, kana or romaji, a postal code, a LINE/Telegram
location, or a button. Ambiguous answers (北区 旭町 / 南区 朝日町, both "あさひ") get
one follow-up question with the candidates as buttons; we never guess silently. Wards
and towns are shown in the resident's language (romaji for Latin-script readers, from towns.csv).

Where a wrong place is costly, the town found is read back before it is used
(「南区の朝日町（あさひちょう）ですね。よろしければ1、違う場合は2」): on the phone always
(speech recognition mishears まち/ちょう and wards), on other channels when the town
was found from a reading other towns share, from its other reading, against the ward
said (``intents.places.Place.confirm``), or from low-confidence speech. "No" asks
between the towns that sound the same, else where again.

Reports about a person need more than a ward (a watch team cannot find anyone from
「南区」): :func:`flows.steps.read_report_place` builds on this module for that.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from typing import Any, Literal

from sqlalchemy.orm.attributes import flag_modified

from bot.messages import Choice
from flows.base import TurnContext, intent_button, is_no, is_yes
from intents.normalize import fold_for_matching
from intents.places import Place, extract_place
from routing.areas import (
    OUTSIDE,
    AreaResolution,
    TownOption,
    resolve_area,
    resolve_town_id,
    resolve_ward_code,
    town_name,
    town_romaji,
    ward_name,
    ward_options,
)
from routing.directory import load_gazetteer
from routing.readers import reads_kanji
from routing.snapshot import get_directory

__all__ = [
    "PLACE_RESPONSES",
    "READ_BACK_SLOT",
    "REPORT_FLOWS",
    "REPORT_PLACE_SLOT",
    "UNKNOWN_PLACE",
    "WARD_SLOT",
    "ask_place",
    "ask_town_in_ward",
    "ask_which_town",
    "pick_by_ward",
    "dont_know_choice",
    "area_from_record",
    "ask_read_back",
    "forget_slot",
    "low_confidence",
    "needs_read_back",
    "read_back_answer",
    "sound_alike_towns",
    "is_bare_place",
    "is_only_a_place",
    "looks_like_place",
    "person_choice",
    "place_already_given",
    "place_from_message",
    "place_label",
    "place_record",
    "read_place",
    "reader_place_label",
    "says_dont_know",
    "sound_alike_towns",
    "spot_words",
    "town_choices",
    "ward_choices",
]

PLACE_RESPONSES = (
    "utter_ask_ward",
    "utter_ask_town_in_ward",
    "utter_ask_which_town",
    "utter_place_not_found",
    "utter_choice_dont_know",
    "utter_choice_talk_to_human",
    "utter_place_read_back",
    "utter_choice_yes",
    "utter_choice_no",
)

# The flows whose place is where a person lives or was last seen: a town at least.
REPORT_FLOWS = ("report_worry", "report_missing")
# What a report's place question has learned so far (ward, landmark, what it is asking).
REPORT_PLACE_SLOT = "_report_place"
# The payload of the "I don't know" button of a report's place questions.
UNKNOWN_PLACE = "place:unknown"
# Above this many towns a button list stops helping (LINE shows at most 13 quick replies).
MAX_TOWN_BUTTONS = 12
# Keys 1-8 choose on the phone (9 and 0 mean the same everywhere: flows.conversation).
KEYPAD_CHOICES = 8
# The ward whose towns read_place has just offered.
WARD_SLOT = "_place_ward"
# The towns read_place has just asked between (sound-alike names).
CANDIDATES_SLOT = "_place_candidates"
# Where read_place counts the answers it could not place (when asked to give up).
MISSES_SLOT = "_place_misses"
# 「わからない」「分かりません」「知らん」「不明」, "I don't know", "not sure" — folded text.
_DONT_KNOW = re.compile(
    r"わから|分から|わかりません|分かりません|わかんな|分かんな|しらない|知らない|しらん|知らん|(?<!行方)不明|覚えてない|"
    r"覚えていない|おぼえて(い)?ない|don'?t know|do not know|not sure|no idea|unknown|dunno|not known|"
    # The residents' languages: not known, not remembered.
    r"không biết|khong biet|không nhớ|모르겠|몰라|기억이 안|não sei|nao sei|não lembro|no sé|no lo sé|no me acuerdo|"
    r"不知道|不清楚|不记得|不記得|hindi ko alam|di ko alam|hindi ko maalala|\bewan\b|थाहा छैन|थाहा भएन|याद छैन"
)
# What may surround a place in an answer that is only a place: 「北区柳町です」「〒000-0110 に住んでいます」
# "I live in Kita-ku". Whatever is left besides these is the resident saying something else.
_PLACE_FILLER = re.compile(
    r"[\s、。,.!！?？()（）「」〒:：]|に住んでいます|に住んでる|住んでいます|住所は|住所|郵便番号は?|在住|"
    r"あたり|辺り|付近|の近く|近く|のへん|の辺|のほう|の方|ほう|から|にいます|でございます|ございます|"
    r"だと思います|と思います|でした|です|だよ|やね|やで|やわ|じゃ|だ|で|の|に|は|や|"
    r"\b(?:i|we|she|he|they|live|lives|living|in|at|it|it's|is|my|our|address|postal|post|zip|code|the|near|around)\b",
    re.IGNORECASE,
)
# A bare place leaves at most this many characters of other words.
_BARE_LEFTOVER = 3
# The town read back to the resident, waiting for yes or no: {"town_id", "detail"}.
READ_BACK_SLOT = "_place_read_back"
# Below this speech-recognition confidence (Twilio's Confidence, 0–1) an answer is read back.
LOW_CONFIDENCE = 0.6


def forget_slot(ctx: TurnContext, name: str) -> None:
    """Drop a slot this module keeps while a place question is open."""
    if name in ctx.slots:
        del ctx.slots[name]
        flag_modified(ctx.conversation, "slots")


def ward_choices(ctx: TurnContext) -> list[Choice]:
    """The wards as buttons, named in the resident's language."""
    return [Choice(name, f"ward:{code}") for code, name in ward_options(ctx.session, ctx.lang)]


def town_choices(ctx: TurnContext, towns: Sequence[TownOption], *, with_ward: bool,
                 with_reading: bool = False) -> list[Choice]:
    """Towns as buttons (at most MAX_TOWN_BUTTONS), in the resident's language; with their
    kana reading when asked (sound-alikes: 「北区 旭町（あさひまち）」, said so on the phone)."""
    return [Choice(_town_title(ctx, town, with_ward=with_ward, with_reading=with_reading), f"town:{town.town_id}")
            for town in towns[:MAX_TOWN_BUTTONS]]


def _town_title(ctx: TurnContext, town: TownOption, *, with_ward: bool, with_reading: bool) -> str:
    name = town_name(ctx.session, town, ctx.lang, with_ward=with_ward)
    if not with_reading or not reads_kanji(ctx.lang):  # the romaji is the reading already
        return name
    read = get_directory(ctx.session).gazetteer.by_id.get(town.town_id)
    return f"{name}（{read.town_kana}）" if read and read.town_kana else name


def sound_alike_towns(ctx: TurnContext, town_id: str) -> list[TownOption]:
    """The towns read like this one but for まち/ちょう (itself included)."""
    directory = get_directory(ctx.session)
    return [directory.towns[alike].option for alike in directory.gazetteer.sound_alikes(town_id)
            if alike in directory.towns]


def ask_which_town(ctx: TurnContext, towns: Sequence[TownOption], *, dont_know: bool = False) -> None:
    """Which of these towns, each with its ward and (sound-alikes) its kana reading."""
    choices = town_choices(ctx, towns, with_ward=True, with_reading=True)
    if dont_know:
        choices.append(dont_know_choice(ctx))
    ctx.ask("utter_ask_which_town", choices=choices)


def low_confidence(ctx: TurnContext) -> bool:
    """Whether speech recognition was unsure of this answer (the channel's ``confidence``)."""
    value = ctx.message.metadata.get("confidence")
    try:
        return value not in (None, "") and float(value) < LOW_CONFIDENCE
    except (TypeError, ValueError):
        return False


def needs_read_back(ctx: TurnContext, area: AreaResolution) -> bool:
    """Whether the town this answer resolved to is read back before it is used: on the phone
    always; elsewhere when it was found from a shared or other reading, against the ward
    said, or from low-confidence speech (a button the resident tapped is what they chose)."""
    if area.status != "resolved" or area.town is None:
        return False
    if ctx.channel == "voice":
        return True
    if ctx.answer.startswith("town:"):
        return False
    text = " ".join(part for part in (ctx.text, ctx.message.address or "") if part)
    place = _extracted(ctx, text) if text else None
    return (place is not None and place.confirm is not None) or low_confidence(ctx)


def ask_read_back(ctx: TurnContext, area: AreaResolution, detail: str | None) -> None:
    """「南区の朝日町（あさひちょう）ですね。よろしければ1、違う場合は2」."""
    assert area.town is not None
    ctx.set_slot(READ_BACK_SLOT, {"town_id": area.town.town_id, "detail": detail})
    place = " ".join(filter(None, (_town_title(ctx, area.town, with_ward=True, with_reading=True), detail)))
    ctx.ask("utter_place_read_back", choices=[Choice(ctx.t("utter_choice_yes"), "yes"),
                                              Choice(ctx.t("utter_choice_no"), "no")], place=place)


def read_back_answer(ctx: TurnContext) -> tuple[Literal["none", "confirmed", "rejected", "asked"],
                                               AreaResolution | None, str | None]:
    """The answer to a place read back, when one is waiting.

    Returns:
        ``("none", None, None)``: nothing was read back, or the answer is a new place (read
        it as usual); ``("confirmed", area, detail)``: yes; ``("rejected", area, None)``: no,
        ``area`` being the town refused; ``("asked", None, None)``: neither, asked again.
    """
    waiting = ctx.slots.get(READ_BACK_SLOT)
    if not waiting:
        return "none", None, None
    area = resolve_town_id(ctx.session, waiting["town_id"])
    if ctx.answer == "yes" or is_yes(ctx.answer):
        forget_slot(ctx, READ_BACK_SLOT)
        if waiting.get("detail"):
            ctx.set_slot("_place_detail", waiting["detail"])
        return "confirmed", area, waiting.get("detail")
    if ctx.answer != "no" and looks_like_place(ctx):
        # 「いいえ、北区の旭町です」: the right place instead.
        forget_slot(ctx, READ_BACK_SLOT)
        return "none", None, None
    if ctx.answer == "no" or is_no(ctx.answer):
        forget_slot(ctx, READ_BACK_SLOT)
        return "rejected", area, None
    ctx.repeat_prompt()
    return "asked", None, None


def dont_know_choice(ctx: TurnContext) -> Choice:
    """The "I don't know" button of a report's place questions."""
    return Choice(ctx.t("utter_choice_dont_know"), UNKNOWN_PLACE)


def person_choice(ctx: TurnContext) -> Choice:
    """"Talk to a staff member", with the main menu's key 0 (the handoff flow claims it anywhere)."""
    return Choice(ctx.t("utter_choice_talk_to_human"), intent_button("talk_to_human"), "0")


def ask_place(ctx: TurnContext, prompt: str) -> None:
    """Ask where, with a location button and the wards as buttons ("I don't know" too in a report).

    In a report whose ward is already known (a first message naming only 「南区」), the
    question is which town of that ward instead (:func:`flows.steps.read_report_place`).
    """
    waiting = ctx.slots.get(READ_BACK_SLOT)
    if waiting:
        # The first message named the place: it is read back instead of asked.
        ask_read_back(ctx, resolve_town_id(ctx.session, waiting["town_id"]), waiting.get("detail"))
        return
    known_ward = (ctx.slots.get(REPORT_PLACE_SLOT) or {}).get("ward")
    if known_ward:
        ask_town_in_ward(ctx, resolve_ward_code(ctx.session, known_ward), dont_know=True)
        return
    choices = ward_choices(ctx)
    if ctx.conversation.flow in REPORT_FLOWS:
        # Someone else's address is often not known: say so, and give a landmark instead.
        choices.append(dont_know_choice(ctx))
    ctx.ask(prompt, choices=choices, request_location=True)


def ask_town_in_ward(ctx: TurnContext, area: AreaResolution, *, dont_know: bool = False) -> None:
    """Which town of the ward ``area`` names (its towns as buttons; "I don't know" for a report)."""
    choices = town_choices(ctx, area.candidates, with_ward=False)
    # On the phone 9 and 0 are the emergency numbers and a person in every menu: a ninth
    # choice has no key, so "I don't know" is then said, not keyed (the prompt says so).
    if dont_know and not (ctx.channel == "voice" and len(choices) >= KEYPAD_CHOICES):
        choices.append(dont_know_choice(ctx))
    ctx.ask("utter_ask_town_in_ward", choices=choices, ward=ward_name(ctx.session, area.ward_code or "", ctx.lang))


def _extracted(ctx: TurnContext, text: str) -> Place | None:
    """The place ``text`` names (with the message's coordinates), extracted once per turn."""
    if text not in ctx.places:
        message = ctx.message
        ctx.places[text] = extract_place(text, load_gazetteer(ctx.session), message.latitude, message.longitude)
    place: Place | None = ctx.places[text]
    return place


def place_from_message(ctx: TurnContext, ward_hint: str | None = None) -> tuple[AreaResolution, str | None]:
    """Resolve whatever place the current message carries (text or coordinates).

    Args:
        ctx: the turn.
        ward_hint: a ward's name already given (「南区」 then 「あさひ」): read with it when the
            answer names no ward of its own.
    """
    message = ctx.message
    if ctx.answer.startswith("town:"):
        return resolve_town_id(ctx.session, ctx.answer.removeprefix("town:")), None
    if ctx.answer.startswith("ward:"):
        return resolve_ward_code(ctx.session, ctx.answer.removeprefix("ward:")), None
    text = " ".join(part for part in (ctx.text, message.address or "") if part)
    place = _extracted(ctx, text)
    if ward_hint and place is not None and len(place.town_ids) > 1:
        # Sound-alike towns of several wards: the ward said before tells them apart.
        place = _extracted(ctx, f"{ward_hint} {text}")
    return resolve_area(ctx.session, place), (place.detail if place else None)


def says_dont_know(ctx: TurnContext) -> bool:
    """Whether the answer is "I don't know" (the button, or in words: 「わからない」「分かりません」)."""
    if ctx.answer == UNKNOWN_PLACE:
        return True
    return bool(ctx.own_words) and _DONT_KNOW.search(fold_for_matching(ctx.own_words)) is not None


def looks_like_place(ctx: TurnContext) -> bool:
    """Whether the message answers a place question at all: a town or ward button, a
    location, "I don't know", or words naming a ward, a town or a postal code.

    A report's form uses it to tell a place from more about the person (「ポストに新聞が
    4日分たまっている」 names no place: it is a detail, not a wrong answer).
    """
    if ctx.answer.startswith(("town:", "ward:")) or ctx.message.has_location or says_dont_know(ctx):
        return True
    text = ctx.text or ctx.message.address or ""
    return bool(text) and _extracted(ctx, text) is not None


def is_bare_place(ctx: TurnContext) -> bool:
    """Whether the message is only a place (「000-0110」「北区柳町です」 "Kita-ku", a location),
    with nothing else said: after an answer, such a message refines where, it asks nothing new."""
    if ctx.answer.startswith(("town:", "ward:")) or (ctx.message.has_location and not ctx.text):
        return True
    return is_only_a_place(ctx, ctx.text)


def is_only_a_place(ctx: TurnContext, text: str) -> bool:
    """Whether the words are only a place (「北区柳町です」 "Minami-ku Asahicho"), nothing else said."""
    if not text:
        return False
    place = _extracted(ctx, text)
    if place is None:
        return False
    rest = unicodedata.normalize("NFKC", text)
    for surface in sorted((part for part in place.matched.split(" ") if part), key=len, reverse=True):
        rest = rest.replace(surface, " ")
    rest = re.sub(r"\d+(?:丁目|番地?|号|-\d+)*|chome", " ", rest, flags=re.IGNORECASE)
    return len(_PLACE_FILLER.sub("", rest)) <= _BARE_LEFTOVER


# A town's reading followed by katakana or kanji is part of a longer name (a building, a shop).
_NAME_GOES_ON = r"(?![ァ-ヶー一-龥])"
_KANA_ONLY = re.compile(r"[ぁ-ゖァ-ヶー]+")
_SENTENCE_END = re.compile(r"(?:です|でした|になります)[。.!！]*\Z")


def spot_words(ctx: TurnContext) -> str:
    """What the answer says besides the place: the spot searchers look for (「えーと 南区の
    あさひまちの スーパーの 前 あたり」 → 「スーパーの 前 あたり」); empty for a bare place."""
    if not ctx.own_words or is_bare_place(ctx):
        return ""
    place = _extracted(ctx, ctx.text)
    rest = unicodedata.normalize("NFKC", ctx.text)
    surfaces = [part for part in (place.matched if place else "").split(" ") if part]
    if place is not None and place.detail:
        surfaces.append(place.detail)  # 「3丁目」 is the place's, read with the town
    for surface in sorted(surfaces, key=len, reverse=True):
        # A reading is not taken out of a name: 「あさひ」 stays in 「あさひハイツ」.
        guard = _NAME_GOES_ON if _KANA_ONLY.fullmatch(surface) else ""
        rest = re.sub(re.escape(surface) + guard, "\0", rest, count=1)
    # The particle right after a place name (「あさひまちの スーパー」), then the edges.
    rest = re.sub(r"\0\s*(?:の|[にでへ](?![ぁ-ゖ]))?", " ", rest)
    # and the copula that ends the sentence (「さくらハイツ203号室です」).
    rest = _SENTENCE_END.sub("", re.sub(r"\s+", " ", rest).strip(" 、,。"))
    return rest.strip(" 、,。")


def place_already_given(ctx: TurnContext, keep: Collection[str]) -> dict[str, Any] | None:
    """The place the resident's first message already names, as a slot record.

    Only kept when it resolved to one of the statuses in ``keep``; otherwise the flow
    asks its place question as usual. In a report (``report_worry`` / ``report_missing``)
    a ward alone is never the place: it is remembered, and the place question then asks
    which town of that ward.
    """
    if not ctx.text:
        return None
    area, detail = place_from_message(ctx)
    if area.status == "ward_only" and ctx.conversation.flow in REPORT_FLOWS and area.ward_code:
        ctx.set_slot(REPORT_PLACE_SLOT, {"ward": area.ward_code})
        return None
    if area.status not in keep:
        return None
    if needs_read_back(ctx, area):
        # Kept to be read back when the flow asks its place question (:func:`ask_place`).
        ctx.set_slot(READ_BACK_SLOT, {"town_id": area.town.town_id if area.town else None, "detail": detail})
        return None
    # As a place answer would be kept: with its romaji for a resident who reads no kanji.
    return place_record(area, detail, reader_place_label(ctx, area, detail, ctx.text))


def read_place(ctx: TurnContext, need: Literal["town", "ward"], prompt: str, *,
               give_up_after: int | None = None, dont_know: bool = False) -> AreaResolution | None:
    """Interpret the answer to a place question.

    Args:
        ctx: the turn.
        need: how precise the place must be.
        prompt: the place question, asked again when the answer is not understood.
        give_up_after: after this many answers in a row that name no place of the city,
            the place is taken as ``outside`` (never the same question a third time).
            None: ask again for as long as it takes.
        dont_know: offer an "I don't know" button with the towns of a ward (the flow
            handles the answer: :func:`says_dont_know`).

    Returns:
        A resolution good enough for ``need`` (or one whose status is ``outside``, for the
        flow to explain); otherwise asks the follow-up question and returns None.
    """
    answer, checked, _ = read_back_answer(ctx)
    if answer == "confirmed" and checked is not None:
        return read_place_settled(ctx, checked)
    if answer == "asked":
        return None
    if answer == "rejected" and checked is not None:
        return _place_refused(ctx, checked, prompt)
    asked_ward = ctx.slots.get(WARD_SLOT)
    area, detail = place_from_message(ctx, ward_hint=ward_name(ctx.session, asked_ward) if asked_ward else None)
    if detail:
        ctx.set_slot("_place_detail", detail)
    if needs_read_back(ctx, area):
        ask_read_back(ctx, area, detail)
        return None
    if area.status in ("resolved", "outside") or (area.status == "ward_only" and need == "ward"):
        return read_place_settled(ctx, area)
    if area.status == "ward_only" and ctx.slots.get(CANDIDATES_SLOT):
        # 「あさひ」 asked between 北区 旭町 and 南区 朝日町, then 「南区のほうです」: the one in that ward.
        picked = pick_by_ward(ctx, ctx.slots[CANDIDATES_SLOT], area)
        if picked is not None and needs_read_back(ctx, picked):
            ask_read_back(ctx, picked, None)
            return None
        if picked is not None:
            return read_place_settled(ctx, picked)
    if area.status in ("ambiguous", "ward_only") and area.candidates:
        if area.status == "ambiguous":
            ctx.set_slot(CANDIDATES_SLOT, [town.town_id for town in area.candidates])
            ask_which_town(ctx, area.candidates)
        else:
            # The next answer is a town of this ward: 「あさひ」 then means 南区 朝日町.
            ctx.set_slot(WARD_SLOT, area.ward_code)
            ask_town_in_ward(ctx, area, dont_know=dont_know)
        return None
    misses = int(ctx.slots.get(MISSES_SLOT, 0)) + 1
    if give_up_after is not None and misses >= give_up_after:
        forget_slot(ctx, MISSES_SLOT)
        return OUTSIDE
    ctx.set_slot(MISSES_SLOT, misses)
    ctx.say("utter_place_not_found")
    ask_place(ctx, prompt)
    return None


def _place_refused(ctx: TurnContext, refused: AreaResolution, prompt: str) -> None:
    """The town read back was wrong: which of the towns that sound the same, else where again."""
    alikes = sound_alike_towns(ctx, refused.town.town_id) if refused.town else []
    if len(alikes) > 1:
        ctx.set_slot(CANDIDATES_SLOT, [town.town_id for town in alikes])
        ask_which_town(ctx, alikes)
        return None
    ask_place(ctx, prompt)
    return None


def read_place_settled(ctx: TurnContext, area: AreaResolution) -> AreaResolution:
    """The place question is answered: forget what it kept while open."""
    for name in (MISSES_SLOT, WARD_SLOT, CANDIDATES_SLOT):
        forget_slot(ctx, name)
    return area


def pick_by_ward(ctx: TurnContext, town_ids: Sequence[str], ward: AreaResolution) -> AreaResolution | None:
    """The one town of ``town_ids`` (the candidates just offered) in the ward now named; None if not one."""
    in_ward = [town.town_id for town in ward.candidates if town.town_id in town_ids]
    return resolve_town_id(ctx.session, in_ward[0]) if len(in_ward) == 1 else None


def place_label(area: AreaResolution, detail: str | None, fallback: str) -> str:
    """A human label for the confirmation message: 北区 柳町 2丁目."""
    if area.town:
        return " ".join(part for part in (area.town.ward, area.town.town, detail or "") if part)
    if area.ward:
        return " ".join(part for part in (area.ward, detail or "") if part)
    return fallback


def reader_place_label(ctx: TurnContext, area: AreaResolution, detail: str | None, fallback: str) -> str:
    """:func:`place_label`, with the town's romaji for a resident who does not read kanji:
    「北区 旭町 2丁目 (Kita-ku Asahimachi)」 — the kanji to show at the counter (and for staff),
    the letters to read it by."""
    label = place_label(area, detail, fallback)
    if reads_kanji(ctx.lang) or area.town is None:
        return label
    romaji = town_romaji(ctx.session, area.town)
    return f"{label} ({romaji})" if romaji else label


def place_record(area: AreaResolution, detail: str | None, label: str) -> dict[str, Any]:
    """What a flow keeps in its slots about a place (JSON-serialisable)."""
    return {"area": area.to_dict(), "status": area.status, "ward_code": area.ward_code,
            "detail": detail, "label": label}


def area_from_record(ctx: TurnContext, record: dict[str, Any]) -> AreaResolution:
    """Re-resolve a place kept in the slots (the directory is the source of truth).

    A place outside the city stays outside: it has no town or ward to look up again.
    """
    if record.get("status") == "outside":
        return OUTSIDE
    town_id = (record.get("area") or {}).get("town_id")
    if town_id:
        return resolve_town_id(ctx.session, town_id)
    if record.get("ward_code"):
        return resolve_ward_code(ctx.session, record["ward_code"])
    return resolve_area(ctx.session, None)
