"""LLM-as-a-Clinical-Judge: grade other models' diagnosis / treatment answers 1-5, compared with expert scores.

Paper protocol per subset: consensus = mean of the runs' scores; error = consensus - HumanEvalScore; median and
IQR (linear percentiles) of the error overall, per clinical specialty and per case frequency; MAE, Spearman and
Pearson of consensus vs experts; weighted kappa of consensus vs experts; ICC(3,k) across runs, both on the runs'
errors (`icc3k_errors`, the paper's) and on their scores (`icc3k_scores`); `icc3k` is the one the task's protocol
uses. A run whose answer holds no readable score is left out of its item's consensus; an item with no readable
score at all is left out of the statistics (counted in "unscored_items"); ICC(3,k) uses the items scored in every
run.
"""

import math
import warnings
from collections import defaultdict

from mlxclin import stats
from mlxclin.errors import MlxclinError
from mlxclin.parsing import parse_score
from mlxclin.protocol import PAPER
from mlxclin.tasks.base import Item, Task, register_task

_BARE_SCORE = {f"{v / 2:g}" for v in range(2, 11)} | {f"{v / 2:.1f}" for v in range(2, 11)}


def _error_summary(errors: list) -> dict:
    median, q25, q75 = stats.median_iqr(errors)
    return {"n": len(errors), "median_error": median, "iqr_low": q25, "iqr_high": q75,
            "mae": stats.mean_absolute_error(errors, [0.0] * len(errors))}


def human_score(table, index: int) -> float:
    """The expert score of rows[index]: a finite number on the 1-5 scale, else an error naming file and line."""
    text = str(table.rows[index]["HumanEvalScore"]).strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 1.0 <= value <= 5.0:
        raise MlxclinError(f"{table.where(index)}: HumanEvalScore {text!r} is not a number from 1 to 5")
    return value


@register_task
class JudgeTask(Task):
    name = "judge"
    aliases = ("clinical-judge",)
    subsets = ("diagnosis", "treatment")

    def data_file(self, subset=""):
        return f"judge_{subset}.csv"

    def required_columns(self, subset=""):
        return ("Clinical specialty", "disease_GT", "Frequency", "Disease_description", "HumanEvalScore")

    def items_from_table(self, table, subset):
        items = []
        for number, row in enumerate(table.rows, start=1):
            specialty = str(row["Clinical specialty"]).strip()
            if not specialty:
                # The released sheets end with spreadsheet debris; the paper keeps rows with a specialty.
                table.drop(number - 1, "no Clinical specialty: the paper keeps only rows with one")
                continue
            items.append(Item(f"{subset}:{number}", {
                "description": str(row["Disease_description"]).strip(),
                "disease": str(row["disease_GT"]).strip(),
                "specialty": specialty,
                "frequency": " ".join(str(row["Frequency"]).split()).lower(),   # "Less Frequent" / "less frequent"
                "graded_model": str(row.get("Model", "")).strip(),
                "human_score": human_score(table, number - 1),
            }, subset=subset, row=row))
        return items

    def build_messages(self, item, prompt):
        return prompt.messages(description=item.fields["description"], disease=item.fields["disease"],
                               specialty=item.fields["specialty"])

    def parse(self, item, completion):
        answer = (completion.final or "").strip()
        score = parse_score(answer)
        if score is None:
            match_type = "no_match"
        else:
            match_type = "exact" if answer in _BARE_SCORE else "normalized"
        return {"prediction": score, "match_type": match_type}

    def gold(self, item):
        return item.fields["human_score"]

    def score(self, item, parsed):
        return {"score": parsed["prediction"]}

    def aggregate(self, items, samples, runs):
        by_subset = defaultdict(list)
        for item in items:
            by_subset[item.subset].append(item)
        run_scores = {item.id: [None] * runs for item in items}
        for sample in samples:
            if sample["item_id"] in run_scores and 0 <= sample["run"] < runs:
                run_scores[sample["item_id"]][sample["run"]] = sample.get("score")
        return {"protocol": self.protocol,
                "subsets": {subset: self._subset_metrics(by_subset[subset], run_scores)
                            for subset in self.subsets if subset in by_subset}}

    def weighted_kappa(self, consensus: list, human: list, labels=None):
        """Consensus vs expert scores: the paper's positional kappa (labels: the union over every model compared,
        default this model's and the experts'), or mlxclin's value-weighted one."""
        if self.protocol == PAPER:
            union = list(consensus) + list(human) if labels is None else labels
            return stats.weighted_kappa_positional(consensus, human, union)
        with warnings.catch_warnings():
            # statsmodels warns that kappa's standard error is undefined under perfect agreement; only kappa is used
            warnings.simplefilter("ignore", RuntimeWarning)
            return stats.weighted_kappa_linear(consensus, human)

    def _subset_metrics(self, items, run_scores):
        consensus, human, errors, complete_rows, complete_human = [], [], [], [], []
        specialty_errors, frequency_errors = defaultdict(list), defaultdict(list)
        unparsed = unscored = 0
        for item in items:
            scores = run_scores[item.id]
            parsed = [s for s in scores if s is not None]
            unparsed += len(scores) - len(parsed)
            if not parsed:
                unscored += 1
                continue
            if len(parsed) == len(scores):
                complete_rows.append(parsed)
                complete_human.append(item.fields["human_score"])
            mean = sum(parsed) / len(parsed)
            error = mean - item.fields["human_score"]
            consensus.append(mean)
            human.append(item.fields["human_score"])
            errors.append(error)
            specialty_errors[item.fields["specialty"]].append(error)
            frequency_errors[item.fields["frequency"]].append(error)
        metrics = _error_summary(errors)
        icc_errors = stats.icc3k_on_errors(complete_rows, complete_human) if complete_rows else None
        icc_scores = stats.icc3k(complete_rows) if complete_rows else None
        metrics.update({
            "spearman": stats.spearman(consensus, human),
            "pearson": stats.pearson(consensus, human),
            "weighted_kappa": self.weighted_kappa(consensus, human) if consensus else None,
            "icc3k": icc_errors if self.protocol == PAPER else icc_scores,
            "icc3k_errors": icc_errors,
            "icc3k_scores": icc_scores,
            "icc3k_items": len(complete_rows),
            "groups": {k: _error_summary(v) for k, v in sorted(specialty_errors.items())},
            "frequency": {k: _error_summary(v) for k, v in sorted(frequency_errors.items())},
            "unparsed_runs": unparsed,
            "unscored_items": unscored,
        })
        return metrics
