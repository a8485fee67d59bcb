import pytest

from mlxclin.text import normalize_text, repair_mojibake


@pytest.mark.parametrize("broken, fixed", [
    ("nailâ€“patella syndrome", "nail–patella syndrome"),         # en dash, 3-byte sequence
    ("gardnerâ€™s syndrome", "gardner’s syndrome"),              # right single quote
    ("morel-lavallÃ©e lesion", "morel-lavallée lesion"),          # 2-byte sequence
    ("neuro-behÃ§etâ€™s disease", "neuro-behçet’s disease"),      # two sequences in one word
    ("â€\x9dquoted", "”quoted"),                                  # 0x9D: undefined in cp1252, kept as C1 control
])
def test_repair_mojibake_undoes_cp1252_decoding(broken, fixed):
    assert repair_mojibake(broken) == fixed


@pytest.mark.parametrize("text", [
    "Whipple’s disease",        # correct curly quote: its cp1252 byte alone is not UTF-8
    "café au lait",             # correct accent
    "Ã",                        # a lone lead character is not a sequence
    "Müller–Weiss syndrome",
    "plain ascii",
])
def test_repair_mojibake_leaves_correct_text_alone(text):
    assert repair_mojibake(text) == text


def test_repair_mojibake_fixes_only_the_broken_part_of_mixed_text():
    assert repair_mojibake("Gardner’s and Fahrâ€™s") == "Gardner’s and Fahr’s"


@pytest.mark.parametrize("raw, expected", [
    ("Nail–patella  Syndrome.", "nail-patella syndrome"),            # en dash, double space, period, case
    ("Nail—patella syndrome", "nail-patella syndrome"),              # em dash
    ("nailâ€“patella syndrome", "nail-patella syndrome"),            # mojibake en dash
    ("Gardner’s syndrome", "gardners syndrome"),                     # apostrophe dropped, not spaced
    ("OEIS (omphalocele, cloacal exstrophy)", "oeis omphalocele cloacal exstrophy"),
    ("  Line\nbreak\tand tabs ", "line break and tabs"),
    ("ﬁbrous dysplasia", "fibrous dysplasia"),                        # NFKC ligature
    ("Type Ⅱ", "type ii"),                                            # NFKC roman numeral
    ("Biventricular fibrosis [4,6]", "biventricular fibrosis 46"),
    ("", ""),
    (None, ""),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_text_keeps_hyphens_and_is_idempotent():
    once = normalize_text("Post-transplant ureteral stent – placement")
    assert once == "post-transplant ureteral stent - placement"
    assert normalize_text(once) == once


def test_normalized_forms_of_mojibake_and_clean_gold_agree():
    assert normalize_text("sturgeâ€“weber syndrome type 1") == normalize_text("Sturge–Weber syndrome, type 1")
