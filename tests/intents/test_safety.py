"""The safety layer: emergency signs and suicidal ideation, and the false alarms it must not raise."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from intents.data import load_split
from intents.safety import LEXICON_PATH, SafetyLexicon, SafetySignal, detect_safety, safety_matter

EMERGENCIES_119 = [
    # standard
    "隣の人が倒れて動かない",
    "父が息をしていない",
    "母の意識がないんです",
    "隣の家から煙が出ている",
    "火事です！",
    "頭から血が出てる、血が止まらない",
    "救急車をお願いします",
    "祖父がお風呂で沈んでた。ぐったりしてる",
    "子どもがけいれんして止まらない",
    "赤ちゃんの唇が紫色になっている",
    "母がもちを喉に詰まらせて苦しそう",
    "娘が今から電車に飛び込むって電話してきた",
    "熱中症でぐったりして動けない",
    "父が急に片方の手足が動かなくなった",
    # Kansai
    "おかんが倒れとる、息してへん",
    "隣の家燃えとるで！",
    "おとんが倒れて動かへん",
    "おかんが倒れてもうた、血ぃ止まらへん",
    # phone transcript
    "もしもし あの 隣の おばあちゃんが 庭で 倒れて ぴくりとも しないん です",
    "えーと 主人が 胸を 押さえて 倒れまして",
    # やさしい日本語 (hiragana, spaces)
    "となり の ひと が たおれて います",
    "ちち が いき を して いない",
    "いえ が もえて います",
    "きゅうきゅうしゃ を よんで ください",
    "たすけて ひと が しんでる",
    # English
    "My neighbor collapsed and is not breathing",
    "my father is unconscious",
    "There is a fire in the apartment next door",
    "she is bleeding a lot",
    "please send an ambulance",
    "my dad fell and can't get up",
    "I think he's having a stroke",
]
EMERGENCIES_110 = [
    "道で男の人が包丁を持って暴れています",
    "今、目の前で人が殴られてる",
    "知らない男が刃物をふりまわしている",
    "ナイフ もった ひと が いる",
    "someone with a knife is outside my door",
    "There's an intruder in my house",
    "泥棒が家に入ってきた",
    "元夫が今うちの玄関の外に来ている",
]
CRISES = [
    "死にたい",
    "もう消えたいです",
    "死にたいねん",
    "生きていたくない",
    "しにたい です",
    "夜になると死んだほうが楽かなと考えてしまう",
    "息子が自殺をほのめかしている",
    "I want to die",
    "I keep thinking about killing myself",
    "I don't want to live anymore",
    "もう死ぬしかない",
    "生きとってもしゃあないわ",
    "I have nothing to live for",
]
NOT_EMERGENCIES = [
    "今日は死ぬほど疲れた",
    "倒れそうなくらい暑い",
    "さっき火事のニュースを見た、怖いね",
    "昨日のドラマの火事のシーン、怖かった",
    "包丁が切れなくなった、研ぎ方わかる？",
    "燃えないゴミの日はいつ？",
    "隣の人、中で倒れているかもしれない。何日も見ていない",
    "隣のおじさん、死んでるんじゃないかと思うくらい物音がしない",
    "母が倒れて入院しました。退院後の介護が心配です",
    "父は去年倒れてから家で寝たきりです",
    "救急車で運ばれて入院した母の介護のこと",
    "蚊に刺されたところがかゆい",
    "夫に毎日殴られています",
    "息子が帰宅しない",
    "I'm dying to know the opening hours",
    "this heat is killing me",
    "just saw news about a fire, scary",
    "my kitchen knife is dull",
    "I'm worried she might have collapsed inside, nobody answers the door",
    "I got fired last month and can't pay rent",
    "My husband had a stroke last year and needs care",
    "息が苦しいのは喘息のせいですか",
    "倒れても大丈夫なように手すりをつけたい",
    "ともだち が たくさん います",
    "わたし に たいして やさしい です",
]


@pytest.mark.parametrize("text", EMERGENCIES_119)
def test_medical_and_fire_emergencies_give_119(text: str) -> None:
    signal = detect_safety(text)
    assert signal is not None and signal.kind == "emergency" and signal.service == "119", signal


@pytest.mark.parametrize("text", EMERGENCIES_110)
def test_weapons_violence_and_intruders_give_110(text: str) -> None:
    signal = detect_safety(text)
    assert signal is not None and signal.kind == "emergency" and signal.service == "110", signal


@pytest.mark.parametrize("text", CRISES)
def test_suicidal_ideation_is_a_crisis(text: str) -> None:
    signal = detect_safety(text)
    assert signal is not None and signal.kind == "crisis" and signal.service is None, signal


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_idioms_news_and_worries_raise_no_emergency(text: str) -> None:
    signal = detect_safety(text)
    assert signal is None or signal.kind != "emergency", signal


def test_hyperbole_is_not_a_crisis() -> None:
    for text in ("死ぬほど疲れた", "死ぬかと思った", "I'm dying to see you", "bored to death"):
        assert detect_safety(text) is None, text


def test_a_negative_masks_only_its_own_words() -> None:
    """「死ぬほど疲れた」 must not hide a real wish to die later in the same message."""
    signal = detect_safety("今日は死ぬほど疲れた。もう死にたい")
    assert signal is not None and signal.kind == "crisis"


def test_emergency_outranks_crisis_and_weapons_outrank_injuries() -> None:
    attempt = detect_safety("死にたい。今から飛び降ります")
    assert attempt is not None and attempt.kind == "emergency"
    stabbing = detect_safety("刃物を持った男がいて、人が血だらけで倒れている")
    assert stabbing is not None and stabbing.service == "110"


def test_matched_names_the_lexicon_entry_that_fired() -> None:
    signal = detect_safety("息してない")
    assert signal is not None
    assert signal.matched in SafetyLexicon.from_yaml().patterns


def test_every_group_of_the_lexicon_says_why_it_is_there() -> None:
    document = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    for section in ("negatives", "emergency", "crisis"):
        assert document[section], section
        for group in document[section]:
            assert str(group.get("why") or "").strip(), group


def test_a_group_without_a_reason_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yml"
    path.write_text("emergency:\n  - service: '119'\n    ja: ['倒れ']\n", encoding="utf-8")
    with pytest.raises(ValueError, match="why"):
        SafetyLexicon.from_yaml(path)


def test_an_emergency_without_a_number_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yml"
    path.write_text("emergency:\n  - why: test\n    ja: ['倒れ']\n", encoding="utf-8")
    with pytest.raises(ValueError, match="119"):
        SafetyLexicon.from_yaml(path)


def test_the_lexicon_catches_every_emergency_of_the_training_data() -> None:
    missed = [e.text for e in load_split("train") if e.intent == "emergency" and not _is_emergency(e.text)]
    assert missed == []


def test_the_lexicon_raises_few_false_alarms_on_the_training_data() -> None:
    others = [e for e in load_split("train") if e.intent != "emergency"]
    false_alarms = [e.text for e in others if _is_emergency(e.text)]
    assert len(false_alarms) <= 0.01 * len(others), false_alarms


def _is_emergency(text: str) -> bool:
    signal = detect_safety(text)
    return signal is not None and signal.kind == "emergency"


def test_the_matter_of_a_safety_signal() -> None:
    """Decided in one place: an emergency is itself; a crisis is the ward's こころの相談."""
    assert safety_matter(SafetySignal("emergency", "110", "")) == ("emergency", None)
    assert safety_matter(SafetySignal("crisis", None, "")) == ("ask_where", "mental")
