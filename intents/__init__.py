"""Understanding residents: normalisation, safety lexicon, intent/topic classifier, place extraction."""

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
