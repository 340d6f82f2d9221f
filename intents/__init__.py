"""Understanding residents: normalisation, safety lexicon, intent/topic classifier, place extraction."""
