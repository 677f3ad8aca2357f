"""Balancing (Algorithm 1 of MetaCLIP): cap every metadata entry at about ``t`` texts, reproducibly.

Each entry ``e`` gets ``p[e] = t / max(count[e], t)``; a text is kept if any of its matched entries
wins an independent draw with probability ``p[e]``, so ``P(keep) = 1 - prod(1 - p[e])``
(``docs/recipe.md`` §3). Entries with ``count <= t`` keep all their texts (the *tail* is
``count < t``, the paper's definition; ``count == t`` is kept whole but outside the tail); *head*
entries (``count > t``) keep at least ``t`` of theirs in expectation, plus the texts they share
with winning entries.

- :mod:`.probabilities`: tail share, t from a tail share, ``p[e]``, keep probabilities and the exact
  expected curated size (array arithmetic, no I/O);
- :mod:`.draws`: the counter-based hash draws that make the kept set reproducible;
- :mod:`.expected`: expected size and expected kept texts per entry over a match folder;
- :mod:`.per_image`: Meta CLIP 2's one text per image;
- :mod:`.diagnose`: warnings when balancing does little (t above every count, an unreachable tail
  share, a head barely flattened);
- :mod:`.languages`: Meta CLIP 2's per-language t (English's tail share carried to every language);
- :mod:`.run`: the ``balance`` command's work (sharded, resumable) and :mod:`.output` its reader.
"""

from .diagnose import balance_warnings, head_ratios
from .draws import choice_scores, match_draws, mix64, sample_flat, text_keys
from .expected import expected_entry_counts, expected_size
from .languages import T_RULES, language_ts, t_for_share, t_nearest
from .output import BalanceOutput
from .per_image import choose_one_text_per_image, chosen_counts
from .probabilities import (
    entry_probabilities,
    expected_size_flat,
    flatten_entry_ids,
    keep_probabilities,
    keep_probabilities_flat,
    per_text,
    t_for_tail_share,
    tail_share,
    tail_shares,
)
from .run import COUNT_OVER, balance, unify_curated

__all__ = ["BalanceOutput", "COUNT_OVER", "balance", "balance_warnings", "choice_scores", "choose_one_text_per_image",
           "chosen_counts", "entry_probabilities", "expected_entry_counts", "head_ratios", "unify_curated",
           "expected_size", "expected_size_flat", "flatten_entry_ids", "keep_probabilities",
           "keep_probabilities_flat", "match_draws", "mix64", "per_text", "sample_flat", "t_for_tail_share", "tail_share",
           "tail_shares", "text_keys", "T_RULES", "language_ts", "t_for_share", "t_nearest"]
