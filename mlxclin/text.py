"""Text normalization shared by every task: the one definition of "the same answer".

`normalize_text` is what the paper's protocol compares: predictions and gold labels are equal when their
normalized forms are equal. The steps run in a fixed order (see `normalize_text`), each one for a quirk seen in
the released data: stored answers with UTF-8 text decoded as Windows-1252, en dashes vs hyphens, curly
apostrophes, stray punctuation, line breaks and case.
"""

import re
import unicodedata

# Every dash-like character becomes "-": models and spreadsheets swap them freely ("Nail–patella" / "Nail-patella").
_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]")
# Anything that is not a letter/digit/underscore, whitespace or hyphen is punctuation (or a symbol) and is dropped,
# not replaced by a space, so "Gardner’s" and "Gardners" agree.
_PUNCTUATION = re.compile(r"[^\w\s-]")


def _cp1252_char(byte: int) -> str:
    """How Windows-1252 shows `byte` (the five bytes it leaves undefined come through as C1 controls)."""
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(byte)


def _char_class(first: int, last: int) -> str:
    return "[" + "".join(re.escape(_cp1252_char(b)) for b in range(first, last + 1)) + "]"


# A UTF-8 multi-byte sequence as it looks after a cp1252 decode: lead byte + 1-3 continuation bytes.
_CONT = _char_class(0x80, 0xBF)
_MOJIBAKE_SEQUENCE = re.compile(
    f"{_char_class(0xC2, 0xDF)}{_CONT}|{_char_class(0xE0, 0xEF)}{_CONT}{{2}}|{_char_class(0xF0, 0xF4)}{_CONT}{{3}}")
_BYTE_OF = {_cp1252_char(b): b for b in range(0x80, 0x100)}


def _undo_cp1252(match: re.Match) -> str:
    seq = match.group(0)
    try:
        return bytes(_BYTE_OF[ch] for ch in seq).decode("utf-8")
    except UnicodeDecodeError:  # well-formed lead/continuation pattern but not valid UTF-8 (e.g. overlong)
        return seq


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as Windows-1252 ("Gardnerâ€™s" -> "Gardner’s").

    Only character sequences that spell a complete UTF-8 multi-byte sequence are replaced, so a string that
    mixes correct characters and mojibake is repaired where needed and correct text ("é", "’") is left alone.
    """
    if text.isascii():
        return text
    return _MOJIBAKE_SEQUENCE.sub(_undo_cp1252, text)


def normalize_text(text) -> str:
    """Canonical comparison form: mojibake repair, NFKC, dashes to "-", punctuation dropped, whitespace
    collapsed, lowercase. `None` counts as the empty string."""
    if text is None:
        return ""
    text = repair_mojibake(str(text))
    text = unicodedata.normalize("NFKC", text)
    text = _DASHES.sub("-", text)
    text = _PUNCTUATION.sub("", text)
    return " ".join(text.split()).lower()
