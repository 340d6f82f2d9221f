"""The safety layer: emergency signs and suicidal ideation, and the false alarms it must not raise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from intents.data import Example, load_split
from intents.safety import LEXICON_PATH, SafetyLexicon, SafetySignal, detect_safety, safety_matter

EMERGENCIES_119 = [
    # a child alone with a parent who does not wake
    "となりの前で男の子が、ママが起きないって泣いてる",
    # sudden chest pain, told without "collapsed"
    "母が突然胸が痛いと言い出しました",
    "じいちゃんがいきなり胸が苦しいって",
    "夫が胸が痛いとうずくまっています",
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
    "おじいさんが海に入っていったまま戻ってこない",
    "父が急に片方の手足が動かなくなった",
    "祖父がトラクターの下敷きになっています",
    "夫がトイレに行ってから二十分、ノックしても返事がありません",
    "ルームシェアの子、開けたら床で冷たくなってる",
    "兄がアレルギーのあるピーナッツを食べて、のどがヒューヒュー鳴っています",
    # Kansai
    "おかんが倒れとる、息してへん",
    "隣の家燃えとるで！",
    "向かいの家から火ぃ出とる、まだ中に人がおるで",
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
    # violence going on now: a time marker, or screams while it happens
    "いま向かいの家で旦那さんが奥さんを蹴ってる",
    "上の部屋から女の子の泣き叫ぶ声と、叩かれてるような音がします",
    "男の人が殴られてて、助けてって声がしてる",
]
CRISES = [
    # ending one's life told without the word "die"
    "もう首をくくろうかと縄を用意したところじゃ",
    "今、海を見ています。このまま歩いて入っていこうかと思っています",
    "毎晩、ベランダの柵を乗り越える想像をしています",
    # being gone as the best thing for the family; paying debts back with (one's life) insurance
    "みんなのためにも、わたしがいなくなるのが一番いいんです",
    "家族のためにも俺がおらんようになるほうがええんや",
    "借金は保険金で返そうかと思っています",
    "何もかも終わりにしたい",
    "もう人生を終わらせたいです",
    "明日で終わりにするつもりです",
    "I want to end it tonight",
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
    # absence, insurance and waking up in everyday use
    "私がいなくなっても困らないように、引き継ぎ書を作りました",
    "車の保険金で修理代を払いました",
    "lost that game 40 times, im dead inside lol",
    "朝、娘が起きなくて学校に遅れました",
    "子どもがママが起きないうちに朝ごはんを作ってくれた",
    "手が冷たくなってきた",
    "海に入って泳ぎたい",
    "電車のドアに傘が挟まって抜けない",
    "子どもがアレルギーで病院に行きたい",
    "今日の仕事はこれで終わりにしようと思います",
    "胸が痛むニュースでした",
    "この話はこれで終わりにします",
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
    "いまだに昔殴られたことを思い出す",
    "子どもたちが川に入って水遊びしている",
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


def test_a_signal_names_its_group_by_the_groups_reason() -> None:
    document = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    reasons = {" ".join(str(group["why"]).split()) for kind in ("emergency", "crisis") for group in document[kind]}
    breathing, fire = detect_safety("息してない"), detect_safety("火事です！煙が出てる")
    assert breathing is not None and fire is not None
    assert {breathing.group, fire.group} <= reasons and breathing.group != fire.group


@pytest.mark.parametrize(("text", "alarm"), [
    ("AEDを持ってきて！", True),
    ("Someone bring an AED, he collapsed", True),
    # Japanese patterns read Latin text without its spaces: "fabrica e dois" is no AED.
    ("vazou produto quimico na fabrica e dois colegas passaram mal", False),
])
def test_aed_is_a_word_not_three_letters_across_words(text: str, alarm: bool) -> None:
    signal = detect_safety(text)
    assert (signal is not None and signal.kind == "emergency") is alarm


@pytest.mark.parametrize("text", ["ＡＥＤ！", "AED!!", "１１９に電話して", "119!"])
def test_the_latin_letters_and_digits_of_a_japanese_pattern_are_read_in_any_message(text: str) -> None:
    # The Japanese view is skipped for a message without kana or kanji, but for these two.
    signal = SafetyLexicon({"emergency": [{"why": "w", "service": "119", "ja": ["(?<![a-z])aed(?![a-z])", "119に?"]}]})
    assert signal.detect(text) is not None


def test_every_pattern_needs_the_script_its_view_is_read_for() -> None:
    # A view is read only when the message has its script (intents.safety._VIEW_SCRIPTS): a
    # Japanese pattern without kana or kanji, or an English one without a Latin letter or a
    # digit, would never be tried on the messages it is meant for.
    document = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    kana_kanji, latin = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]"), re.compile(r"[A-Za-z0-9]")
    for section in ("negatives", "emergency", "crisis", "welfare"):
        for group in document[section]:
            for pattern in group.get("ja") or []:
                for part in [pattern] if isinstance(pattern, str) else pattern:
                    assert kana_kanji.search(part) or part in ("(?<![a-z])aed(?![a-z])", "(?<![0-9])119(?![0-9])"), part
            for pattern in group.get("en") or []:
                for part in [pattern] if isinstance(pattern, str) else pattern:
                    assert latin.search(part), part


def test_every_group_of_the_lexicon_says_why_it_is_there() -> None:
    document = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    for section in ("negatives", "emergency", "crisis", "welfare"):
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


def _lexicon_data() -> list[Example]:
    """The training data the word list was reviewed against: Japanese and English, without the
    safety model's own files (written to show what a word list cannot see: indirect emergencies,
    hard negatives) — the safety model answers for those (tests/intents/test_urgency.py)."""
    return [e for e in load_split("train") if e.language in ("ja", "en") and not e.source.startswith("safety_")]


def test_the_lexicon_catches_every_emergency_of_the_training_data() -> None:
    missed = [e.text for e in _lexicon_data() if e.intent == "emergency" and not _is_emergency(e.text)]
    assert missed == []


def test_the_lexicon_raises_few_false_alarms_on_the_training_data() -> None:
    others = [e for e in _lexicon_data() if e.intent != "emergency"]
    false_alarms = [e.text for e in others if _is_emergency(e.text)]
    assert len(false_alarms) <= 0.01 * len(others), false_alarms


def _is_emergency(text: str) -> bool:
    signal = detect_safety(text)
    return signal is not None and signal.kind == "emergency"


def test_the_matter_of_a_safety_signal() -> None:
    """Decided in one place: an emergency is itself; a crisis is the ward's こころの相談; a welfare
    risk is a worry report (after the 110 advice)."""
    assert safety_matter(SafetySignal("emergency", "110", "")) == ("emergency", None)
    assert safety_matter(SafetySignal("crisis", None, "")) == ("ask_where", "mental")
    assert safety_matter(SafetySignal("welfare", "110", "")) == ("report_worry", None)


# ---------------------------------------------------------------- situations: what to do first

FIRES = ["隣の家が燃えてる", "マンションの廊下に煙が充満してる", "ベランダから火が出た", "焦げ臭いにおいが部屋に広がってる",
         "向かいの家、火事やで！", "かじ です たすけて", "there's smoke pouring out of the flat downstairs",
         "I smell burning from next door"]
GAS_LEAKS = ["台所がガス臭い", "ガスのにおいがします", "ガスもれ してる かも", "it smells like gas in here"]
ATTEMPTS = ["これから首を吊ります", "娘が薬を全部飲んでしまった", "He swallowed a whole bottle of pills"]


@pytest.mark.parametrize(("texts", "situation"), [(FIRES, "fire"), (GAS_LEAKS, "gas"), (ATTEMPTS, "attempt")])
def test_the_situation_decides_what_to_do_first(texts: list[str], situation: str) -> None:
    """Out of a burning building before calling; no switch in a gas leak; an attempt is 119 for anyone."""
    for text in texts:
        signal = detect_safety(text)
        assert signal is not None and (signal.kind, signal.service, signal.situation) == (
            "emergency", "119", situation), (text, signal)


def test_a_collapse_or_a_weapon_has_no_special_situation() -> None:
    for text in ("祖父が倒れて動かない", "包丁を持った人がいる"):
        signal = detect_safety(text)
        assert signal is not None and signal.situation is None, text


# ---------------------------------------------------------------- welfare risks: 110 for a welfare check, then the report

WELFARE = [
    # the door not answered, said with an honorific (出てこられない)
    "インターホンを押しても出てこられません。もう三日になります",
    # a smell, with no sign of the person or from a neighbour's home
    "隣の部屋からなんとも言えない嫌なにおいがしてきます",
    "二階の一人暮らしの方の部屋、最近異臭がするんです",
    "お向かいさん、ここ一週間姿を見ないし、玄関のあたりが臭うんです",
    "上の階、なんか腐ったみたいな臭いするし、物音もせえへんねん",
    "となり の いえ から くさい におい。 おばあさん みて いない",
    # no answer at the door for days
    "インターホンを押しても、もう四日も応答がないんです",
    "三日続けて訪ねたけど、叔父が玄関に出てきません",
    "毎日 チャイム 鳴らしてるんですけど 何日も 出てこないんです",
    # mail, lights, TV, laundry — with no answer or no sign of the person
    "ポストに郵便物がたまってて、電話にも出ないんです",
    "新聞が三日分刺さったままで、声をかけても返事がありません",
    "向かいの家の電気、何日もつけっぱなしなんです",
    "隣、夜になっても明かりがつかへんし、ピンポン鳴らしても出てきはらへん",
    "テレビがずっとついてるのに、ノックしても返事がない",
    "洗濯物が干しっぱなしで、呼び鈴を押しても応答がありません",
    "もしもし 隣の 雨戸が 閉まったまま で 誰も 出てこないんです",
    # the resident fears the person is lying inside
    "中で倒れてるんじゃないかと思って心配です",
    "ひょっとして孤独死してるかもしれへん",
    # English
    "There's a foul smell coming from my neighbour's apartment",
    "I haven't seen the old lady upstairs for ages and there's a weird smell",
    "I've been ringing his doorbell since Monday and nobody answers",
    "Her letterbox is stuffed full and she hasn't answered her phone all week",
    "The lights in his flat have been on for five days straight",
    "her TV has been on for days and she isn't answering the door",
    "I'm afraid he may have collapsed in there",
]
NOT_WELFARE = [
    # an ordinary worry: one sign with everyday reasons
    "隣のおばあさん、この頃見かけないので気になっています",
    "最近、近所のおじいさんの姿を見ない",
    "新聞がたまっている家があります",
    "隣のおばあさんを最近見かけなくて、新聞もたまっているようです",
    "my neighbour's newspapers are piling up and I haven't seen her this week",
    "向かいの家、昨日は夜中まで電気がついてた",
    "I haven't seen my neighbour much lately",
    "the mail next door is piling up",
    # complaints, idioms, other matters
    "隣の部屋のテレビが一晩中うるさくて眠れない",
    "上の階からタバコのにおいが入ってきて困ってます",
    "my neighbour's cooking smells awful",
    "手続きがめんどくさいです",
    "停電でここ二日電気がつかない",
    "母が人の名前がずっと出てこなくなって、認知症か心配です",
    # a missing person is not a welfare check
    "父が昨日から帰ってこなくて、電話にも出ません",
    "認知症の祖母が出ていったきり、何時間も戻ってこない",
    "見守りメールのおじいさん、さっきコンビニにおったで",
    # fiction and news
    "ドラマで、新聞がたまってて誰も出てこない家の話をやってた",
    "孤独死のニュースを見て、一人暮らしの母が心配になった",
    "I watched a documentary about an old man whose mail piled up and nobody answered the door",
]


@pytest.mark.parametrize("text", WELFARE)
def test_welfare_risks_ask_for_a_police_welfare_check(text: str) -> None:
    signal = detect_safety(text)
    assert signal is not None and (signal.kind, signal.service) == ("welfare", "110"), signal


@pytest.mark.parametrize("text", NOT_WELFARE)
def test_ordinary_worries_complaints_missing_persons_and_stories_are_no_welfare_risk(text: str) -> None:
    assert detect_safety(text) is None


def test_danger_now_outranks_a_welfare_risk() -> None:
    """Seen collapsed through the window, a gas smell: 119 now, not a welfare check."""
    for text in ("何日も返事がないので窓からのぞいたら、倒れて動かない", "隣の部屋からガスのにおいがする、誰も出てこない",
                 "新聞がたまってる家、玄関で呼んでも返事がないし、中から煙が出てる"):
        signal = detect_safety(text)
        assert signal is not None and (signal.kind, signal.service) == ("emergency", "119"), text


def test_the_door_not_answering_is_no_collapse_but_a_person_not_responding_is() -> None:
    door = detect_safety("玄関の外から何度呼んでも返事がなくて、もう二日目です")
    assert door is not None and door.kind == "welfare"
    in_front = detect_safety("祖母を呼んでも返事がないし、揺すっても起きない")
    assert in_front is not None and in_front.kind == "emergency"
    english = detect_safety("my neighbour is lying at the bottom of the stairs and not responding")
    assert english is not None and english.kind == "emergency"


def test_welfare_fires_on_worry_reports_only_in_the_training_data() -> None:
    """A welfare risk starts the worry report: never a missing report, a sighting or a question."""
    others = [e.text for e in load_split("train") if e.intent not in ("report_worry", "emergency")
              and (signal := detect_safety(e.text)) is not None and signal.kind == "welfare"]
    assert others == []


def test_a_list_pattern_needs_every_part_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yml"
    path.write_text("welfare:\n  - why: test\n    service: '110'\n    ja: [['新聞', '返事がない']]\n", encoding="utf-8")
    lexicon = SafetyLexicon.from_yaml(path)
    assert lexicon.detect("返事がない。新聞もたまってる") is not None
    assert lexicon.detect("新聞がたまってる") is None
    assert lexicon.patterns == ["新聞 & 返事がない"]


def test_a_negative_masks_only_the_kinds_it_names(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yml"
    path.write_text("negatives:\n  - why: test\n    masks: [emergency]\n    ja: ['倒れているかも']\n"
                    "emergency:\n  - why: test\n    service: '119'\n    ja: ['倒れて']\n"
                    "welfare:\n  - why: test\n    service: '110'\n    ja: ['倒れているかも']\n", encoding="utf-8")
    signal = SafetyLexicon.from_yaml(path).detect("中で倒れているかも")
    assert signal is not None and signal.kind == "welfare"


def test_a_negative_masking_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yml"
    path.write_text("negatives:\n  - why: test\n    masks: [emergancy]\n    ja: ['x']\n", encoding="utf-8")
    with pytest.raises(ValueError, match="masks"):
        SafetyLexicon.from_yaml(path)
