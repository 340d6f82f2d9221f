"""Normalisation: width, long vowels, punctuation, phone fillers — without losing meaning."""

from __future__ import annotations

import pytest

from intents.normalize import fold_for_matching, kanji_number, katakana_to_hiragana, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ｱｲｳ　ＡＢＣ１２３", "アイウABC123"),  # half-width kana, full-width ASCII and space
        ("すごーーーい！！！", "すごーい!"),  # long-vowel run and repeated punctuation
        ("本当に！？！？", "本当に!?"),
        ("わかります。。。", "わかります。"),
        ("〒０００−０１０１", "〒000-0101"),
        ("I  want   to talk", "I want to talk"),
    ],
)
def test_width_vowels_punctuation_and_spaces_are_folded(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # A pause after a polite sentence ending is a sentence end; other pauses are not.
        ("ぼーっと してたんです なんか 心配で", "ぼーっとしてたんです。心配で"),
        ("父が いなく なりました 認知症 です", "父がいなくなりました。認知症です"),
        ("北区 旭町 です", "北区旭町です"),
        ("そうです。 はい", "そうです。はい"),
    ],
)
def test_a_pause_after_a_polite_ending_ends_the_sentence(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("えーと あの 母が いなくなって", "母がいなくなって"),
        ("えーーと、あのー、父が", "父が"),
        ("えっとー 隣の じいちゃん 最近 見いひんねん", "隣のじいちゃん最近見いひんねん"),
        ("あのー、えー、その、むすめが", "むすめが"),
        ("まあ 家内が 足を悪くしまして", "家内が足を悪くしまして"),
        ("Um, I need help", "I need help"),
    ],
)
def test_phone_fillers_are_removed(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "meaningful",
    ["その後、母が倒れた", "あの人が倒れている", "まあまあ元気です", "なんか食べたい", "その件で相談したい"],
)
def test_demonstratives_and_words_glued_to_content_are_kept(meaningful: str) -> None:
    assert normalize(meaningful) == meaningful


def test_a_message_of_only_fillers_becomes_empty() -> None:
    assert normalize("えーと あのー うーん") == ""


def test_normalize_is_idempotent() -> None:
    for text in ("えーと あの 母が いなくなって！！", "ｶﾀｶﾅ と ＡＳＣＩＩ", "その後 まあ 元気"):
        once = normalize(text)
        assert normalize(once) == once


def test_katakana_folds_to_hiragana_and_leaves_the_rest() -> None:
    assert katakana_to_hiragana("アサヒマチ 旭町 abc ー") == "あさひまち 旭町 abc ー"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("はい、お願いします！", "はい お願いします"),  # inner punctuation separates like a space
        ("ＹＥＳ。", "yes"),  # full width, upper case, a full stop
        ("いいよー", "いいよ"),  # a drawn-out ending
        ("はい〜！", "はい"),
        ("No, thanks.", "no thanks"),
        ("  start   over  ", "start over"),
        ("オペレーターと話したい", "オペレーターと話したい"),  # a long vowel inside a word stays
        ("。。！", ""),
    ],
)
def test_answers_are_folded_for_matching(raw: str, expected: str) -> None:
    assert fold_for_matching(raw) == expected


def test_a_button_title_and_its_typed_answer_fold_alike() -> None:
    assert fold_for_matching("メニュー") == fold_for_matching("メニュー！")


@pytest.mark.parametrize(
    ("written", "value"),
    [("3", 3), ("三", 3), ("十", 10), ("十二", 12), ("二十", 20), ("二十三", 23), ("二〇", 20), ("零三", 3)],
)
def test_kanji_numbers(written: str, value: int) -> None:
    assert kanji_number(written) == value
