"""LLM-as-a-Generalist: Eurorad radiology cases, choose the final diagnosis from a candidate list.

A run is correct when the normalized prediction equals the normalized gold `FinalDiagnosis`. Live answers are
first mapped onto the candidate list (exact, normalized, fuzzy: mlxclin.parsing.match_option, or
match_option_paper under the paper protocol); stored answers
replayed from the data file are scored as they are unless map_options is set, and their match type is still
recorded.
"""

from mlxclin.errors import MlxclinError
from mlxclin.parsing import match_option, match_option_paper, split_options
from mlxclin.protocol import PAPER
from mlxclin.tasks.base import Item, register_task
from mlxclin.tasks.choice import ChoiceTask
from mlxclin.text import normalize_text

# The paper reports 10 subspecialty groups: the two smallest sections are pooled.
MERGED_INTO_OTHERS = {"Genital (female) imaging", "Interventional radiology"}
OTHERS = "Others"


def case_id_text(value) -> str:
    """Eurorad ids arrive as float text ("18812.0"); an integral value becomes "18812"."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def subspecialty_group(section: str) -> str:
    section = section.strip()
    return OTHERS if section in MERGED_INTO_OTHERS else section


@register_task
class EuroradTask(ChoiceTask):
    name = "eurorad"
    aliases = ("generalist",)

    def data_file(self, subset=""):
        return "eurorad_test.csv"

    def required_columns(self, subset=""):
        return ("case_id", "Section", "PostDescription", "DifferentialDiagnosisList", "FinalDiagnosis")

    def items_from_table(self, table, subset):
        items = []
        for index, row in enumerate(table.rows):
            case_id, gold = case_id_text(row["case_id"]), str(row["FinalDiagnosis"]).strip()
            if not gold:
                table.drop(index, "no FinalDiagnosis (gold answer): cannot be scored")
                continue
            if not case_id:
                raise MlxclinError(f"{table.where(index)}: empty case_id for gold {gold!r}")
            section = str(row["Section"]).strip()
            # The gold label is cut out whole first: four gold labels contain commas ("Sturge–Weber syndrome,
            # type 1") and a naive split would offer the model only fragments of them.
            options = split_options(str(row["DifferentialDiagnosisList"]), keep_whole=[gold])
            if not options:
                raise MlxclinError(f"{table.where(index)} (case {case_id}): empty DifferentialDiagnosisList; "
                                   f"the model would have no candidates to choose from")
            items.append(Item(case_id, {
                "case": str(row["PostDescription"]).strip(),
                "options": options,
                "gold": gold,
                "section": section,
                "groups": [subspecialty_group(section)],
            }, row=row))
        return items

    def build_messages(self, item, prompt):
        return prompt.messages(case=item.fields["case"],
                               options="\n".join(f"- {option}" for option in item.fields["options"]))

    def parse(self, item, completion):
        answer = completion.final or ""
        matcher = match_option_paper if self.protocol == PAPER else match_option
        match = matcher(answer, item.fields["options"])
        as_stored = completion.format == "replay" and not self.map_options
        prediction = answer.strip() if as_stored or match.option is None else match.option
        return {"prediction": prediction, "match_type": match.match_type,
                "matched_option": match.option, "similarity": match.similarity}

    def score(self, item, parsed):
        prediction = normalize_text(parsed["prediction"])
        return {"correct": bool(prediction) and prediction == normalize_text(item.fields["gold"])}
