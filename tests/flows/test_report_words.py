"""What a report's words already say: an observation or only a worry, who is missing, since
when, whether an answer naming no place is more about the person or a landmark, and whether
the words are about a neighbour."""

from __future__ import annotations

import pytest

from flows.base import is_no
from flows.report_words import (
    about_a_neighbour,
    asks_instead_of_answering,
    asks_the_bot,
    is_question,
    is_more_about_the_person,
    is_only_a_phone_number,
    missing_person,
    says_what_was_noticed,
    since_when,
    strip_fillers,
)


@pytest.mark.parametrize("text", [
    "隣のおばあさんを最近見かけない", "向かいのおじいさんの家、郵便受けに新聞がたまっている", "隣のじいちゃん最近見いひんねん",
    "となりの おばあちゃんを さいきん みかけない", "近所の一人暮らしのおばあさん、夜になっても電気がつかない",
    "隣の家から変なにおいがする", "向かいの家の雨戸がずっと閉まったまま", "お隣さんの様子がおかしい",
    "My elderly neighbour hasn't been seen for days and his mail is piling up", "Something is wrong with my neighbor",
    "となりのおばあちゃん さいきん みかけへん しんぶん たまっとる"])
def test_an_observation(text: str) -> None:
    assert says_what_was_noticed(text)


@pytest.mark.parametrize(("text", "place"), [
    ("近所の人のことで気になることがあって", ""), ("近所の一人暮らしのおばあさんが心配です", ""),
    ("隣の人が心配で相談したいです", ""), ("となりのおばあちゃんのことで相談があります", ""),
    ("もしもし あの 近所のおじいさんのことなんですけど", ""), ("近所のおばあちゃんが心配やねん", ""),
    ("ご近所のことでちょっと気になることがありまして", ""), ("近所の高齢の方の見守りについて相談したい", ""),
    ("隣のおばあさんの様子が気になります", ""), ("I'm worried about my elderly neighbour", ""),
    ("I want to report a concern about someone next door", ""),
    ("北区柳町2丁目の一人暮らしの方が心配です", "北区 柳町 2丁目")])
def test_only_a_worry(text: str, place: str) -> None:
    assert not says_what_was_noticed(text, place)


@pytest.mark.parametrize(("text", "who"), [
    ("85歳の母がいなくなりました", "85歳の母"), ("父 80歳 が帰らない", "父 80歳"), ("80歳の男性で背が低い", "80歳の男性"),
    ("My father, 82, has dementia and went missing", "My father, 82"), ("my 80-year-old mother is missing",
                                                                       "my 80-year-old mother"),
    ("おやじが おらんように なった 85さい", "おやじ 85さい"), ("認知症の父が朝から帰ってこない", "認知症の父"),
    ("うちのおじいさんがね、ぼけとるもんで", "うちのおじいさん"),
    ("My mother with dementia went out", "My mother"), ("my okaasan has ninchisho", "my okaasan"),
    ("ちちが いなく なりました", "ちち"), ("入居している女性の方がいなくなりました", "女性の方"),
    ("家族がいなくなりました", None), ("施設の利用者さんがいなくなりました", "利用者")])
def test_who_is_missing(text: str, who: str | None) -> None:
    assert missing_person(text) == who


@pytest.mark.parametrize(("text", "who"), [
    ("我爸爸有认知症，今天早上出去散步还没回来", "我爸爸"), ("我媽媽82歲，從昨天就找不到了", "我媽媽 82歲"),
    ("치매가 있는 아버지가 아침부터 안 보여요", "아버지"), ("저희 할머니(85살)가 집에 안 돌아오세요", "저희 할머니 85살"),
    ("Bố tôi bị mất trí nhớ, từ sáng không thấy về", "Bố tôi"), ("Bà ngoại tôi 80 tuổi đi lạc", "Bà ngoại tôi 80 tuổi"),
    ("Yung lolo ko, 79 taong gulang, nawawala po", "Yung lolo ko 79 taong gulang"),
    ("Minha mãe tem 81 anos e sumiu", "Minha mãe 81 anos"), ("Mi abuelo no ha vuelto a casa", "Mi abuelo"),
    ("मेरो आमा ८० वर्ष हराउनुभयो", "मेरो आमा ८० वर्ष"),
    # Words that only look like kinship: strawberries, "three days", a polite "you".
    ("딸기를 사러 나갔어요", None), ("Ba ngày rồi không thấy", None), ("Bà có thể giúp không?", None)])
def test_who_is_missing_in_the_residents_languages(text: str, who: str | None) -> None:
    assert missing_person(text) == who


@pytest.mark.parametrize(("text", "since"), [
    ("隣のおばあさんを3日前から見かけない", "3日前から"), ("一週間くらい前から見ない", "一週間くらい前から"),
    ("昨日から電気がつかない", "昨日から"), ("3日も姿を見ない", "3日も"), ("He hasn't been seen for three days", "for three days"),
    ("ポストに新聞が4日分くらいたまっています", None), ("最近見かけない", None),
    # The residents' languages, as a first message says it (was asked again: seen in Tagalog).
    ("Yung kapitbahay ko pong matanda, ilang araw ko na pong hindi nakikita", "ilang araw"),
    ("옆집 할머니가 며칠째 안 보여요", "며칠째"), ("bà cụ nhà bên mấy hôm nay không thấy ra ngoài", "mấy hôm nay"),
    ("隔壁的老奶奶好几天没看到了", "好几天"), ("Minha vizinha idosa não aparece há dias", "há dias"),
    ("hace varios días que no veo a mi vecino", "hace varios días"), ("३ दिनदेखि देखिएको छैन", "३ दिनदेखि"),
    # Numbers and family words that are no time: an address, "three people", "my father".
    ("Chuo-ku Motomachi 3-chome", None), ("ba tôi không về nhà", None), ("mi vecina de 80 años", None)])
def test_since_when(text: str, since: str | None) -> None:
    assert since_when(text) == since


@pytest.mark.parametrize(("text", "more"), [
    ("ポストに新聞が4日分くらいたまっています", True), ("85歳の男じゃ。背は低うて、腰が曲がっとる", True),
    ("洗濯物も干したまま", True), ("夜も電気がついていない", True), ("the mailbox is overflowing", True),
    ("駅前のスーパーの裏", False), ("駅の近く", False), ("柳町の公園のそば", False), ("near the station", False),
    ("behind the big supermarket", False), ("北区", False), ("はい", False), ("郵便受けパンパンだし", True),
    ("変な音がする", True), ("公民館の近く", False), ("やなぎちょう", False), ("黄色い家", False),
    # However long, "last seen" or a landmark makes a place; a description stays more about the person.
    ("He was last seen near the station around 9 this morning", False),
    ("lo vi por última vez en la estación Aoba a las 9", False), ("foi visto pela última vez perto da estação", False),
    ("huling nakita sa palengke kaninang umaga", False), ("Lần cuối thấy ở gần chợ", False),
    ("tiene 82 años, lleva chaqueta gris", True), ("He has a limp and uses a cane, about 160cm", True)])
def test_more_about_the_person_or_a_landmark(text: str, more: bool) -> None:
    assert is_more_about_the_person(text) is more


@pytest.mark.parametrize(("text", "no"), [("電話はいらんよ", True), ("結構です", True), ("No need, thanks", True),
                                         ("お願いします", False), ("はい", False)])
def test_declining_in_other_words(text: str, no: bool) -> None:
    assert is_no(text) is no


@pytest.mark.parametrize(("said", "kept"), [
    ("えーと 父です 80歳です", "父です 80歳です"), ("あのう 青い ジャンパーです", "青い ジャンパーです"),
    ("まあ スーパーの 前 あたり", "スーパーの 前 あたり"), ("ええっと、あの、隣の おばあさん", "隣の おばあさん"),
    ("あのスーパーの前", "あのスーパーの前"), ("その人が", "その人が"), ("um, my father", "my father"),
    ("えーと", "えーと"),
    # A greeting first is no part of the report; one later in the words, or alone, is kept.
    ("hello, my neighbour an old lady", "my neighbour an old lady"), ("Xin chào, bà cụ hàng xóm", "bà cụ hàng xóm"),
    ("Hola buenos días, mi vecina", "mi vecina"), ("もしもし えーと 父が", "父が"),
    ("I said hello to her", "I said hello to her"), ("hello", "hello")])
def test_fillers_are_not_kept_but_words_that_look_like_them_are(said: str, kept: str) -> None:
    assert strip_fillers(said) == kept


@pytest.mark.parametrize(("text", "neighbour"), [
    ("お向かいのご主人がねえ、ずうっと家にこもっておられるんですよ", True),
    ("北区緑町1丁目のアパートの2階のにいちゃん、最近ぜんぜん部屋から出てけえへんねん", True),
    ("となりの おばあさん が さいきん みえない", True),
    ("隣の家、雨戸閉めっぱなしやねん", True),
    ("The man across the hall has stopped picking up his mail", True),
    ("옆집 할아버지가 요즘 안 보여요", True),
    ("我邻居的老奶奶好几天没出门", True),
    ("mi vecina mayor no sale de su casa", True),
    ("えっと 近所に 認知症 っぽい 方が いて あの 夜 ずっと 外に 立ってるんです", True),
    # Own family named: the household's matter, whoever else is mentioned.
    ("うちの母が最近物忘れがひどくて", False),
    ("隣の人に勧められて、母の介護のことで相談したい", False),
    ("My neighbour told me my dad should apply for care", False),
    ("우리 엄마가 옆집 사람과 싸웠어요", False),
    ("我妈妈和邻居吵架了", False),
    # A neighbourhood place or a neighbour's noise is no neighbour's matter.
    ("近所の子ども食堂を探しています", False),
    ("近所に安いスーパーがあります", False),
    ("隣の部屋の音がうるさくて眠れません", False),
    ("介護保険の申請をしたい", False),
])
def test_about_a_neighbour(text: str, neighbour: bool) -> None:
    assert about_a_neighbour(text) is neighbour


@pytest.mark.parametrize(("text", "question"), [
    ("えっと、すみません、日本語でいいですか", True), ("見守り相談室はいつ連絡してくれるんですか？", True),
    ("Who will contact me", True), ("洗濯物も干したままです", False), ("The lights were off all night", False),
])
def test_a_question_to_the_bot_is_told_apart(text: str, question: bool) -> None:
    assert is_question(text) is question


@pytest.mark.parametrize(("text", "asks"), [
    ("いつ連絡をもらえますか", True), ("写真も送れますか？", True), ("Can I send a photo?", True),
    ("Khi nào có người liên lạc với tôi?", True), ("先週からだったかな", False), ("何時ごろだったっけ", False),
    ("大丈夫かしら", False), ("3日前からですかね", False), ("洗濯物も干したままです", False),
])
def test_a_question_to_the_bot_is_not_a_resident_wondering_aloud(text: str, asks: bool) -> None:
    assert asks_the_bot(text) is asks


@pytest.mark.parametrize(("text", "asks"), [
    ("¿Debo llamar a la policía también?", True), ("すみません、警察にも電話したほうがいいですか", True),
    ("Sorry, can I send a photo?", True), ("赤いセーターだったと思いますけど、それでいいですか？", False),
    ("a navy jacket, is that enough?", False), ("紺色のジャンパー", False), ("朝9時ごろだったかな", False),
])
def test_a_question_instead_of_an_answer_is_told_from_an_answer_with_a_question_tagged_on(
        text: str, asks: bool) -> None:
    assert asks_instead_of_answering(text) is asks


@pytest.mark.parametrize("text", ["82歳です", "82さい", "she is 82 years old", "82岁", "82 tuổi", "tiene 82 años"])
def test_an_age_alone_is_more_about_the_person(text: str) -> None:
    assert is_more_about_the_person(text)


@pytest.mark.parametrize(("text", "only"), [
    ("私の電話番号は090-1234-5678です", True),
    ("電話は０９０ー１２３４ー５６７８にお願いします", True),
    ("my number is 090 1234 5678", True),
    ("제 전화번호는 090-1234-5678 입니다", True),
    ("我的电话是09012345678", True),
    ("ang numero ko ay 09012345678", True),
    # A place, clothes or a time with it: more than a number.
    ("南区旭町、電話は090-1234-5678", False),
    ("紺色のジャンパー 09012345678", False),
    ("駅前 3丁目 2-5", False),
    ("2、3週間前から", False),
])
def test_only_a_phone_number(text: str, only: bool) -> None:
    assert is_only_a_phone_number(text) is only
