"""The safety lexicon in the languages of Japan's largest foreign-resident groups.

Every message here was written for this test in everyday wording (not taken from the
lexicon or the training data): a resident in danger must get 119/110 or the crisis
lines whatever language they write in, and idioms, past events and dramas must not
raise a false alarm.
"""

from __future__ import annotations

import pytest

from intents.safety import detect_safety

# (message, kind, service) — service None for a crisis.
MUST_FIRE: dict[str, list[tuple[str, str, str | None]]] = {
    "zh": [
        ("搬运的时候同事被叉车压住了", "emergency", "119"),
        ("孩子哭着说妈妈叫不起来", "emergency", "119"),
        ("他去厕所二十分钟了，敲门也没反应", "emergency", "119"),
        ("每天晚上都想翻过阳台栏杆", "crisis", None),
        ("我老公正在打我，快救救我", "emergency", "110"),
        ("有个男的拿着刀在楼下威胁人", "emergency", "110"),
        ("爷爷突然晕倒了，叫他也没有反应", "emergency", "119"),
        ("我妈妈没有呼吸了，怎么办", "emergency", "119"),
        ("厨房着火了！", "emergency", "119"),
        ("家裡有很濃的瓦斯味", "emergency", "119"),
        ("他的手一直流血，止不住血", "emergency", "119"),
        ("我真的不想活了", "crisis", None),
        # 一了百了 (to end it all at one stroke) said of oneself, with or without tiredness of living.
        ("活着好累，干脆一了百了吧", "crisis", None),
        ("活著太痛苦了，真的不想再撐了", "crisis", None),
        ("隔壁的老奶奶敲门好几天都没人应", "welfare", "110"),
        ("我朋友说他现在就要跳楼", "emergency", "119"),
        ("邻居家在冒黑烟", "emergency", "119"),
        ("我婆婆突然说不出话，半边身体动不了", "emergency", "119"),
        ("隔壁有很臭的味道，好几天没看到人", "welfare", "110"),
    ],
    "ko": [
        ("할아버지가 트랙터 밑에 깔렸어요", "emergency", "119"),
        ("아빠가 화장실에 들어간 지 30분인데 노크해도 대답이 없어요", "emergency", "119"),
        ("베란다 난간을 넘는 상상을 자꾸 해요", "crisis", None),
        ("남편이 지금 저를 때리고 있어요", "emergency", "110"),
        ("어떤 남자가 칼을 들고 위협하고 있어요", "emergency", "110"),
        ("할아버지가 쓰러지셨는데 숨을 안 쉬어요", "emergency", "119"),
        ("아이가 의식이 없어요", "emergency", "119"),
        ("옆집에서 불이 났어요", "emergency", "119"),
        ("집에서 가스 냄새가 나요", "emergency", "119"),
        ("피가 안 멈춰요 도와주세요", "emergency", "119"),
        ("그냥 죽고 싶어요", "crisis", None),
        ("옆집 할머니가 며칠째 초인종을 눌러도 대답이 없어요", "welfare", "110"),
        ("옆집에서 이상한 냄새가 나고 며칠째 안 보여요", "welfare", "110"),
    ],
    "vi": [
        ("Chú tôi bị kẹt dưới máy cày", "emergency", "119"),
        ("Đêm nào tôi cũng nghĩ nhảy qua lan can", "crisis", None),
        ("Có ông cụ bị ngã, ông ấy không thở nữa", "emergency", "119"),
        ("Chồng tôi đang đánh tôi, cứu tôi với", "emergency", "110"),
        ("Có người cầm dao đứng trước cửa nhà tôi", "emergency", "110"),
        ("ban cung phong em tu nhien ngat xiu", "emergency", "119"),
        ("Nhà bên cạnh đang bốc cháy", "emergency", "119"),
        ("Trong bếp có mùi gas rất nặng", "emergency", "119"),
        ("Bố tôi bị đau ngực dữ dội", "emergency", "119"),
        ("Em chỉ muốn chết thôi", "crisis", None),
        ("Gõ cửa mấy ngày rồi mà không ai trả lời", "welfare", "110"),
        ("Cứu với, có người đang đánh nhau bằng dao", "emergency", "110"),
        # Lying on the ground and not answering, told in the middle of a missing-person report.
        ("A, tôi vừa thấy bà nằm dưới đất ở công viên, bà không trả lời", "emergency", "119"),
        ("ong cu nam bat dong ngoai duong", "emergency", "119"),
    ],
    "tl": [
        ("Naipit ang tatay ko sa ilalim ng sasakyan", "emergency", "119"),
        ("Binubugbog ako ng asawa ko ngayon", "emergency", "110"),
        ("May lalaking may hawak na kutsilyo sa labas", "emergency", "110"),
        ("Nahimatay ang lola ko sa banyo", "emergency", "119"),
        ("Hindi na humihinga ang anak ko", "emergency", "119"),
        ("May sunog sa katabing apartment!", "emergency", "119"),
        ("Amoy gas sa buong bahay namin", "emergency", "119"),
        ("Ang daming dugo, hindi tumitigil ang pagdurugo", "emergency", "119"),
        ("Gusto ko nang mamatay", "crisis", None),
        ("Ilang araw na akong kumatok pero walang sumasagot", "welfare", "110"),
    ],
    "pt": [
        ("Meu pai está no banheiro faz meia hora e não responde quando eu bato", "emergency", "119"),
        ("Meu tio ficou preso debaixo do carro", "emergency", "119"),
        ("Penso em pular a grade da varanda", "crisis", None),
        ("Meu marido está me batendo agora", "emergency", "110"),
        ("Tem um homem com uma faca na frente do prédio", "emergency", "110"),
        ("Minha mãe desmaiou e não acorda", "emergency", "119"),
        ("O bebê não está respirando", "emergency", "119"),
        ("Meu pai está com uma dor forte no peito", "emergency", "119"),
        ("A cozinha está pegando fogo", "emergency", "119"),
        ("Sinto cheiro de gás no apartamento", "emergency", "119"),
        ("Não quero mais viver", "crisis", None),
        ("Toquei a campainha da vizinha e ninguém atende há dias", "welfare", "110"),
    ],
    "ne": [
        ("बुबा ट्याक्टरमुनि च्यापिनुभयो", "emergency", "119"),
        ("रेलिङ नाघ्ने सोच आइरहन्छ", "crisis", None),
        ("एक जना मान्छेले चक्कु देखाएर धम्की दिइरहेको छ", "emergency", "110"),
        ("मेरो श्रीमानले मलाई अहिले कुटिरहनुभएको छ", "emergency", "110"),
        ("एक जना बुढा मान्छे लडे, सास फेरेको छैन", "emergency", "119"),
        ("मेरो साथी बेहोस भयो", "emergency", "119"),
        ("हाम्रो छिमेकमा आगो लाग्यो", "emergency", "119"),
        ("भान्सामा ग्यास चुहिएको गन्ध आइरहेको छ", "emergency", "119"),
        ("खुट्टाबाट धेरै रगत बगिरहेको छ", "emergency", "119"),
        ("मलाई मर्न मन लागेको छ", "crisis", None),
        ("mero sathi ko sas fereko chaina", "emergency", "119"),
        # Romanised Nepali, as chats write it: eyes that do not open, a whole box of medicine taken.
        ("buwa lai bolaye pani aankha kholdaina", "emergency", "119"),
        ("hajurba bathroom ma ladnu bhayo, uthna sakdaina", "emergency", "119"),
        ("didi le sabai aushadhi khaidiyo", "emergency", "119"),
        ("छिमेकीको ढोका ढकढकाएँ तर तीन दिनदेखि कसैले खोलेन", "welfare", "110"),
    ],
    "es": [
        ("Mi esposo entró al baño hace veinte minutos y no contesta cuando toco", "emergency", "119"),
        ("Toco la puerta del baño y mi abuela no responde", "emergency", "119"),
        ("Mi tío quedó atrapado debajo del coche", "emergency", "119"),
        ("Pienso en saltar el barandal del balcón", "crisis", None),
        ("Mi esposo me está pegando ahora mismo", "emergency", "110"),
        ("Un hombre con un cuchillo está en la entrada", "emergency", "110"),
        ("Mi abuelo se cayó y no se puede levantar", "emergency", "119"),
        ("Mi hija no respira", "emergency", "119"),
        ("Hay un incendio en el edificio de al lado", "emergency", "119"),
        ("Huele a gas en toda la casa", "emergency", "119"),
        ("Se cortó la mano y sangra mucho", "emergency", "119"),
        ("Ya no quiero vivir", "crisis", None),
        ("Toqué el timbre de mi vecino y nadie abre desde hace días", "welfare", "110"),
        ("Mi amiga dice que va a tirarse del puente", "emergency", "119"),
    ],
}

MUST_NOT_FIRE: dict[str, list[str]] = {
    "zh": ["笑死我了，这个视频太好笑", "今天累死了，想早点睡", "去年我爸爸晕倒住院过，现在好了",
           "昨晚看的电视剧里有人着火了", "我想死你了！", "我们小区下周有消防演习"],
    "ko": ["배고파 죽겠어요", "웃겨 죽겠네 진짜", "작년에 할머니가 쓰러지셔서 입원하셨어요",
           "드라마에서 불이 나는 장면을 봤어요", "화재경보기를 설치하고 싶어요", "더워서 죽을 것 같아요"],
    "vi": ["Cười chết mất, phim này hài quá", "Hôm nay mệt chết đi được", "Mì này cay quá muốn chết",
           "Dọn nhà bận quá muốn chết luôn", "Năm ngoái bố tôi bị ngất phải nhập viện",
           "Trong phim có cảnh cháy nhà rất đáng sợ", "Tôi muốn đăng ký diễn tập chữa cháy", "Tôi đang chạy bộ ở công viên",
           # Lying down to rest, and a phone not answered, are no collapse.
           "Con tôi thích nằm trên sàn đọc truyện", "Gọi cho mẹ mấy lần mà mẹ không trả lời tin nhắn"],
    "tl": ["Mamatay ako sa tawa sa video na ito", "Sunog ang kanin ko kanina", "Noong isang taon nahimatay ang tatay ko pero okay na siya",
           "Sa teleserye kagabi may sinaksak", "Patay gutom na ako", "Saan ako pwedeng magpa-checkup?"],
    "pt": ["Estou morrendo de rir com esse vídeo", "Morrendo de fome, vamos almoçar", "Ano passado meu pai desmaiou no trabalho",
           "Na novela de ontem teve um incêndio", "Quero comprar um extintor para casa", "Minha faca está cega, onde afiar?"],
    "ne": ["हाँसेर मरें", "पोहोर मेरो बुबा बेहोस हुनुभएको थियो", "सिनेमामा आगो लागेको दृश्य थियो",
           "भोकले मरियो, खाना खाऔं", "ग्यास सिलिन्डर कहाँ किन्ने?", "मलाई वडा कार्यालय जानु छ",
           "aankha ko doctor kaha cha?", "pohor hajurba ladnu bhayo, aba thik hunuhuncha", "dherai aushadhi khanu parcha ki?"],
    "es": ["Me muero de risa con este video", "Me muero de hambre", "El año pasado mi abuelo se desmayó en la calle",
           "En la telenovela hubo un incendio", "Quiero comprar un extintor", "Mi cuchillo no corta, ¿dónde lo afilo?"],
}

# Everyday words that fold or read like a danger word: 「từ từ」 (slowly) folds like 「tự tử」
# (suicide), 「xì gà」 (a cigar) like a gas leak, 「có chạy」 (does it run) like 「có cháy」
# (fire!), 「sưng」 (swollen) like 「súng」 (gun); 타고 있어요 is riding a bus, 연기 acting;
# 在打电话 is a phone call; फोन चल्दैन a phone that does not work, सासू a mother-in-law;
# a fuego lento is cooking.
EVERYDAY_LOOKALIKES = [
    "Đi từ từ thôi", "Ông ấy hút xì gà", "Xe buýt có chạy không?", "Chân tôi bị sưng, bạn tôi đưa đi khám",
    "지금 버스를 타고 있어요", "그 배우 연기가 나쁘지 않아", "이거 진짜 죽인다",
    "他现在在踢足球", "有人在打电话", "没有呼吸困难，只是咳嗽",
    "मेरो फोन चल्दैन", "मेरो सासू घरमा छैन",
    "Cocinar a fuego lento 20 minutos", "Deixe no fogo baixo", "Tatalon kami sa pool mamaya",
    # Things, not people, under or stuck in something.
    "书被压在箱子下面了", "차 밑에 고양이가 끼어 있어요", "my phone is stuck under the couch",
]


@pytest.mark.parametrize(("text", "kind", "service"),
                         [case for cases in MUST_FIRE.values() for case in cases])
def test_danger_in_each_language_fires(text: str, kind: str, service: str | None) -> None:
    signal = detect_safety(text)
    assert signal is not None, text
    assert (signal.kind, signal.service) == (kind, service), (text, signal)


@pytest.mark.parametrize("text", [text for texts in MUST_NOT_FIRE.values() for text in texts] + EVERYDAY_LOOKALIKES)
def test_idioms_past_events_and_dramas_do_not_fire(text: str) -> None:
    assert detect_safety(text) is None, (text, detect_safety(text))


def test_each_language_has_its_cases() -> None:
    for language in ("zh", "ko", "vi", "tl", "pt", "ne", "es"):
        assert len(MUST_FIRE[language]) >= 8 and len(MUST_NOT_FIRE[language]) >= 6, language


def test_chinese_is_matched_in_both_scripts() -> None:
    simplified, traditional = detect_safety("他没有呼吸了"), detect_safety("他沒有呼吸了")
    assert simplified is not None and traditional is not None
    assert simplified.kind == traditional.kind == "emergency"


def test_latin_script_languages_match_without_diacritics() -> None:
    for plain in ("ong ay khong tho nua", "nao esta respirando", "no esta respirando"):
        assert detect_safety(plain) is not None, plain
