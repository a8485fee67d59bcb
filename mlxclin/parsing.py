"""Turning a model's final answer into something a task can score.

- `split_options`: the Eurorad candidate list (one comma-separated string) into options, without breaking labels
  that themselves contain commas.
- `match_option`: a free-text answer onto one of the options: exact, then normalized, then fuzzy (mlxclin's rule);
  `match_option_paper`: the paper scripts' cascade (difflib close matches).
- `parse_letters`: the set of option letters in a multiple-choice answer ("A, C", "Answer: BD", "bd");
  `paper_letters`: the paper's reading (every letter of the upper-cased answer).
- `parse_score`: the first 1-5 score (half points allowed) in a judge's answer.
"""

import difflib
import re
from dataclasses import dataclass
from typing import Optional

from rapidfuzz import fuzz, process

from mlxclin.text import normalize_text

MATCH_TYPES = ("exact", "normalized", "fuzzy", "no_match")

# Fuzzy matching compares normalized strings with rapidfuzz's `fuzz.ratio` (normalized Indel similarity, 0-100).
# 90 accepts typos, a dropped bracket or a reflowed list ("...fibrosis [4" -> "...fibrosis [4,6]", 98.7) but not a
# different or less specific diagnosis ("Sturge-Weber syndrome" vs "Sturge-Weber syndrome, type 1" scores 85.7).
FUZZY_THRESHOLD = 90.0


def split_options(option_list: str, keep_whole=()) -> list:
    """Split a comma-separated candidate list into options.

    Labels in `keep_whole` (e.g. the gold label, which may contain commas: "Sturge–Weber syndrome, type 1") stay
    whole wherever they occur as a complete list entry (bounded by commas or the ends of the list); commas inside
    brackets never split. Order is preserved.
    """
    text = option_list or ""
    # Spans of the protected labels, longest label first so a label containing another one wins.
    spans = []
    for label in sorted({k.strip() for k in keep_whole if k and k.strip()}, key=len, reverse=True):
        for match in re.finditer(r"(?:^|(?<=,))\s*" + re.escape(label) + r"\s*(?=,|$)", text):
            if not any(match.start() < end and start < match.end() for start, end in spans):
                spans.append((match.start(), match.end()))
    options, position = [], 0
    for start, end in sorted(spans):
        options.extend(_split_outside_brackets(text[position:start]))
        options.append(text[start:end])
        position = end
    options.extend(_split_outside_brackets(text[position:]))
    return [o for o in (opt.strip() for opt in options) if o]


def _split_outside_brackets(text: str) -> list:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


@dataclass
class OptionMatch:
    option: Optional[str]     # the matched option verbatim, None for no_match
    match_type: str           # one of MATCH_TYPES
    similarity: float = 0.0   # fuzz.ratio of the normalized strings (100 for exact/normalized)


def match_option(answer: str, options: list, threshold: float = FUZZY_THRESHOLD) -> OptionMatch:
    """Map a free-text answer onto one option: exact (after stripping surrounding whitespace), then equal
    normalized text, then a fuzzy match: the one option whose similarity is >= `threshold`. When two options clear
    the threshold the answer is ambiguous ("ventricular fibrosis" vs "Left ..."/"Right ...") and counts as
    no_match, as does an empty answer."""
    answer = (answer or "").strip()
    if not answer or not options:
        return OptionMatch(None, "no_match")
    for option in options:
        if answer == option.strip():
            return OptionMatch(option, "exact", 100.0)
    norm_answer = normalize_text(answer)
    if not norm_answer:
        return OptionMatch(None, "no_match")
    norm_options = [normalize_text(o) for o in options]
    for option, norm_option in zip(options, norm_options):
        if norm_answer == norm_option:
            return OptionMatch(option, "normalized", 100.0)
    best = process.extract(norm_answer, norm_options, scorer=fuzz.ratio, limit=2)
    if not best or best[0][1] < threshold:
        return OptionMatch(None, "no_match", best[0][1] if best else 0.0)
    if len(best) > 1 and best[1][1] >= threshold and best[1][0] != best[0][0]:
        return OptionMatch(None, "no_match", best[0][1])
    return OptionMatch(options[best[0][2]], "fuzzy", best[0][1])


# The paper's scripts: difflib close matches, first on the raw strings, then on normalized ones.
PAPER_RAW_CUTOFF = 0.8
PAPER_NORMALIZED_CUTOFF = 0.9


def match_option_paper(answer: str, options: list) -> OptionMatch:
    """The paper's cascade: options de-duplicated (first occurrence kept), then exact (stripped) -> equal normalized
    text -> difflib.get_close_matches on the raw strings (cutoff 0.8) -> the same on normalized strings (cutoff
    0.9). difflib returns its single best match even when a second option is as close. similarity is difflib's
    ratio x 100."""
    answer = (answer or "").strip()
    unique = list(dict.fromkeys(o.strip() for o in options if o and o.strip()))
    if not answer or not unique:
        return OptionMatch(None, "no_match")
    if answer in unique:
        return OptionMatch(answer, "exact", 100.0)
    norm_answer = normalize_text(answer)
    norm_options = [normalize_text(o) for o in unique]
    for option, norm_option in zip(unique, norm_options):
        if norm_answer and norm_answer == norm_option:
            return OptionMatch(option, "normalized", 100.0)
    close = difflib.get_close_matches(answer, unique, n=1, cutoff=PAPER_RAW_CUTOFF)
    if close:
        return OptionMatch(close[0], "fuzzy", 100.0 * difflib.SequenceMatcher(None, answer, close[0]).ratio())
    if norm_answer:
        close = difflib.get_close_matches(norm_answer, norm_options, n=1, cutoff=PAPER_NORMALIZED_CUTOFF)
        if close:
            option = unique[norm_options.index(close[0])]
            return OptionMatch(option, "fuzzy", 100.0 * difflib.SequenceMatcher(None, norm_answer, close[0]).ratio())
    return OptionMatch(None, "no_match")


# --- multiple-choice letters -----------------------------------------------------------------------------------

DEFAULT_LETTERS = "ABCDEFGHI"   # the ophthalmology set has 5-9 options
_OPTION_LINE = re.compile(r"(?m)^\s*[*_]*\(?([A-Z])[*_]*\s*[.):][*_]*\s")
# "Answer: BD", "Final answer - A, C", "The correct options are B and D", "Correct answer(s): ..."
_ANSWER_MARKER = re.compile(
    r"(?i)\b(?:final\s+|correct\s+)*(?:answer|option|choice)(?:\(s\)|s)?\s*(?:is|are)?\s*[:=\-]?\s*")
_SEPARATORS = re.compile(r"[\s,;/&+.()\[\]:*`'\"]+")
_JOINERS = {"and", "und", "&"}


def option_letters(question: str) -> str:
    """The option letters a question offers ("A." ... lines, markdown bold tolerated); "" if none are found."""
    seen = []
    for letter in _OPTION_LINE.findall(question or ""):
        if letter not in seen:
            seen.append(letter)
    return "".join(seen)


def _letters_of_token(token: str, valid: str) -> Optional[str]:
    """The letters a token stands for, or None when the token is an ordinary word.

    A single letter in either case counts. Longer tokens count when they are all capitals from `valid` without
    repeats ("BDE"), or all lowercase from `valid` in strictly increasing order ("bde") - so words such as "bad",
    "face" or "Cafe" are never read as answers.
    """
    upper = token.upper()
    if not upper or any(ch not in valid for ch in upper):
        return None
    if len(token) == 1:
        return upper
    if token.isupper() and len(set(token)) == len(token):
        return upper
    if token.islower() and list(token) == sorted(set(token)):
        return upper
    return None


def _letters_of_phrase(phrase: str, valid: str, prefix_only: bool = False) -> Optional[str]:
    """Letters when every token of `phrase` is a letter token; with `prefix_only`, the leading capital-letter
    tokens before the first word ("B because ..." -> "B"; a lowercase "a" there is an article, not an answer)."""
    tokens = [t for t in _SEPARATORS.split(phrase) if t and t.lower() not in _JOINERS]
    letters = []
    for token in tokens:
        found = _letters_of_token(token, valid) if (token.isupper() or not prefix_only) else None
        if found is None:
            if prefix_only and letters:
                break
            return None
        letters.append(found)
    return "".join(letters) if letters else None


def parse_letters(answer: str, valid: str = DEFAULT_LETTERS) -> tuple:
    """Read the set of chosen option letters from an answer.

    Returns (letters, match_type): letters sorted and de-duplicated ("BD"), match_type "exact" when the answer is
    nothing but capital letters, "normalized" when separators, case or an "Answer:" lead-in had to be tolerated,
    and ("", "no_match") when no answer can be read without guessing from ordinary words.
    """
    text = (answer or "").strip()
    valid = (valid or DEFAULT_LETTERS).upper()
    if not text:
        return "", "no_match"
    if text.isalpha() and text.isupper() and all(ch in valid for ch in text):
        return "".join(sorted(set(text))), "exact"
    found = _letters_of_phrase(text, valid, prefix_only=False)
    if found is None:
        # Only after an explicit answer marker do we read the leading letters of an otherwise wordy answer.
        for marker in reversed(list(_ANSWER_MARKER.finditer(text))):
            lines = text[marker.end():].strip().splitlines()
            rest = lines[0] if lines else ""
            found = _letters_of_phrase(rest, valid) or _letters_of_phrase(rest, valid, prefix_only=True)
            if found:
                break
    if not found:
        return "", "no_match"
    return "".join(sorted(set(found))), "normalized"


def paper_letters(answer: str) -> tuple:
    """The paper's reading of a multiple-choice answer: upper-case, whitespace removed, the set of its letters.
    (letters sorted, match_type): "exact" when the answer is nothing but letters and spaces, else "normalized";
    ("", "no_match") when it holds no letter. Words count: "Answer: B" reads as ABENRSW."""
    text = "".join((answer or "").upper().split())
    letters = "".join(sorted({ch for ch in text if "A" <= ch <= "Z"}))
    if not letters:
        return "", "no_match"
    return letters, ("exact" if text.isalpha() else "normalized")


# --- judge scores ----------------------------------------------------------------------------------------------

# A score 1-5 with an optional .5 (or .0), not part of a longer number ("10", "4.25", "2025" are not scores) and not
# either end of a range ("on a scale of 1-5" / "1 to 5" are skipped, so "... 1-5, I give 4" reads 4).
_SCORE = re.compile(r"(?<![\d.])(?<![\d.][-\u2013])(?<!\bto )([1-5])(?:\.([05]))?(?!\d)(?!\.\d)"
                    r"(?!\s*(?:[-\u2013]|to\s)\s*\d)")


def parse_score(answer: str) -> Optional[float]:
    """The first 1-5 score with optional half point in the answer, or None when there is none."""
    match = _SCORE.search(answer or "")
    if not match:
        return None
    return float(match.group(1)) + (0.5 if match.group(2) == "5" else 0.0)
