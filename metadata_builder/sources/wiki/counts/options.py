"""Choices of ``wiki-count`` that the CLI needs before any counting code is imported."""

#: ``all``: every bigram with pmi and score_v2; ``pmi30``: only PMI >= the floor (see :mod:`.merge`).
BIGRAM_TABLES = ("all", "pmi30")
