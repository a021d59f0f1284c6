"""Sample metrics of character sequences: the WGAN-GP paper's n-gram Jensen-Shannon divergence.

For each n, the n-grams of a set of strings (counted within each string, never across two) form a
distribution; the metric is the Jensen-Shannon divergence between the samples' distribution and the
real text's, in bits (between 0, the same distribution, and 1, no n-gram in common), as in the
paper's ``language_helpers.NgramLanguageModel.js_with``. Both sides are finite samples, so even real
text scores above 0 against other real text, more so for larger n: compare runs at one sample count.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

#: the n-gram orders the paper reports
ORDERS = (1, 2, 3, 4)


def ngram_counts(texts: Iterable[str], n: int) -> Counter:
    """How often each n-gram occurs within the strings ``texts``."""
    if n < 1:
        raise ValueError(f"n-gram order must be >= 1, got {n}")
    counts: Counter = Counter()
    for t in texts:
        counts.update(t[i : i + n] for i in range(len(t) - n + 1))
    return counts


def js_divergence(p: Counter, q: Counter) -> float:
    """Jensen-Shannon divergence in bits between the distributions of two count tables."""
    sp, sq = sum(p.values()), sum(q.values())
    if sp == 0 or sq == 0:
        raise ValueError("js_divergence needs two non-empty count tables")
    total = 0.0
    for key in p.keys() | q.keys():
        a, b = p.get(key, 0) / sp, q.get(key, 0) / sq
        m = 0.5 * (a + b)
        if a > 0:
            total += 0.5 * a * math.log(a / m)
        if b > 0:
            total += 0.5 * b * math.log(b / m)
    return max(0.0, total / math.log(2))


def reference_counts(texts: Iterable[str], orders: Sequence[int] = ORDERS) -> dict[int, Counter]:
    """The n-gram counts of real text for each order: computed once, compared with every evaluation's samples."""
    texts = list(texts)
    return {n: ngram_counts(texts, n) for n in orders}


def text_metrics(samples: Sequence[str], reference: Sequence[str] | dict[int, Counter], prefix: str = "ngram",
                 orders: Sequence[int] = ORDERS) -> dict[str, float]:
    """``{prefix}/js{n}`` for each n-gram order, and ``{prefix}/unique``: the share of distinct samples
    (1 when every sample differs, 1/N when the generator has collapsed onto one string). ``reference``:
    real strings, or their ``reference_counts``."""
    ref = reference if isinstance(reference, dict) else reference_counts(reference, orders)
    out = {f"{prefix}/js{n}": js_divergence(ngram_counts(samples, n), ref[n]) for n in orders}
    out[f"{prefix}/unique"] = len(set(samples)) / max(1, len(samples))
    return out
