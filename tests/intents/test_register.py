"""やさしい日本語 or standard Japanese: a request for either register wins, then the writing
(kanji share, spaces between phrases) decides; a message that shows neither says nothing."""

from __future__ import annotations

import pytest

from intents.register import detect_register


@pytest.mark.parametrize("text", [
    # asking for easy Japanese, in kana and in kanji
    "やさしい にほんご で", "やさしい日本語でお願いします", "優しい日本語でお願いします", "かんたんな ことばで",
    "簡単な言葉で説明してください", "ひらがなで おねがいします", "ふりがなを つけて ください", "かんじが よめません",
    "漢字が読めません", "かんじ わからない", "にほんご すこし わかります", "日本語があまりわかりません",
    "にほんご わかりません", "もっと わかりやすく かいて ください", "please use easy Japanese",
    # naming ordinary Japanese to say it is too hard
    "ふつうの にほんご は むずかしい です",
])
def test_a_request_for_easy_japanese_is_easy(text: str) -> None:
    assert detect_register(text) == "easy"


@pytest.mark.parametrize("text", [
    # as the brief and the easy training data write it: hiragana, spaces, few kanji
    "こどもが うまれます。どこで そうだん できますか",
    "となりの おばあさん みない です。しんぶん たくさん あります",
    "となりの ひと みない",
    "おとうさん が びょういん から いなくなった",
    "こども が がっこう で いじめ られて いる",
    "おかね が ない。 ごはん かえない",
    # a kanji place name (and a kanji the writer knows) does not make it standard
    "きたく の 柳町に すんで います。ははが びょうきです",
    "中央区 本町 の こうみんかん で あつまり ありますか",
    "わたしの 母 が びょうき です",
    # full-width spaces, as Japanese keyboards type them
    "となりの　おじいさん　５にち　みて　いません",
    # no spaces, but no kanji at all in a long sentence
    "こどもがうまれます。どこでそうだんできますか",
])
def test_easy_writing_is_easy(text: str) -> None:
    assert detect_register(text) == "easy"


@pytest.mark.parametrize("text", [
    # asking for ordinary Japanese, even in kana
    "普通の日本語で", "ふつうの にほんごで おねがいします", "漢字で大丈夫です", "漢字は読めます", "かんじ よめます",
    "やさしい日本語じゃなくていいです", "ひらがなは いらないです", "ひらがなじゃなくて漢字で書いて",
    # kanji-rich written Japanese
    "母の介護保険の申請について相談したいです",
    "隣のおばあさんを3日見ていません",
    "借金で生活が苦しいです",
    "父が認知症で、朝から行方が分かりません",
    # Kansai (and other dialects) written in kanji are standard written Japanese
    "おかんの介護のことで相談したいんやけど",
    "うちのおとん、最近物忘れがひどうて困っとるんや",
    # a phone transcript: spaces from the recogniser, content words in kanji
    "えーと 母の 介護の ことで",
])
def test_standard_japanese_is_standard(text: str) -> None:
    assert detect_register(text) == "standard"


@pytest.mark.parametrize("text", [
    # phone transcripts: spaced, mostly kana, but speech — never easy
    "もしもし あのね 母が ぼけて",
    "えーと あの おじいちゃんが いない",
    "はい じゃあ 切ります ね",
    "もしもし 聞こえ ますか",
    "うちの 犬 が いなくなっちゃった んです",
])
def test_a_phone_transcript_is_not_easy(text: str) -> None:
    assert detect_register(text) != "easy"


@pytest.mark.parametrize("text", [
    # short answers anyone writes
    "はい", "いいえ", "1", "ありがとう", "ありがとう ございました", "はい わかりました", "わかりません", "すみません", "OK",
    "はいしんていし",
    # a place name, an address, digits
    "北区柳町", "北区柳町2-3-4", "きたく やなぎまち 2ちょうめ 3の4", "ちゅうおうく ほんまち です", "000-0106",
    "090-1234-5678",
    # other languages (Chinese is all kanji, but no kana)
    "我妈妈需要照顾", "어머니가 아파요", "My mother needs care", "Mẹ tôi bị bệnh", "Necesito ayuda con mi madre",
    # nothing at all
    "", "   ",
])
def test_a_message_that_shows_no_register_says_nothing(text: str) -> None:
    assert detect_register(text) is None


@pytest.mark.parametrize(("easy", "standard"), [
    ("かんじが よめません", "かんじ よめます"),
    ("やさしい にほんご で おねがいします", "やさしい にほんご じゃなくて いいです"),
    ("ははの かいごの そうだんを したいです", "母の介護の相談をしたいです"),
])
def test_the_same_words_either_way(easy: str, standard: str) -> None:
    # The pairs differ only in what decides the register: the request's negation, or kanji.
    assert (detect_register(easy), detect_register(standard)) == ("easy", "standard")
