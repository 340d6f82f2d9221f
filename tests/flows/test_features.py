"""What a missing report's words say about the person (flows.features): the clothing told unasked."""

from __future__ import annotations

import pytest

from flows.features import names_clothing, read_clothing, read_features, worn_in


@pytest.mark.parametrize(("text", "worn"), [
    ("うちのおかんがおらへんねん。認知症やねん。緑のカーディガン着て朝出てったきり帰ってけえへん", "緑のカーディガン"),
    ("母が紺のジャンパーを着て、白い運動靴を履いて出かけました", "紺のジャンパー、白い運動靴"),
    ("もしもし 母が 赤い セーター 着て 出ていったきり", "赤いセーター"),
    ("My mother went out wearing a green cardigan and black shoes and she has not come back",
     "a green cardigan and black shoes"),
    # No verb of wearing, or nothing worn before it: nothing is taken.
    ("認知症の父が朝から帰ってこない", None),
    ("父が帰ってきて着替えた", None),
    ("着の身着のまま出て行った", None),
    ("He left in a hurry", None),
])
def test_what_is_worn_is_read_from_a_verb_of_wearing(text: str, worn: str | None) -> None:
    assert worn_in(text) == worn


@pytest.mark.parametrize(("text", "sex"), [
    ("mero buwa lai dementia cha, bihana dekhi ghar farkinu bhayena", "male"),
    ("मेरो आमा बिहानदेखि हराउनुभयो", "female"),
    ("우리 아버지가 치매인데 아침에 나가서 안 돌아오셨어요", "male"),
    ("mẹ tôi bị lẫn, đi đâu từ sáng chưa về", "female"),
    ("我妈妈早上出去了还没回来", "female"),
    ("Mi papá tiene demencia y no ha vuelto", "male"),
    ("A minha mãe saiu de manhã e não voltou", "female"),
    ("Ang tatay ko ay hindi pa umuuwi", "male"),
    ("Ang ina ko ay nawawala", "female"),
    ("認知症の父が朝から帰ってこない", "male"),
    # No family word, no sex: it is asked.
    ("Someone I know did not come back", None),
    ("bihana dekhi ghar farkinu bhayena", None),
])
def test_the_family_word_of_a_residents_language_says_the_sex(text: str, sex: str | None) -> None:
    # Seen with tsunagu chat: 「mero buwa」 (my father) was then asked "a man or a woman?".
    assert read_features(text).get("sex") == sex


@pytest.mark.parametrize(("text", "read"), [
    # Seen on the phone webhook: spoken answers, joined by verbs, became one field (「紺色のジャンパー着、
    # ります」; the whole answer as "belongings" because it named a cane).
    ("茶色の 帽子 かぶっとります 腰が 曲がっとって 杖 ついとります", {"clothing": "茶色の帽子", "belongings": "杖"}),
    ("紺色の ジャンパー 着とります", {"clothing": "紺色のジャンパー"}),
    ("赤い カーディガン 着て 白い 運動靴 はいて 杖 ついて 出ました",
     {"clothing": "赤いカーディガン", "footwear": "白い運動靴", "belongings": "杖"}),
    ("赤いセーターで出かけて行きました", {"clothing": "赤いセーター"}),
    ("白いシャツに黒いズボン、めがねをかけています", {"clothing": "白いシャツ、黒いズボン、めがね"}),
    # Written answers as before.
    ("紺のジャンパーに灰色のズボン、白い運動靴と杖",
     {"clothing": "紺のジャンパー、灰色のズボン", "footwear": "白い運動靴", "belongings": "杖"}),
    ("a beige coat and brown shoes", {"clothing": "a beige coat", "footwear": "brown shoes"}),
    ("わからない", {}),
])
def test_clothing_is_read_into_its_fields_written_or_spoken(text: str, read: dict[str, str]) -> None:
    assert read_clothing(text) == read


@pytest.mark.parametrize(("answer", "fields"), [
    # Found with `tsunagu chat`: a Portuguese, Vietnamese or Korean family's clothing never reached
    # the cooperators' alert (only Japanese and English clothes were read).
    ("casaco marrom e boné azul", {"clothing": "casaco marrom, boné azul"}),
    ("áo khoác màu xanh và mũ đỏ, dép", {"clothing": "áo khoác màu xanh, mũ đỏ", "footwear": "dép"}),
    ("chaqueta azul y gorra roja, zapatos negros", {"clothing": "chaqueta azul, gorra roja", "footwear": "zapatos negros"}),
    ("파란 점퍼와 빨간 모자", {"clothing": "파란 점퍼, 빨간 모자"}),
    ("78 taong gulang, naka-pulang damit at tsinelas", {"clothing": "naka-pulang damit", "footwear": "tsinelas"}),
    ("कालो ज्याकेट र टोपी", {"clothing": "कालो ज्याकेट, टोपी"}),
    # An age, or "I don't know", is no clothing in any language.
    ("82 tuổi", {}), ("không biết", {}), ("não sei", {}),
])
def test_clothing_in_the_residents_languages(answer: str, fields: dict[str, str]) -> None:
    assert read_clothing(answer) == fields


@pytest.mark.parametrize(("words", "clothes"), [
    ("áo khoác màu xanh", True), ("파란 점퍼", True), ("casaco marrom", True), ("紺色のジャンパー", True),
    ("tóc bạc, đi gậy", False), ("tall, thin, grey hair", False), ("背が低くて腰が曲がってる", False),
])
def test_names_clothing(words: str, clothes: bool) -> None:
    assert names_clothing(words) is clothes


@pytest.mark.parametrize(("words", "age"), [("bà 79 tuổi", 79), ("meu pai, 82 anos", 82), ("아버지 85세", 85)])
def test_an_age_in_the_residents_languages(words: str, age: int) -> None:
    assert read_features(words)["age"] == age
