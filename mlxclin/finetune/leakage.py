"""Does the training set contain the test set? Near-duplicate case texts and shared gold diagnoses.

Near duplicates: every training case is compared with every test case by rapidfuzz's normalized Indel similarity
(`fuzz.ratio`, 0-100) over the sequences of words of the normalized texts (labels such as "Clinical History:"
and "Imaging Findings:" removed first, since the two files format them differently). Comparing word sequences
rather than characters is ~6x faster and just as telling: unrelated radiology cases of the released sets never
exceed 32 (the highest train/test pair scores 31.1), while the same case lightly edited (a re-worded sentence,
changed ages or measurements) stays above 90. NEAR_DUPLICATE_THRESHOLD = 80 sits between the two.

Gold overlap: test cases whose normalized gold diagnosis is also the gold of some training case. This is not
leakage of a case, but it says how much of a test score could come from diagnoses (often rare entities) that
the model saw answered in training.
"""

import re
from dataclasses import dataclass, field

import numpy as np

from mlxclin.text import normalize_text

NEAR_DUPLICATE_THRESHOLD = 80.0
_LABELS = re.compile(r"(?i)\b(clinical history|imaging findings|history|findings)\s*:")


@dataclass
class LeakageReport:
    n_train: int
    n_test: int
    threshold: float
    pairs: list = field(default_factory=list)        # (train index, test id, score), score >= threshold
    max_score: float = 0.0                           # highest similarity of any pair
    gold_overlap: list = field(default_factory=list)  # test ids whose gold is also a training gold
    gold_overlap_labels: list = field(default_factory=list)

    @property
    def leaked_train(self) -> set:
        return {i for i, _, _ in self.pairs}

    @property
    def leaked_test(self) -> set:
        return {t for _, t, _ in self.pairs}

    def to_dict(self) -> dict:
        return {"n_train": self.n_train, "n_test": self.n_test, "threshold": self.threshold,
                "max_similarity": round(self.max_score, 2),
                "near_duplicate_pairs": [{"train_index": i, "test_id": t, "similarity": round(s, 2)}
                                         for i, t, s in self.pairs],
                "train_cases_with_near_duplicate": len(self.leaked_train),
                "test_cases_with_near_duplicate": len(self.leaked_test),
                "test_cases_with_gold_seen_in_training": len(self.gold_overlap),
                "gold_overlap": [{"test_id": t, "gold": g} for t, g in zip(self.gold_overlap,
                                                                           self.gold_overlap_labels)]}


def comparable_text(text: str) -> str:
    return normalize_text(_LABELS.sub(" ", text or ""))


def _word_ids(texts: list, vocab: dict) -> list:
    return [[vocab.setdefault(w, len(vocab)) for w in t.split()] for t in texts]


def check_leakage(train_cases: list, test_items: list, threshold: float = NEAR_DUPLICATE_THRESHOLD) -> LeakageReport:
    """Compare TrainCase-like objects (.case, .gold) with Eurorad test Items (.id, .fields["case"/"gold"])."""
    from rapidfuzz import fuzz, process

    vocab = {}
    train = _word_ids([comparable_text(c.case) for c in train_cases], vocab)
    test = _word_ids([comparable_text(i.fields["case"]) for i in test_items], vocab)
    report = LeakageReport(len(train_cases), len(test_items), threshold)
    if train and test:
        # float32 keeps fractional scores; all cores; pairs below the cutoff come back as 0
        scores = process.cdist(train, test, scorer=fuzz.ratio, workers=-1, dtype=np.float32)
        report.max_score = float(scores.max())
        for i, j in zip(*np.nonzero(scores >= threshold)):
            report.pairs.append((int(i), test_items[j].id, float(scores[i, j])))
        report.pairs.sort(key=lambda p: -p[2])
    train_golds = {normalize_text(c.gold) for c in train_cases}
    for item in test_items:
        if normalize_text(item.fields["gold"]) in train_golds:
            report.gold_overlap.append(item.id)
            report.gold_overlap_labels.append(item.fields["gold"])
    return report


def format_report(report: LeakageReport, train_cases: list, show: int = 10) -> str:
    """The table `prepare` and `finetune leakage` print."""
    pct = lambda k, n: f"{100.0 * k / n:.1f}%" if n else "-"  # noqa: E731
    lines = [
        f"leakage check: {report.n_train} training cases vs {report.n_test} test cases "
        f"(word-level rapidfuzz ratio, near duplicate >= {report.threshold:g})",
        f"  {'check':<44} {'count':>7} {'share':>8}",
        f"  {'near-duplicate pairs':<44} {len(report.pairs):>7}",
        f"  {'training cases with a near duplicate in test':<44} {len(report.leaked_train):>7} "
        f"{pct(len(report.leaked_train), report.n_train):>8}",
        f"  {'test cases with a near duplicate in training':<44} {len(report.leaked_test):>7} "
        f"{pct(len(report.leaked_test), report.n_test):>8}",
        f"  {'test cases whose gold is a training gold':<44} {len(report.gold_overlap):>7} "
        f"{pct(len(report.gold_overlap), report.n_test):>8}",
        f"  highest similarity of any train/test pair: {report.max_score:.1f}",
    ]
    for i, test_id, score in report.pairs[:show]:
        lines.append(f"    near duplicate: training row {train_cases[i].source + 1} ~ test case {test_id} "
                     f"({score:.1f}), gold {train_cases[i].gold!r}")
    for test_id, gold in list(zip(report.gold_overlap, report.gold_overlap_labels))[:show]:
        lines.append(f"    gold seen in training: test case {test_id}: {gold!r}")
    hidden = max(0, len(report.gold_overlap) - show)
    if hidden:
        lines.append(f"    ... and {hidden} more test cases with a gold seen in training")
    return "\n".join(lines)
