"""find_community: the community places near the resident — 通いの場, サロン, 認知症カフェ,
子ども食堂, 家事支援 — rather than a counter.

The kind comes from the resident's words (「子ども食堂はどこ」「認知症カフェ」); words that
name none (「近くで集まれる場所はありますか」) mean a place to meet people (a salon or a
通いの場). The place is asked with the shared place question unless the message gave it;
the answer is the nearest fitting places (up to three) with their schedule, walking
time and phone. ``community_line`` is the one short line ask_where adds beside its
counter when the matter and the words fit a kind of place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from flows.base import NOT_A_MATTER, Flow, TurnContext
from flows.place_question import (
    PLACE_RESPONSES,
    WARD_SLOT,
    area_from_record,
    ask_place,
    ask_town_in_ward,
    looks_like_place,
    place_already_given,
)
from flows.steps import read_place_answer
from intents.normalize import fold_for_matching
from routing.areas import AreaResolution
from routing.community import GATHERING_KINDS, KINDS, NearbyPlace, nearest_places

__all__ = ["FindCommunityFlow", "community_kinds", "community_line", "COMMUNITY_LINE_RESPONSES"]

# The resident's words for each kind (matched on the folded text: kana, case and width folded).
_KIND_WORDS: dict[str, re.Pattern[str]] = {
    "dementia_cafe": re.compile(r"認知症|にんちしょう|オレンジカフェ|もの忘れ|物忘れ|ものわすれ|dementia|alzheimer|memory caf"),
    "kodomo_shokudo": re.compile(
        r"(子ども|子供|こども|kodomo)(食堂|しょくどう|shokudo)|みんなの食堂|地域食堂|ごはん|ご飯|食事|食べさせ|給食|"
        r"(kids|children'?s?|child) ?(cafeteria|canteen|dining|meal|food)|free meals?|comedor"),
    "kaji_shien": re.compile(
        r"家事|掃除|そうじ|洗濯|せんたく|買い物|買物|かいもの|ゴミ出し|ごみ出し|ごみだし|料理が|庭の手入れ|"
        r"chores|housework|cleaning|shopping|laundry"),
    "kayoi": re.compile(r"通いの場|かよいのば|体操|たいそう|運動|ウォーキング|exercise|walking group|gym"),
    "salon": re.compile(r"サロン|さろん|salon|茶話会|おしゃべり|お茶会"),
}
# Loneliness and wanting company: a place to meet people (a salon or a 通いの場).
_GATHERING_WORDS = re.compile(
    r"寂し|さみし|さびし|孤独|孤立|ひとりぼっち|一人ぼっち|話し相手|はなしあいて|閉じこも|とじこも|こもりがち|"
    r"外に出な|出かけな|でかけな|外出しな|友達がいな|ともだちがいな|仲間|居場所|いばしょ|生きがい|趣味|"
    r"集まれる|あつまれる|集まる場|集いの場|つどいの場|交流|ふれあい|"
    r"lonely|lonesome|isolated|no one to talk|nobody to talk|no friends|meet people|get together|"
    r"community (place|centre|center|space)|social club|gathering")
# Which kinds fit which ask_where topic (the counter's matter): only these are offered beside it.
TOPIC_KINDS: dict[str, tuple[str, ...]] = {
    "elderly": ("dementia_cafe", "kaji_shien", "salon", "kayoi"),
    "complex": ("dementia_cafe", "kaji_shien", "kodomo_shokudo", "salon", "kayoi"),
    "disability": ("kaji_shien",),
    "child": ("kodomo_shokudo",),
    "money": ("kodomo_shokudo",),
}
KINDS_SLOT = "community_kinds"
PLACE_SLOT = "place"
# The answer lists places up to an hour's walk; the line beside a counter, half an hour.
MAX_MINUTES = 60
LINE_MAX_MINUTES = 30
MAX_PLACES = 3
# A message that names no place while the place is asked is a new request when the
# classifier is this sure of another intent.
ANOTHER_REQUEST_CONFIDENCE = 0.85
COMMUNITY_LINE_RESPONSES = ("utter_community_nearby", *(f"utter_community_kind_{kind}" for kind in KINDS))


def community_kinds(text: str) -> tuple[str, ...]:
    """The kinds of place the words ask for, in ``KINDS`` order; the gathering kinds for
    loneliness or company; empty when the words name none."""
    folded = fold_for_matching(text)
    kinds = [kind for kind in KINDS if _KIND_WORDS[kind].search(folded)]
    if _GATHERING_WORDS.search(folded):
        kinds += [kind for kind in GATHERING_KINDS if kind not in kinds]
    return tuple(kind for kind in KINDS if kind in kinds)


def _place_values(ctx: TurnContext, nearby: NearbyPlace) -> dict[str, Any]:
    place = nearby.place
    return {
        "name": place.name,
        "kind": ctx.t(f"utter_community_kind_{place.kind}"),
        "schedule": place.schedule_text(ctx.lang),
        "minutes": nearby.minutes,
        "phone": place.phone or "-",
        "audience": place.audience or "-",
        "cost": place.cost or "-",
    }


def community_line(ctx: TurnContext, topic: str, said_kinds: Sequence[str], town_id: str | None) -> bool:
    """Say one short line about the nearest fitting community place beside a counter's answer.

    Args:
        ctx: the turn (the counter was just named).
        topic: the counter's matter; only the kinds of ``TOPIC_KINDS`` fit it.
        said_kinds: the kinds the resident's words asked for (:func:`community_kinds`): a kind
            must fit them too (「母がひとりで寂しそう」 → a salon; 「介護保険の申請」 → nothing).
        town_id: the resident's town; nothing is said without one.

    Returns:
        Whether a line was said.
    """
    if not town_id:
        return False
    kinds = [kind for kind in said_kinds if kind in TOPIC_KINDS.get(topic, ())]
    if not kinds:
        return False
    found = nearest_places(ctx.session, town_id, kinds, limit=1, max_minutes=LINE_MAX_MINUTES)
    if not found:
        return False
    ctx.say("utter_community_nearby", **_place_values(ctx, found[0]))
    return True


class FindCommunityFlow(Flow):
    reads_opening_words = True
    name = "find_community"
    intents = ("find_community",)
    responses = (
        "utter_ask_community_place",
        "utter_community_places",
        "utter_community_place",
        "utter_community_none_near",
        "utter_community_outside",
        *COMMUNITY_LINE_RESPONSES,
        *PLACE_RESPONSES,
    )

    def start(self, ctx: TurnContext) -> None:
        ctx.set_slot(KINDS_SLOT, list(community_kinds(ctx.text) or GATHERING_KINDS))
        given = place_already_given(ctx, ("resolved", "ward_only", "outside"))
        if given is not None:
            ctx.set_slot(PLACE_SLOT, given)
        self._answer_or_ask(ctx)

    def resume(self, ctx: TurnContext) -> None:
        if ctx.step != "place":
            return
        if ctx.own_words and not ctx.slots.get(WARD_SLOT) and not looks_like_place(ctx):
            words = ctx.classify(ctx.own_words)
            if (words.intent not in (self.name, *NOT_A_MATTER)
                    and words.confidence >= ANOTHER_REQUEST_CONFIDENCE):
                # 「やっぱり母の介護の相談をしたい」 instead of a place: a new request.
                ctx.treat_as_new_request()
                return
        answer = read_place_answer(ctx, "town", "utter_ask_community_place", give_up_after=2)
        if answer is None:
            return
        ctx.set_slot(PLACE_SLOT, answer.record())
        self._answer_or_ask(ctx)

    def _answer_or_ask(self, ctx: TurnContext) -> None:
        record = ctx.slots.get(PLACE_SLOT)
        area = area_from_record(ctx, record) if record else None
        if area is not None and area.status == "outside":
            ctx.say("utter_community_outside")
            ctx.finish()
            return
        if area is None or area.town is None:
            ctx.set_step("place")
            if area is not None and area.status == "ward_only" and area.candidates:
                ctx.set_slot(WARD_SLOT, area.ward_code)
                ask_town_in_ward(ctx, area)
            else:
                ask_place(ctx, "utter_ask_community_place")
            return
        self._answer(ctx, area)

    def _answer(self, ctx: TurnContext, area: AreaResolution) -> None:
        assert area.town is not None
        kinds = ctx.slots.get(KINDS_SLOT) or list(GATHERING_KINDS)
        found = nearest_places(ctx.session, area.town.town_id, kinds, limit=MAX_PLACES, max_minutes=MAX_MINUTES)
        label = ctx.slots[PLACE_SLOT].get("label", "")
        if not found:
            ctx.say("utter_community_none_near", place=label)
        else:
            ctx.say("utter_community_places", place=label)
            for nearby in found:
                ctx.say("utter_community_place", **_place_values(ctx, nearby))
        ctx.finish()
