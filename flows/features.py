"""Reading a person's public features from a family's words, and asking for the key ones missing.

A missing-person alert is composed from structured fields (:mod:`alerts.texts`), never
from the family's own text. The family describes the person in their words (「78歳の母
です。白髪で小柄、アルツハイマー型認知症」「紺のジャンパーに白い運動靴、杖をついています」):
:func:`read_features` takes out what it can — sex (from the family word too: 母 is a
woman), age, height in cm, build, hair, a diagnosis (kept for staff; shown only with
consent) — and :func:`read_clothing` splits what they wear into clothing, footwear and
belongings. What searchers need most and families often leave out (sex, height, build)
is then asked with choices (:func:`ask_feature`), each question skippable with
「わからない」. Readings are deliberately plain patterns, as in ``flows.report_words``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from alerts.texts import CHOICE_VALUES, height_band
from bot.messages import Choice
from flows.base import TurnContext, is_yes
from flows.report_words import AGE_UNITS_OTHER

__all__ = ["ASKED_FEATURES", "FEATURE_PREFIX", "FEATURE_RESPONSES", "SHARE_RESPONSES", "ask_feature", "ask_share",
           "missing_features", "names_clothing", "read_answer", "read_clothing", "read_features", "read_name",
           "read_share", "worn_in"]

ASKED_FEATURES = ("sex", "height", "build")
"""The key features asked with choices when the family's words did not say them, in this order."""
FEATURE_PREFIX = "feature:"
"""Button payloads: ``feature:<field>:<value>``, or ``feature:<field>:`` for 「わからない」."""
FEATURE_RESPONSES = (*(f"utter_ask_feature_{field}" for field in ASKED_FEATURES),
                     *(f"utter_feature_{field}_{value}" for field in ASKED_FEATURES for value in CHOICE_VALUES[field]),
                     "utter_choice_dont_know")
"""What asking the features says (questions and button titles), for the flows' response lists."""
SHARE_RESPONSES = ("utter_ask_share_identity", "utter_choice_share_no", "utter_choice_share_yes",
                   "utter_ask_public_name")
"""What asking for consent to share name, condition and photo says (and the name question)."""
SHARE_YES, SHARE_NO = "share:yes", "share:no"

_MALE_JA = (r"男性|男の人|男|父|親父|おやじ|おとん|とうちゃん|じいちゃん|じいさん|じっちゃ|じいじ|おじいさん|"
            r"おじいちゃん|祖父|夫|主人|旦那|息子|兄|弟|叔父|伯父")
_FEMALE_JA = (r"女性|女の人|女|母|おかん|かあちゃん|おっかあ|おふくろ|お袋|ばあちゃん|ばあさん|ばっちゃ|ばあば|"
              r"おばあさん|おばあちゃん|祖母|妻|家内|嫁|娘|姉|妹|叔母|伯母")
_MALE_EN = r"\b(?:man|male|father|dad|husband|son|grandfather|grandpa|granddad|brother|uncle|he|him|his)\b"
_FEMALE_EN = r"\b(?:woman|female|mother|mum|mom|wife|daughter|grandmother|grandma|granny|sister|aunt|she|her)\b"
# The residents' languages: the family words their missing-report opening names (「mero buwa」
# 「우리 아버지」 「mẹ tôi」), so that a father is not asked whether he is a man or a woman.
_MALE_OTHER = (r"할아버지|아버지|아빠|시아버지|장인|남편|아들|오빠|남동생|삼촌|爸爸|父亲|父親|爷爷|爺爺|外公|老公|丈夫|儿子|兒子|"
               r"哥哥|弟弟|बुवा|बाबा|हजुरबुवा|श्रीमान|छोरा|दाइ|भाइ|"
               r"\b(?:bố|cha|ông|chồng|con trai|em trai|tatay|itay|lolo|kuya|lalaki|pai|avô|marido|filho|irmão|homem|"
               r"padre|papá|abuelo|esposo|hijo|hermano|hombre|buwa|buba|baba|hajurbuwa|shreeman|chora|bhai)\b")
_FEMALE_OTHER = (r"할머니|어머니|엄마|시어머니|장모|아내|와이프|딸|언니|누나|여동생|이모|고모|妈妈|媽媽|母亲|母親|奶奶|外婆|老婆|妻子|"
                 r"女儿|女兒|姐姐|妹妹|आमा|हजुरआमा|श्रीमती|छोरी|दिदी|बहिनी|"
                 r"\b(?:mẹ|má|bà|vợ|con gái|chị|em gái|nanay|inay|lola|ate|babae|mãe|avó|esposa|mulher|filha|irmã|"
                 r"madre|mamá|abuela|hija|hermana|mujer|ina|aama|hajuraama|shreemati|chori|didi|bahini)\b")
_SEX = (("male", re.compile(f"{_MALE_JA}|{_MALE_EN}|{_MALE_OTHER}")),
        ("female", re.compile(f"{_FEMALE_JA}|{_FEMALE_EN}|{_FEMALE_OTHER}")))
# 「78歳」 "78 years old", "she is 78", "Dad, 85, tall": an age said as such, or a bare number between commas.
_AGE = re.compile(rf"(\d{{1,3}})\s*(?:歳|才|さい|{AGE_UNITS_OTHER})|(\d{{2,3}})[- ]?(?:years?[- ]old|yo\b)|"
                  r"\b(?:aged?|is) (\d{2,3})\b|[,、]\s*(\d{2,3})\s*(?:[,、]|\Z)", re.IGNORECASE)
_HEIGHT = re.compile(r"(\d{3})\s*(?:cm|センチ|せんち)")
_BUILD = (
    ("small", re.compile(r"小柄|こがら|背が低|背の低|small build|petite")),
    ("slim", re.compile(r"やせ|痩せ|細身|ほっそり|スリム|slim|thin\b|skinny")),
    ("heavy", re.compile(r"太め|太って|ふくよか|小太り|がっしり|がっちり|大柄|heavy|stocky|large build|big build")),
    ("medium", re.compile(r"中肉|普通の体格|ふつうの体格|標準|medium build|average build")),
)
_HAIR = (
    ("grey", re.compile(r"白髪(?:まじり|混じり|交じり)|ごま塩|グレーの髪|灰色の髪|gr[ae]y hair")),
    ("white", re.compile(r"白髪|しらが|white hair")),
    ("thin", re.compile(r"はげ|ハゲ|禿|薄毛|髪が薄|髪の毛が薄|bald|thinning hair")),
    ("black", re.compile(r"黒髪|black hair")),
    ("brown", re.compile(r"茶髪|茶色の髪|brown hair")),
)
_DIAGNOSIS = re.compile(
    r"(?:アルツハイマー型|レビー小体型|前頭側頭型|脳血管性|若年性)?認知症|アルツハイマー(?:病)?|軽度認知障害|MCI|"
    r"知的障害|発達障害|自閉症|統合失調症|(?:alzheimer'?s|vascular|early[- ]onset)?\s*dementia|alzheimer'?s(?: disease)?",
    re.IGNORECASE)
_FOOTWEAR = re.compile(r"靴|くつ|クツ|シューズ|スニーカー|サンダル|スリッパ|下駄|げた|草履|ぞうり|長靴|ブーツ|裸足|はだし|"
                       r"shoes?|sneakers?|trainers|sandals?|slippers|boots|barefoot|"
                       # The residents' languages: pt, es, vi, tl, ko, zh, ne.
                       r"\b(?:sapatos?|t[êe]nis|sand[áa]lias?|chinelos?|botas?|zapatos?|zapatillas?|giày|dép|tsinelas)\b|"
                       r"신발|운동화|구두|슬리퍼|샌들|鞋|拖鞋|凉鞋|涼鞋|जुत्ता|चप्पल", re.IGNORECASE)
_BELONGINGS = re.compile(r"杖|つえ|ステッキ|かばん|カバン|鞄|バッグ|リュック|手提げ|袋|傘|かさ|財布|手押し車|シルバーカー|"
                         r"歩行器|携帯|スマホ|cane|stick|bag|backpack|umbrella|walker|wallet|phone|"
                         r"\b(?:bengala|bast[óo]n|bolsa|mochila|guarda-chuva|paraguas|gậy|túi|tungkod|payong)\b|"
                         r"지팡이|가방|우산|拐杖|手杖|雨伞|雨傘|लट्ठी|झोला|छाता", re.IGNORECASE)
# Parts of a clothing answer: split at punctuation and the joining particles
# (「紺のジャンパーに灰色のズボン、白い運動靴と杖」; "a beige coat and brown shoes").
_PARTS_JA = re.compile(r"[、,，。．/／・;；\n]+|(?<=[\u30a0-\u30ff\u4e00-\u9fff])(?:と|に|や|で)(?=\S)")
# Latin script without accents: English, and es 「y」, pt 「e」, tl 「at」 ("and").
_PARTS_EN = re.compile(r"[,;/\n]+|\band\b|\bwith\b|\b(?:[ye]|at)\b", re.IGNORECASE)
# The residents' languages join the parts with their own words (「casaco marrom e boné azul」
# 「áo khoác xanh và mũ đỏ」「파란 점퍼와 빨간 모자」「蓝色外套和红色帽子」).
_PARTS_OTHER = re.compile(r"[,;/\n、，。]+|\s(?:e|y|và|va|với|voi|at|र|अनि)\s|(?<=\S)(?:와|과|하고|이랑)\s|和|与|與|跟",
                          re.IGNORECASE)
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
# Spoken answers join their parts with verbs, not punctuation (「赤い カーディガン 着て 白い 運動靴
# はいて 杖 ついて」, 「茶色の 帽子 かぶっとります 腰が 曲がっとって」): a verb of wearing or holding in
# any register, or a verb's て-form, ends a part.
_SPOKEN_PARTS = re.compile(
    r"(?:を|は|も)?(?:着|着用し|はい|履い|穿い|かぶっ|被っ|持っ|もっ|つい|突い|巻い|かけ|掛け)(?:て|と|ちょ)"
    r"(?:います|いる|いた|おります|おる|ります|る|た|ました|ます|った|ん)?(?:です|ね|よ)?|"
    r"(?:を|は|も)?(?:着|かぶり|被り|はき|履き)(?:ます|ました)|(?<=[っいん][てで])(?=\S)")
# A part with none of these is no clothing (「腰が曲がって」「出ていきました」): the description or the
# story, which the case keeps whole.
_CLOTHING_WORDS = re.compile(r"色|赤|青|白|黒|紺|緑|黄|茶|灰|グレー|ピンク|ベージュ|紫|オレンジ|柄|チェック|ストライプ|"
                             r"ジャージ|ダウン|ジーンズ|ジーパン|エプロン|もんぺ|はんてん|半纏|ちゃんちゃんこ|チョッキ|"
                             r"ジャンバー|スラックス|作業|制服|ポロ|フリース|眼鏡|メガネ|めがね")
# A part's own verb or copula, left out of the field (「杖をついています」 → 杖).
_TAIL = re.compile(r"(?:を|は|も)?(?:着て|はいて|履いて|かぶって|被って|持って|ついて|突いて|して|着用して)?"
                   r"(?:います|いる|おります|ました|いた|た|る|です|でした|や|じゃ|だ)?[。.!！]*\Z")
# Something worn: a part naming one stays clothing even when it also says a feature (「男物のジャンパー」).
_WORN = re.compile(r"服|着|ジャンパー|ジャケット|コート|シャツ|セーター|カーディガン|ブラウス|ベスト|パーカー|トレーナー|"
                   r"ズボン|パンツ|スカート|ワンピース|パジャマ|寝間着|浴衣|着物|帽子|マフラー|手袋|"
                   r"coat|jacket|shirt|sweater|jumper|cardigan|trousers|pants|skirt|dress|pyjamas|hat|cap|scarf|"
                   # The residents' languages: pt, es, tl, vi, ko, zh, ne.
                   r"\b(?:casaco|jaqueta|camisa|camiseta|cal[çc]a|blusa|su[ée]ter|vestido|saia|bon[ée]|chap[ée]u|gorro|"
                   r"chaqueta|abrigo|pantal[oó]n|falda|gorra|sombrero|chamarra|damit|pantalon|sumbrero|palda|kamiseta|"
                   r"áo|quần|mũ|nón|váy|khăn)\b|"
                   r"옷|재킷|자켓|점퍼|코트|셔츠|스웨터|바지|치마|원피스|모자|목도리|"
                   r"外套|夹克|夾克|衬衫|襯衫|毛衣|裤子|褲子|裙子|围巾|圍巾|"
                   r"ज्याकेट|कोट|कमिज|सुरुवाल|टोपी|लुगा|स्वेटर|पाइन्ट",
                   re.IGNORECASE)
_UNKNOWN = re.compile(r"\A(?:わから|分から|わかりません|分かりません|わかんない|不明|覚えていない|覚えてない|"
                      r"unknown|not sure|(?:i )?don'?t know|no idea|"
                      r"không biết|khong biet|não sei|nao sei|no s[ée]|hindi ko alam|모르|不知道|不清楚|थाहा छैन)",
                      re.IGNORECASE)


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _first(text: str, patterns: tuple[tuple[str, re.Pattern[str]], ...]) -> str | None:
    """The value whose pattern matches earliest in the text (「母が、父を探しに」 is about the mother)."""
    found = [(match.start(), value) for value, pattern in patterns if (match := pattern.search(text))]
    return min(found)[1] if found else None


def read_features(text: str | None) -> dict[str, Any]:
    """The features a description says: sex, age, height band, build, hair, diagnosis.

    Args:
        text: the family's words about the person (Japanese or English).

    Returns:
        Field name → value (values of :data:`alerts.texts.CHOICE_VALUES`, ``age`` a number,
        ``diagnosis`` the words), only what the words say.
    """
    if not text:
        return {}
    plain = _plain(text)
    lowered = plain.lower()
    features: dict[str, Any] = {}
    if sex := _first(lowered, _SEX):
        features["sex"] = sex
    if (age := _AGE.search(lowered)) and 0 < (years := int(next(group for group in age.groups() if group))) < 130:
        features["age"] = years
    if height := _HEIGHT.search(lowered):
        features["height"] = height_band(int(height.group(1)))
    if build := _first(lowered, _BUILD):
        features["build"] = build
    if hair := _first(lowered, _HAIR):
        features["hair"] = hair
    if diagnosis := _DIAGNOSIS.search(plain):
        features["diagnosis"] = diagnosis.group(0).strip()
    return features


def read_clothing(text: str | None) -> dict[str, Any]:
    """What someone wears split into ``clothing``, ``footwear`` and ``belongings`` (words as given).

    「わからない」 (or nothing) gives nothing.
    """
    if not text or _UNKNOWN.match(_plain(text)):
        return {}
    plain = _plain(text)
    # Japanese is read for its garments; every other language keeps its words as given.
    english = plain.isascii()
    as_given = english or not (_KANA.search(plain) or _HAN.search(plain))
    # Spoken Japanese comes with spaces between words (「ピンクの セーター と 黒い ズボン」).
    if english:
        parts = _PARTS_EN.split(plain)
    elif as_given:
        parts = _PARTS_OTHER.split(plain)
    else:
        joined = _SPOKEN_PARTS.sub("、", re.sub(r"\s+", "", plain))
        parts = _PARTS_JA.split(joined)
    groups: dict[str, list[str]] = {"clothing": [], "footwear": [], "belongings": []}
    for part in parts:
        part = part.strip(" .") if as_given else _TAIL.sub("", part or "").strip()
        if not part or _UNKNOWN.match(part):
            continue
        named = _WORN.search(part) or _FOOTWEAR.search(part) or _BELONGINGS.search(part)
        if not as_given and not named and not _CLOTHING_WORDS.search(part):
            continue
        if read_features(part) and not (_WORN.search(part) or _FOOTWEAR.search(part) or _BELONGINGS.search(part)):
            # 「80歳くらい」「白髪」 given with the clothing: the description has them, not the clothing.
            continue
        group = "footwear" if _FOOTWEAR.search(part) else "belongings" if _BELONGINGS.search(part) else "clothing"
        groups[group].append(part)
    separator = "、" if _KANA.search(plain) or not as_given else ", "
    return {field: separator.join(words) for field, words in groups.items() if words}


# What the person wears, told in the report's first words: the words before a verb of wearing
# (「緑のカーディガン着て朝出てった」, "she was wearing a green cardigan"). Kana 「きて」「はいて」
# are left out: they are as often 来て and a reply.
_WEARING_JA = re.compile(r"([^。、，,.!?！？\n]+?)(?:を)?(?:着て|着と|着た|着てる|履いて|かぶって|被って)")
_WEARING_EN = re.compile(r"\bwearing\s+([^.;!?\n]+?)(?=\s+and\s+(?:she|he|they|went|left)\b|[.;!?\n]|$)",
                         re.IGNORECASE)
# Who comes before the clothing in the same phrase (「母が緑のカーディガン」): cut at its particle.
_SUBJECT = re.compile(r"^.*(?<=[\u3040-\u30ff\u4e00-\u9fff])(?:が|は)(?=\S)")


def names_clothing(text: str) -> bool:
    """Whether the words name something worn (「ジャンパー」 "coat" 「áo」「점퍼」), in any of the
    residents' languages — not only a colour or a build."""
    return _WORN.search(_plain(text)) is not None


def worn_in(text: str) -> str | None:
    """What someone wears, in words that say so with a verb of wearing (a report's first
    message), for the clothing question not to be asked again; None when they do not."""
    found = [match.group(1).strip() for match in _WEARING_EN.finditer(text)]
    found += [_SUBJECT.sub("", match.group(1)).strip() for match in _WEARING_JA.finditer(re.sub(r"\s+", "", text))]
    worn = [words for words in found if _WORN.search(words) or _FOOTWEAR.search(words)]
    if not worn:
        return None
    return ", ".join(worn) if text.isascii() else "、".join(worn)


def missing_features(known: Mapping[str, Any]) -> list[str]:
    """The key features (:data:`ASKED_FEATURES`) not known yet, in the order they are asked."""
    return [field for field in ASKED_FEATURES if field not in known]


def ask_feature(ctx: TurnContext, field: str) -> None:
    """Ask one key feature with a button per value and 「わからない」."""
    choices = [Choice(ctx.t(f"utter_feature_{field}_{value}"), f"{FEATURE_PREFIX}{field}:{value}")
               for value in CHOICE_VALUES[field]]
    ctx.ask(f"utter_ask_feature_{field}",
            choices=[*choices, Choice(ctx.t("utter_choice_dont_know"), f"{FEATURE_PREFIX}{field}:")])


def read_answer(ctx: TurnContext, field: str) -> dict[str, Any]:
    """The features an answer to the ``field`` question gives: its button, or whatever the words say.

    Returns:
        Field → value; empty for 「わからない」 or words that say nothing of the kind.
    """
    prefix = f"{FEATURE_PREFIX}{field}:"
    if ctx.answer.startswith(prefix):
        value = ctx.answer.removeprefix(prefix)
        return {field: value} if value in CHOICE_VALUES[field] else {}
    return read_features(ctx.own_words)


def ask_share(ctx: TurnContext) -> None:
    """Ask whether name, condition and photo may go out too; 「特徴だけ」 (no) is the first button."""
    ctx.ask("utter_ask_share_identity", choices=[Choice(ctx.t("utter_choice_share_no"), SHARE_NO),
                                                 Choice(ctx.t("utter_choice_share_yes"), SHARE_YES)])


def read_share(ctx: TurnContext) -> bool:
    """Only an explicit yes shares (the button, or yes in words); anything else keeps them with staff."""
    return ctx.answer == SHARE_YES or (ctx.answer != SHARE_NO and is_yes(ctx.answer))


_KANA_ONLY = re.compile(r"\A[\u3041-\u309f\u30a0-\u30ffー・]+\Z")


def read_name(text: str | None) -> dict[str, str]:
    """A name and its reading from 「山田花子 やまだはなこ」「山田花子（ヤマダハナコ）」; a kana-only name has no reading."""
    words = [word for word in re.split(r"[\s、,，（）()「」]+", _plain(text or "")) if word]
    reading = [word for word in words if _KANA_ONLY.match(word)]
    name = [word for word in words if not _KANA_ONLY.match(word)]
    if not name:
        return {"name": " ".join(reading)} if reading else {}
    return {"name": " ".join(name), **({"name_kana": " ".join(reading)} if reading else {})}
