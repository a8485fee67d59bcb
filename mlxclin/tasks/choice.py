"""Shared aggregation for tasks where each run is simply right or wrong (Eurorad, ophthalmology, MedQA-like).

Paper protocol: an item is correct when more than half of its k runs are correct (majority vote); accuracy with
a Wilson 95 % CI overall and per group; per-run accuracy; pass@k; Fleiss' kappa of the runs' correctness.
"""

from collections import defaultdict

from mlxclin import stats
from mlxclin.parsing import MATCH_TYPES
from mlxclin.protocol import PAPER
from mlxclin.tasks.base import Task


class ChoiceTask(Task):
    """A task whose samples carry {"correct": bool}; items carry fields["groups"] (list of group names)."""

    def aggregate(self, items: list, samples: list, runs: int) -> dict:
        # item id -> per-run correctness; a run without a sample (incomplete run dir) counts as wrong.
        by_item = {item.id: [False] * runs for item in items}
        match_types = dict.fromkeys(MATCH_TYPES, 0)
        for sample in samples:
            if sample["item_id"] in by_item and 0 <= sample["run"] < runs:
                by_item[sample["item_id"]][sample["run"]] = bool(sample.get("correct"))
            match_types[sample.get("match_type") or "no_match"] += 1

        majority = {item_id: stats.majority_vote(flags) for item_id, flags in by_item.items()}
        n = len(items)
        z = stats.PAPER_WILSON_Z if self.protocol == PAPER else None

        group_counts = defaultdict(lambda: [0, 0])   # group -> [correct, n]
        for item in items:
            for group in item.fields.get("groups", []):
                group_counts[group][0] += majority[item.id]
                group_counts[group][1] += 1

        passed = sum(stats.pass_at_k(flags) for flags in by_item.values())
        pass_summary = stats.accuracy_summary(passed, n, z)
        return {
            "protocol": self.protocol,
            "n_items": n,
            "accuracy": stats.accuracy_summary(sum(majority.values()), n, z),
            "groups": {g: stats.accuracy_summary(c, k, z) for g, (c, k) in sorted(group_counts.items())},
            "per_run_accuracy": [100.0 * sum(flags[r] for flags in by_item.values()) / n if n else None
                                 for r in range(runs)],
            "pass_at_k": {key: pass_summary[key] for key in ("pct", "correct", "n")},
            "fleiss_kappa": stats.fleiss_kappa([[int(f) for f in flags] for flags in by_item.values()]),
            "match_types": match_types,
        }
