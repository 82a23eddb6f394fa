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


def _word_runs(before: list[str], after: list[str]) -> list[tuple[Operation, list[str]]]:
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
    return runs


def _paragraph_runs(old: str | None, new: str | None) -> list[tuple[Operation, list[str]]]:
    """Paragraphs first (kept, added, removed whole), then words within changed ones: an
    added paragraph reads as one insertion, not as words borrowed from its neighbours."""
    before, after = _paragraphs(words(old)), _paragraphs(words(new))
    runs: list[tuple[Operation, list[str]]] = []

    def add(found: list[tuple[Operation, list[str]]]) -> None:
        if runs and found:
            runs.append(("same", [PARAGRAPH_BREAK]))
        runs.extend(found)

    matcher = SequenceMatcher(None, [tuple(p) for p in before], [tuple(p) for p in after])
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for paragraph in before[i1:i2]:
                add([("same", paragraph)])
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for old_words, new_words in zip(before[i1:i2], after[j1:j2], strict=True):
                add(_word_runs(old_words, new_words))
        elif tag == "replace":
            add(_word_runs(_flatten(before[i1:i2]), _flatten(after[j1:j2])))
        else:
            op: Operation = "delete" if tag == "delete" else "insert"
            for paragraph in before[i1:i2] if tag == "delete" else after[j1:j2]:
                add([(op, paragraph)])
    return runs


def _paragraphs(tokens: list[str]) -> list[list[str]]:
    found: list[list[str]] = [[]]
    for token in tokens:
        if token == PARAGRAPH_BREAK:
            found.append([])
        else:
            found[-1].append(token)
    return [paragraph for paragraph in found if paragraph]


def _flatten(paragraphs: list[list[str]]) -> list[str]:
    tokens: list[str] = []
    for paragraph in paragraphs:
        tokens += [PARAGRAPH_BREAK, *paragraph] if tokens else paragraph
    return tokens


def word_diff(old: str | None, new: str | None) -> list[Segment]:
    """The segments turning ``old`` into ``new``: unchanged runs, deletions, insertions (a
    replaced run is its deletion followed by its insertion). Concatenated, the texts read as
    the two versions interleaved: the spaces and paragraph breaks between runs are segments of
    their own, so a marked segment holds words only."""
    segments: list[Segment] = []
    previous: list[str] = []
    for op, tokens in _paragraph_runs(old, new):
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
