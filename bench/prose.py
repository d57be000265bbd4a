"""Assistant text for text-heavy corpora: fresh, with the statistics of real prose.

The test builder's `pad_chars` padding takes windows of one ~1 MB string of 28 words.
That is fine for sizing a parser, but any compressor or chunker whose window reaches
across two conversations finds the same windows again, so it would report footprints no
real account has. Here every reply is drawn afresh: words from a 20,000-word vocabulary
with Zipf frequencies (the vocabulary is fixed, as a person's is from month to month),
sentences of 6-24 words, paragraphs, and now and then a heading, a list or a code block,
as chat replies are. zstd -3 compresses it about 3.2x and zlib -6 about 3.0x, which is
where English prose lies (enwik8: 2.8x and 2.7x); it has no phrase-level repeats beyond
what chance gives, so compression ratios measured on it are, if anything, low.

Lengths: each conversation draws a verbosity (log-normal, mean 1) and each reply a
length around `mean_reply_chars` times it, so a few conversations are very long, as in
real accounts, while the mean per conversation is what was asked for.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Final

VOCABULARY_SEED: Final = 20_251_129
VOCABULARY_SIZE: Final = 20_000
_CONSONANTS: Final = (
    *"bcdfghjklmnprstvwz",
    "br",
    "cr",
    "dr",
    "fr",
    "gr",
    "pl",
    "st",
    "tr",
    "ch",
    "sh",
    "th",
)
_VOWELS: Final = (*"aeiou", "ai", "ea", "ee", "ie", "oo", "ou")
_ENDINGS: Final = ("", "", "n", "s", "t", "r", "ng")
VERBOSITY_SIGMA: Final = 0.9
AVERAGE_WORD_CHARS: Final = 6.4  # measured: characters per word, spaces and marks included


def _vocabulary() -> tuple[list[str], list[float]]:
    rng = random.Random(VOCABULARY_SEED)  # noqa: S311 - test data
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCABULARY_SIZE:
        syllables = rng.choices((1, 2, 3, 4), (30, 40, 22, 8))[0]
        word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
        word += rng.choice(_ENDINGS)
        if word not in seen:
            seen.add(word)
            words.append(word)
    weights = [1 / (rank + 2.7) ** 1.07 for rank in range(len(words))]
    return words, list(itertools.accumulate(weights))


class Prose:
    """Replies of fresh prose, from its own random stream (the builder's is untouched, so
    a text-heavy corpus has the same conversations and media as a plain one)."""

    _vocab: tuple[list[str], list[float]] | None = None

    def __init__(self, seed: int, mean_reply_chars: float):
        self.rng = random.Random(seed)  # noqa: S311 - test data
        self.mean_reply_chars = mean_reply_chars
        self.verbosity = 1.0
        self.produced = 0  # characters of prose handed out
        if Prose._vocab is None:
            Prose._vocab = _vocabulary()
        self.words, self.cumulative = Prose._vocab

    def next_conversation(self) -> None:
        """A new conversation: draw how long-winded its replies are (mean 1)."""
        sigma = VERBOSITY_SIGMA
        self.verbosity = math.exp(self.rng.gauss(-sigma * sigma / 2, sigma))

    def reply(self) -> str:
        """One reply's text (what the builder appends to a reply's body)."""
        wanted = self.mean_reply_chars * self.verbosity * self.rng.uniform(0.5, 1.5)
        if wanted < 1:
            return ""
        text = "\n\n" + self.text(int(wanted))
        self.produced += len(text)
        return text

    def text(self, chars: int) -> str:
        rng = self.rng
        words = rng.choices(self.words, cum_weights=self.cumulative, k=int(chars / 5.4) + 8)
        blocks: list[str] = []
        at = 0
        size = 0
        while at < len(words) and size < chars:
            shape = rng.random()
            if shape < 0.06:
                block = "## " + " ".join(words[at : at + 4]).capitalize()
                at += 4
            elif shape < 0.16:
                items = []
                for _ in range(rng.randint(2, 6)):
                    n = rng.randint(3, 12)
                    items.append("- " + " ".join(words[at : at + n]).capitalize())
                    at += n
                block = "\n".join(items)
            elif shape < 0.20:
                lines = []
                for _ in range(rng.randint(2, 12)):
                    n = rng.randint(1, 5)
                    name = "_".join(words[at : at + n])
                    lines.append(f"{'    ' * rng.randint(0, 2)}{name} = {rng.randint(0, 999)}")
                    at += n
                block = "```python\n" + "\n".join(lines) + "\n```"
            else:
                sentences = []
                for _ in range(rng.randint(1, 6)):
                    n = rng.randint(6, 24)
                    part = words[at : at + n]
                    at += n
                    if part:
                        sentence = " ".join(part)
                        sentences.append(sentence[0].upper() + sentence[1:] + rng.choice(".....?:"))
                block = " ".join(sentences)
            blocks.append(block)
            size += len(block) + 2
        return "\n\n".join(blocks)[:chars]
