"""A word-level diff between two versions of an article's text: what the outlet changed.

Why words, not characters or lines: a researcher reads an edit as words added and removed
("a sentence appended, a figure changed"); a line diff of a paragraph marks all of it, a
character diff marks fragments of words. Paragraph breaks are tokens of their own, so a new
paragraph shows as one insertion. The result is plain data (operation, text): the template
escapes every piece, so an article's text can never become markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

PARAGRAPH_BREAK = "\n\n"
_TOKENS = re.compile(r"\n\s*\n|\S+")

Operation = Literal["same", "insert", "delete"]


@dataclass(frozen=True)
class Segment:
    op: Operation
    text: str


def words(text: str | None) -> list[str]:
    """The words of ``text``, with each run of blank lines as one paragraph-break token."""
    return [
        PARAGRAPH_BREAK if token[0].isspace() else token for token in _TOKENS.findall(text or "")
    ]


def _join(tokens: list[str]) -> str:
    return re.sub(r" ?\n\n ?", PARAGRAPH_BREAK, " ".join(tokens))


def word_diff(old: str | None, new: str | None) -> list[Segment]:
    """The segments turning ``old`` into ``new``: unchanged runs, deletions, insertions (a
    replaced run is its deletion followed by its insertion). Concatenated, the texts read as
    the two versions interleaved: the spaces between words are segments of their own, so a
    marked segment holds words only."""
    before, after = words(old), words(new)
    runs: list[tuple[Operation, list[str]]] = []
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            runs.append(("same", before[i1:i2]))
            continue
        if i2 > i1:
            runs.append(("delete", before[i1:i2]))
        if j2 > j1:
            runs.append(("insert", after[j1:j2]))
    segments: list[Segment] = []
    previous: list[str] = []
    for op, tokens in runs:
        if previous and PARAGRAPH_BREAK not in (previous[-1], tokens[0]):
            segments.append(Segment("same", " "))
        segments.append(Segment(op, _join(tokens)))
        previous = tokens
    return segments


def changed_words(segments: list[Segment]) -> tuple[int, int]:
    """Words inserted and deleted, for a one-line summary of an edit."""
    counted = {"insert": 0, "delete": 0}
    for segment in segments:
        if segment.op in counted:
            counted[segment.op] += sum(1 for w in words(segment.text) if w != PARAGRAPH_BREAK)
    return counted["insert"], counted["delete"]
