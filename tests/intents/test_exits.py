"""The ways-out lexicon: a message that *is* a way out matches; the same words inside a
description, a question or a denial do not."""

from __future__ import annotations

import pytest

from intents.exits import (
    correction,
    is_cancel,
    is_correction,
    is_denial,
    is_restart,
    is_soft_cancel,
    is_with_the_person,
    named_item,
    says_found,
    says_not_missing,
)


@pytest.mark.parametrize("text", [
    # issue 11, failure 5, as written
    "やっぱりやめます", "もういいです", "中止して", "やっぱりやめとくわ",
    # standard, casual, dialect, elderly, phone transcript, English
    "やめる", "やめます", "キャンセル", "ｷｬﾝｾﾙ", "キャンセルでお願いします", "取り消してください", "中止します",
    "すみません、やっぱりやめときます", "この相談はやめます", "やめにします", "やめとこかな", "もうええわ", "もういいや",
    "やっぱりいいです", "もう結構です", "やめます。また今度相談します", "えっと もう いいです", "終わりにします",
    "cancel", "Never mind!", "nevermind", "forget it", "Actually, I changed my mind.", "stop", "I want to stop",
    "no thanks, I'll stop", "Cancel it please", "取りやめます", "やめさせていただきます", "もうよろしいです",
    "もう結構でございます", "no need anymore", "I'm done",
    # several clauses, or a short reason after
    "もうええわ、やめとく", "やっぱいいや、大丈夫", "いえ、やっぱりけっこうです。お騒がせしました", "あ やっぱり いいです やめます",
    "やっぱやめとくわ、ええでええで", "やめます、兄が対応するので", "Cancel please, my brother is handling it",
])
def test_ways_to_stop(text: str) -> None:
    assert is_cancel(text)


@pytest.mark.parametrize("text", [
    "やめてと言っても聞かない", "中止になった行事", "隣の人が最近ゴミ出しをやめたみたい", "もう3日も見ていない",
    "もういない", "いいです", "はい", "いいえ", "大丈夫です", "結構です", "やめて", "やめてください",
    "配信を停止して", "stop alerts", "don't stop the search", "最初から", "",
    "もういい、と言われた", "やめます。でも隣のおばあさんが心配で", "stop by the station",
])
def test_not_a_way_to_stop(text: str) -> None:
    assert not is_cancel(text)


@pytest.mark.parametrize("text", ["結構です", "けっこうです", "大丈夫です", "やめて", "やめてください", "いりません"])
def test_soft_words_are_never_mind_only_to_a_free_question(text: str) -> None:
    assert is_soft_cancel(text) and not is_cancel(text)


@pytest.mark.parametrize("text", ["最初から", "はじめから", "最初からやり直したいです", "もう一度最初からお願いします",
                                  "やり直し", "やり直させてください", "start over", "Can I start again?", "restart",
                                  "let's start from the beginning", "最初から言い直したいです"])
def test_start_again(text: str) -> None:
    assert is_restart(text) and not is_cancel(text)


@pytest.mark.parametrize("text", ["最初から順番に話すと、父は朝に出かけました", "start of the week"])
def test_not_start_again(text: str) -> None:
    assert not is_restart(text)


@pytest.mark.parametrize("text", ["訂正", "訂正したいです", "間違えました", "あ、間違えた", "まちがえました",
                                  "さっきの答えを訂正したい", "前に戻る", "修正お願いします", "that's wrong",
                                  "No, that’s wrong.", "I made a mistake", "go back", "I want to change my answer"])
def test_correction(text: str) -> None:
    assert is_correction(text)


@pytest.mark.parametrize("text", ["いつもと様子が違う", "間違えて隣の家に入ってしまうことがある", "戻ってこない",
                                  "wrong number called us last night"])
def test_not_a_correction(text: str) -> None:
    assert not is_correction(text)


@pytest.mark.parametrize("text", ["違います", "ちがう", "いや、違います", "not right", "no, not quite"])
def test_denial(text: str) -> None:
    assert is_denial(text)


def test_a_description_saying_different_is_not_a_denial() -> None:
    assert not is_denial("違う場所です")


@pytest.mark.parametrize("text", [
    "見つかりました", "父が見つかりました！お知らせを止めてください", "やっぱりいいです、見つかりました",
    "母が帰ってきました", "無事に見つかりました、ありがとうございました", "警察に保護されました", "ずっと家にいました",
    "家の中にいました、すみません", "うちにいましたよ、ありがとう", "いや、ちゃうわ、家におったわ、すんません", "見つかりました！近所の方が家まで連れてきてくださいました",
    "おじいちゃん戻ってきました", "We found him", "Found him!", "He's back home", "my dad has been found",
    "she came home", "親父が戻ってきとる", "おかんが帰ってきはったわ", "いま帰ってきてん",
])
def test_found(text: str) -> None:
    assert says_found(text)


@pytest.mark.parametrize("text", [
    "見つかりません", "まだ見つかりません", "見つかったら連絡します", "見つかりましたか", "父は見つかりましたか？",
    "以前も駅前で見つかりました", "85歳の男性で、前にも駅で保護されました", "見つからない", "帰ってこない",
    "まだ帰ってきよらん", "前にも帰ってきよったことがある", "not found yet", "has he been found?", "if he is found", "he used to come back home", "",
    # Where the person was last seen, the answer a missing report asks for first: ending the
    # report on these would leave a missing person unsearched.
    "家にいました", "昼までうちにいました", "さっきまで家にいたんですが", "家にいたのに", "She was home until 2pm",
])
def test_not_found(text: str) -> None:
    assert not says_found(text)


@pytest.mark.parametrize("text", [
    "いえ、母は家にいます。いなくなったんじゃないです", "母は家にいます", "行方不明じゃないです", "いなくなってはいません",
    "she's not missing, she's right here", "My mom is here with me", "집에 있어요", "không phải mất tích, bà đang ở nhà",
    "nasa bahay siya", "não está desaparecida", "no está desaparecido, está aquí conmigo", "她就在家里，不是走失",
    "आमा घरमै हुनुहुन्छ",
])
def test_not_missing(text: str) -> None:
    assert says_not_missing(text)


@pytest.mark.parametrize("text", [
    "家にいると思ってたらいなかった", "いなくなったんじゃないかと心配で", "家にいたのに、いなくなりました", "父が家にいません",
    "家にいない", "He has been missing since 9", "is she not missing?", "",
])
def test_not_a_correction_of_missing(text: str) -> None:
    assert not says_not_missing(text)


@pytest.mark.parametrize("text", [
    "母が朝から様子がおかしくて、話しかけてもぼーっとしてるんです", "もしもし あの 母が 話しかけても ぼーっと してるんです",
    "父に声をかけたら返事が変です", "祖母に呼びかけても反応がありません",
    "When I talk to her she doesn't make sense", "My dad just stares at the wall since this morning, he is sitting here",
    # the residents' languages
    "我妈妈从早上开始不对劲，跟她说话她也只是发呆", "阿嬤今天怪怪的，跟她講話都沒反應",
    "엄마가 아침부터 이상해요. 말을 걸어도 멍하게 있어요",
    "Mẹ tôi từ sáng cứ lạ lắm, nói chuyện với mẹ thì mẹ chỉ nhìn chằm chằm",
    "Si nanay po kanina pa kakaiba, kinakausap ko pero nakatulala lang",
    "Minha mãe tá estranha desde cedo, quando eu falo com ela ela só fica olhando",
    "Mi mamá está rara desde la mañana, cuando le hablo no responde",
    "आमा बिहानदेखि अनौठो हुनुहुन्छ, कुरा गर्दा केही बोल्नुहुन्न",
])
def test_talking_to_the_person_now(text: str) -> None:
    assert is_with_the_person(text)


@pytest.mark.parametrize(("text", "there_now"), [
    ("えっと 近所に 認知症 っぽい 方が いて あの 夜 ずっと 外に 立ってるんです", True),
    ("向かいのおばあさんが玄関の前に座り込んでいます", True),
    ("The old man next door is standing outside in his pyjamas again, she's sitting at her door too", True),
    # where a missing person was last seen, or a guess, is no sight of them now
    ("父がいなくなりました。最後は玄関の前に立ってたんです", False),
    ("母が帰ってきません。どこかの道で座ってるかもしれない", False),
    ("My dad is missing, he was standing outside at 9", False),
])
def test_seeing_the_person_there_now(text: str, there_now: bool) -> None:
    assert is_with_the_person(text) is there_now


@pytest.mark.parametrize("text", [
    "母が朝から帰ってこない", "母を呼んでも返事がなく、家のどこにもいません", "話しかけられて付いていったのかもしれない",
    "He has been missing since 9, I can't talk to him", "",
    "我妈妈从早上出门到现在还没回来", "엄마가 아침에 나가서 안 돌아와요", "Mẹ tôi đi ra ngoài từ sáng chưa về",
    "Minha mãe saiu cedo e não voltou, quero falar com alguém", "Mi papá salió y no ha vuelto",
    "Hindi pa po umuuwi si lolo simula kaninang umaga",
])
def test_not_talking_to_the_person_now(text: str) -> None:
    assert not is_with_the_person(text)


WORRY_ITEMS = {
    "noticed": ["どのようなことに気づきましたか。", "お向かいの奥さんを見かけない"],
    "where": ["その方のお住まいはどちらですか。", "北区 柳町 2丁目"],
    "since_when": ["いつ頃から気になっていますか。", "4日前から"],
    "callback_consent": ["担当者から、あなたに折り返しご連絡してもよろしいですか。", ""],
}


@pytest.mark.parametrize(("text", "item"), [
    ("場所", "where"), ("住所です", "where"), ("北区柳町", "where"), ("the address", "where"),
    ("4日前", "since_when"), ("いつから", "since_when"), ("折り返し", "callback_consent"),
    ("電話", None), ("あ", None), ("えっと", None),
])
def test_which_answer_in_words(text: str, item: str | None) -> None:
    assert named_item(text, WORRY_ITEMS) == item


@pytest.mark.parametrize(("text", "at_confirmation", "new_answer"), [
    ("訂正", False, ""),
    ("すみません、間違えました。北区栄町4丁目です", False, "北区栄町4丁目です"),
    ("すみません、場所を間違えました。最後に見たのは中央区元町の公園です", False, "最後に見たのは中央区元町の公園です"),
    ("違います、場所は北区栄町4丁目です", True, "場所は北区栄町4丁目です"),
    ("違います、場所は北区栄町4丁目です", False, None),
    ("No, that's wrong. He was last seen in Kita-ku", False, "He was last seen in Kita-ku"),
    ("いつもと様子が違う", True, None),
    ("間違えて隣の家に入ってしまうことがある", False, None),
])
def test_a_correction_and_its_new_answer(text: str, at_confirmation: bool, new_answer: str | None) -> None:
    assert correction(text, at_confirmation=at_confirmation) == new_answer


# The translations tell families to write, when the person is found, their own language's
# words (responses/<lang>.yml), やさしい日本語 readers in kana, and the English texts a bare "found".
@pytest.mark.parametrize("text", [
    "found", "Found!", "found.", "ぶじでした", "ぶじに かえりました",
    "đã tìm thấy", "Đã tìm thấy rồi, cảm ơn", "ông tôi đã về nhà rồi",  # Tiếng Việt
    "찾았습니다", "찾았어요, 감사합니다", "할머니가 돌아왔어요",  # 한국어
    "找到了", "已经找到了，谢谢", "已經找到了", "他回家了",  # 中文
    "nakita na namin siya", "nahanap na po", "nakauwi na siya",  # Tagalog
    "Já encontramos!", "Ela foi encontrada", "ela voltou para casa",  # Português
    "Ya apareció", "La encontramos", "ya volvió a casa",  # Español
    "उहाँ भेटिनुभयो", "भेटियो",  # नेपाली
])
def test_found_in_the_residents_languages(text: str) -> None:
    assert says_found(text)


@pytest.mark.parametrize("text", [
    "found?", "not found",
    "chưa tìm thấy", "không tìm thấy", "khi tìm thấy thì báo cho tôi",
    "아직 못 찾았어요", "찾았나요", "찾으면 알려 주세요",
    "没找到", "还没有找到", "找到了吗", "沒找到",
    "hindi pa nakita", "kapag nakita na",
    "ainda não foi encontrada", "quando for encontrado", "um homem apareceu na porta",
    "no la encontramos", "todavía no apareció", "si aparece",
    "उहाँ भेटिनुभएको छैन", "भेटिनुभयो भने",
])
def test_not_found_in_the_residents_languages(text: str) -> None:
    assert not says_found(text)


def test_a_spanish_no_does_not_spoil_english_found() -> None:
    assert says_found("We found him, no need to search")


@pytest.mark.parametrize(("text", "new_answer"), [
    ("すみません、違いました。実家は南区住吉町です", "実家は南区住吉町です"),
    ("あ、違ってた。南区です", "南区です"),
    ("違いました", ""),
    # Not a correction: something differed, or a read-back denied (only at a confirmation).
    ("昨日とは違いました", None),
    ("違います", None),
])
def test_it_was_wrong_corrects(text: str, new_answer: str | None) -> None:
    assert correction(text) == new_answer
