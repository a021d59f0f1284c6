"""Character sequences as one-hot tensors: the data of the WGAN-GP paper's language model (section 5.3).

A corpus is cleaned (``clean_corpus``), cut into non-overlapping windows of ``seq_len`` characters,
and a fixed, seeded share of the windows is held out (the same windows whatever the run's seed). A
batch is ``(x,)`` with ``x`` of shape (N, V, L): one-hot over the V characters of the vocabulary at
each of the L positions (values 0 and 1, inside the [-1, 1] every genzoo batch lives in). A
generator's output of that shape is a distribution over characters at each position; ``decode``
reads it by argmax, as the paper samples.

The embedded default corpus is English prose that ships with Python itself: the standard library's
documentation topics (``pydoc_data.topics``, about 460,000 characters). ``data.path`` reads any UTF-8
text file instead (the paper used the One Billion Word benchmark).
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from genzoo.data.base import GenDataModule, held_out_share
from genzoo.errors import ConfigError, DatasetNotFoundError

#: the default character set: lower-case letters, digits, space and common punctuation (48 characters)
DEFAULT_CHARSET = "abcdefghijklmnopqrstuvwxyz0123456789 .,;:'\"()-!?"
#: a share of a corpus's characters outside ``data.charset`` above which the run is refused (training would see
#: little but the spaces left), and above which one warning says what was dropped
REFUSE_OUTSIDE_SHARE, WARN_OUTSIDE_SHARE = 0.5, 0.05
#: typographic characters mapped to the plain ones before the character set is applied
_PLAIN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                        "\u2026": "...", "\t": " "})


def embedded_corpus() -> str:
    """The standard library's documentation topics, in a fixed order (their sorted names)."""
    from pydoc_data.topics import topics

    return "\n".join(topics[k] for k in sorted(topics))


def clean_corpus(text: str, charset: str | None = DEFAULT_CHARSET, lowercase: bool = True,
                 min_letter_share: float = 0.6) -> str:
    """``text`` as one line of prose in a small character set.

    Typographic quotes and dashes become plain ones and accents are dropped (NFKD); lines in which
    letters make up less than ``min_letter_share`` of the non-space characters (code, tables, rules
    of dashes) are dropped; the text is lower-cased (``lowercase``); characters outside ``charset``
    (None: keep every character) are removed; every run of white space becomes one space.
    """
    return in_charset(prose_lines(text, lowercase, min_letter_share), charset)


def prose_lines(text: str, lowercase: bool = True, min_letter_share: float = 0.6) -> str:
    """``clean_corpus`` up to the character set: plain quotes and dashes, no accents, the lines of prose
    (at least ``min_letter_share`` letters), lower-cased (``lowercase``), joined by spaces."""
    text = unicodedata.normalize("NFKD", text.translate(_PLAIN))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    kept = []
    for line in text.splitlines():
        visible = [ch for ch in line if not ch.isspace()]
        if visible and sum(ch.isalpha() for ch in visible) >= min_letter_share * len(visible):
            kept.append(line)
    text = " ".join(kept)
    return text.lower() if lowercase else text


def in_charset(text: str, charset: str | None) -> str:
    """``text`` without the characters outside ``charset`` (None: all kept), white space runs as one space."""
    if charset is not None:
        allowed = set(charset)
        text = "".join(ch if ch in allowed else " " if ch.isspace() else "" for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def outside_charset(text: str, charset: str) -> tuple[float, list[str]]:
    """The share of ``text``'s non-space characters that are not in ``charset``, and the most frequent of
    those (up to five, most frequent first)."""
    visible = [ch for ch in text if not ch.isspace()]
    dropped = Counter(ch for ch in visible if ch not in set(charset))
    return (sum(dropped.values()) / len(visible) if visible else 0.0), [ch for ch, _ in dropped.most_common(5)]


class OneHotText(Dataset):
    """Windows of character indices (N, L), read as one-hot batches (N, V, L): one indexing op a batch."""

    def __init__(self, indices: torch.Tensor, vocab_size: int) -> None:
        self.indices = indices
        self.vocab_size = vocab_size

    def __len__(self) -> int:
        return self.indices.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[0] for t in self.__getitems__([i]))

    def __getitems__(self, idx: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, ...]:
        idx_t = idx if isinstance(idx, torch.Tensor) else torch.as_tensor(idx, dtype=torch.long)
        return (one_hot(self.indices[idx_t], self.vocab_size),)

    def to_device(self, device: torch.device | str) -> OneHotText:
        """These windows (character indices, not one-hot) on ``device``: batches are made there (``data.on_device``)."""
        return OneHotText(self.indices.to(device), self.vocab_size)


def one_hot(indices: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(N, L) character indices -> (N, V, L) one-hot float."""
    return F.one_hot(indices.long(), vocab_size).permute(0, 2, 1).float()


class Text(GenDataModule):
    """Character sequences of ``seq_len`` from a corpus (the embedded one, or the file ``path``), one-hot.

    ``charset``: the characters kept (the vocabulary, in this order); null: every character the
    cleaned corpus holds (sorted). ``held_out_fraction`` of the windows is the held-out split.
    """

    data_kind = "text"

    def __init__(self, path: str | None = None, seq_len: int = 32, charset: str | None = DEFAULT_CHARSET,
                 lowercase: bool = True, min_letter_share: float = 0.6, held_out_fraction: float = 0.1,
                 **kw) -> None:
        super().__init__(**kw)
        if self.binarize != "none" or self.palette_size is not None:
            raise ConfigError("data=text holds characters, not pixels: data.binarize and data.palette_size do not "
                              "apply; leave them at none and null.")
        if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 2:
            raise ConfigError(f"data.seq_len={seq_len!r} must be an integer >= 2 (the paper's is 32).")
        if charset is not None and (not isinstance(charset, str) or len(set(charset)) < 2):
            raise ConfigError(f"data.charset={charset!r} must be a string of at least 2 distinct characters, or null "
                              "(every character of the corpus).")
        if charset is not None and len(set(charset)) != len(charset):
            raise ConfigError(f"data.charset={charset!r} repeats a character; list each character once.")
        if not isinstance(min_letter_share, (int, float)) or not 0 <= min_letter_share <= 1:
            raise ConfigError(f"data.min_letter_share={min_letter_share!r} must be in [0, 1] (0 keeps every line).")
        self.path = None if path is None else Path(str(path)).expanduser()
        self.seq_len = seq_len
        self.charset = charset
        self.lowercase = lowercase
        self.min_letter_share = min_letter_share
        self.held_out_fraction = held_out_fraction
        self._text: str | None = None
        self._windows: torch.Tensor | None = None
        self._vocab: str | None = None
        self._ngrams: dict[tuple[str, int | None], dict] = {}

    # --- the corpus ---------------------------------------------------------------------------------
    def _corpus(self) -> str:
        """The cleaned corpus (read and cleaned once)."""
        if self._text is None:
            self._text = self._read_and_clean()
        return self._text

    def _read_and_clean(self) -> str:
        if self.path is None:
            raw = embedded_corpus()
        else:
            if not self.path.is_file():
                raise DatasetNotFoundError(f"data.path={self.path} is not a file; point it at a UTF-8 text file "
                                           "(or leave data.path null for the embedded corpus).")
            try:
                raw = self.path.read_text(encoding="utf-8")
            except UnicodeDecodeError as e:
                raise DatasetNotFoundError(f"data.path={self.path} is not UTF-8 text ({e.reason} at byte {e.start}); "
                                           "convert it to UTF-8.") from None
        prose = prose_lines(raw, self.lowercase, self.min_letter_share)
        if self.charset is not None:
            self.check_charset(prose)
        return in_charset(prose, self.charset)

    def check_charset(self, prose: str) -> float:
        """Refuse a corpus mostly outside ``charset`` (more than ``REFUSE_OUTSIDE_SHARE`` of its non-space
        characters), warn once for one partly outside it (more than ``WARN_OUTSIDE_SHARE``); the share dropped."""
        share, most = outside_charset(prose, self.charset)
        if share <= WARN_OUTSIDE_SHARE:
            return share
        where = "the embedded corpus" if self.path is None else f"data.path={self.path}"
        what = (f"{share:.0%} of the characters of {where} ({'lower-cased, ' if self.lowercase else ''}spaces not "
                f"counted) are outside data.charset (most often {', '.join(map(repr, most))})")
        if share > REFUSE_OUTSIDE_SHARE:
            raise ConfigError(f"{what}: training would see little but the spaces left. Give a data.charset that holds "
                              "the text's characters (data.charset=null keeps every character), or another text.")
        warnings.warn(f"{what} and were dropped; data.charset=null keeps every character.", stacklevel=2)
        return share

    @property
    def vocab(self) -> str:
        """The characters, index order: ``charset``, or the cleaned corpus's own characters (sorted)."""
        if self._vocab is None:
            self._vocab = self.charset if self.charset is not None else "".join(sorted(set(self._corpus())))
            if len(self._vocab) < 2:
                raise ConfigError(f"data.path={self.path}: after cleaning, the corpus has fewer than 2 distinct "
                                  "characters; give data.charset or a longer text.")
        return self._vocab

    def windows(self) -> torch.Tensor:
        """All non-overlapping windows of ``seq_len`` characters of the cleaned corpus, as indices (N, L)."""
        if self._windows is None:
            text = self._corpus()
            n = len(text) // self.seq_len
            if n < 2:
                where = "the embedded corpus" if self.path is None else f"data.path={self.path}"
                raise ConfigError(f"{where} holds {len(text)} characters after cleaning, fewer than two sequences of "
                                  f"data.seq_len={self.seq_len}; give a longer text or a shorter data.seq_len.")
            lookup = {ch: i for i, ch in enumerate(self.vocab)}
            idx = torch.tensor([lookup[ch] for ch in text[: n * self.seq_len]], dtype=torch.uint8
                               if len(self.vocab) <= 256 else torch.long)
            self._windows = idx.view(n, self.seq_len)
        return self._windows

    # --- GenDataModule -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.vocab), self.seq_len)

    @property
    def modality(self) -> str:
        return "text"

    def build_dataset(self, split: str) -> OneHotText:
        w = self.windows()
        return OneHotText(w[held_out_share(len(w), self.held_out_fraction, split)], len(self.vocab))

    # --- text in and out ------------------------------------------------------------------------------
    def decode(self, x: torch.Tensor) -> list[str]:
        """(N, V, L) one-hot or per-position distributions (a generator's softmax) -> N strings, by argmax."""
        if x.ndim != 3 or x.shape[1] != len(self.vocab):
            raise ValueError(f"decode takes (N, {len(self.vocab)}, L) tensors, got {tuple(x.shape)}")
        return self._strings(x.argmax(1))

    def _strings(self, idx: torch.Tensor) -> list[str]:
        """(N, L) character indices -> N strings."""
        vocab = self.vocab
        return ["".join(vocab[i] for i in row) for row in idx.tolist()]

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Strings of the vocabulary, all of one length -> (N, V, L) one-hot."""
        lookup = {ch: i for i, ch in enumerate(self.vocab)}
        try:
            idx = torch.tensor([[lookup[ch] for ch in t] for t in texts], dtype=torch.long)
        except KeyError as e:
            raise ConfigError(f"The character {e.args[0]!r} is not in this run's vocabulary {self.vocab!r}.") from None
        return one_hot(idx, len(self.vocab))

    def texts(self, split: str = "test", max_examples: int | None = None) -> list[str]:
        """The sequences of ``split`` as strings (the first ``max_examples`` in order)."""
        ds = self.dataset(split)
        return self._strings(ds.indices if max_examples is None else ds.indices[:max_examples])

    def ngram_reference(self, split: str = "test", max_examples: int | None = None) -> dict:
        """The n-gram counts of ``texts(split, max_examples)`` (``metrics.text.reference_counts``), counted
        once per run: every evaluation compares its samples with the same real text."""
        key = (split, max_examples)
        if key not in self._ngrams:
            from genzoo.metrics.text import reference_counts

            self._ngrams[key] = reference_counts(self.texts(split, max_examples))
        return self._ngrams[key]
