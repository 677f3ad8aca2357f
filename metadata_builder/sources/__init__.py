"""The metadata's sources: WordNet (:mod:`.wordnet`) and Wikipedia (:mod:`.wiki`)."""
