"""The place question shared by every flow that needs to know where: ask once, resolve, clarify.

Residents answer with a town in kanji, kana or romaji, a postal code, a LINE/Telegram
location, or a button. Ambiguous answers (北区 旭町 / 南区 朝日町, both "あさひ") get
one follow-up question with the candidates as buttons; we never guess silently.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from bot.messages import Choice
from flows.base import TurnContext
from intents.places import extract_place
from routing.areas import OUTSIDE, AreaResolution, resolve_area, resolve_town_id, resolve_ward_code, ward_options
from routing.directory import load_gazetteer

__all__ = ["ask_place", "read_place", "place_label", "place_record", "place_already_given", "area_from_record", "PLACE_RESPONSES"]

PLACE_RESPONSES = (
    "utter_ask_ward",
    "utter_ask_town_in_ward",
    "utter_ask_which_town",
    "utter_place_not_found",
)

# Above this many towns a button list stops helping (LINE shows at most 13 quick replies).
MAX_TOWN_BUTTONS = 12


def ask_place(ctx: TurnContext, prompt: str) -> None:
    """Ask where, with a location button and the wards as buttons."""
    choices = [Choice(name, f"ward:{code}") for code, name in ward_options(ctx.session)]
    ctx.ask(prompt, choices=choices, request_location=True)


def place_from_message(ctx: TurnContext) -> tuple[AreaResolution, str | None]:
    """Resolve whatever place the current message carries (text or coordinates)."""
    message = ctx.message
    if ctx.answer.startswith("town:"):
        return resolve_town_id(ctx.session, ctx.answer.removeprefix("town:")), None
    if ctx.answer.startswith("ward:"):
        return resolve_ward_code(ctx.session, ctx.answer.removeprefix("ward:")), None
    text = " ".join(part for part in (ctx.text, message.address or "") if part)
    place = extract_place(text, load_gazetteer(ctx.session), message.latitude, message.longitude)
    return resolve_area(ctx.session, place), (place.detail if place else None)


def place_already_given(ctx: TurnContext, keep: Collection[str]) -> dict[str, Any] | None:
    """The place the resident's first message already names, as a slot record.

    Only kept when it resolved to one of the statuses in ``keep``; otherwise the flow
    asks its place question as usual.
    """
    if not ctx.text:
        return None
    area, detail = place_from_message(ctx)
    if area.status not in keep:
        return None
    return place_record(area, detail, place_label(area, detail, ctx.text))


def read_place(ctx: TurnContext, need: Literal["town", "ward"], prompt: str) -> AreaResolution | None:
    """Interpret the answer to a place question.

    Returns a resolution good enough for ``need`` (or one whose status is ``outside``,
    for the flow to explain); otherwise asks the follow-up question and returns None.
    """
    area, detail = place_from_message(ctx)
    if detail:
        ctx.set_slot("_place_detail", detail)
    if area.status == "resolved" or area.status == "outside":
        return area
    if area.status == "ward_only" and need == "ward":
        return area
    if area.status in ("ambiguous", "ward_only") and area.candidates:
        choices = [
            Choice(f"{town.ward} {town.town}" if area.status == "ambiguous" else town.town, f"town:{town.town_id}")
            for town in area.candidates[:MAX_TOWN_BUTTONS]
        ]
        if area.status == "ambiguous":
            ctx.ask("utter_ask_which_town", choices=choices)
        else:
            ctx.ask("utter_ask_town_in_ward", choices=choices, ward=area.ward or "")
        return None
    ctx.say("utter_place_not_found")
    ask_place(ctx, prompt)
    return None


def place_label(area: AreaResolution, detail: str | None, fallback: str) -> str:
    """A human label for the confirmation message: 北区 柳町 2丁目."""
    if area.town:
        return " ".join(part for part in (area.town.ward, area.town.town, detail or "") if part)
    if area.ward:
        return " ".join(part for part in (area.ward, detail or "") if part)
    return fallback


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
