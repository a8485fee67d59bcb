"""LLM-as-a-Specialist: ophthalmology multiple-choice questions with one or several correct letters.

A run is correct when the set of letters read from the answer (mlxclin.parsing.parse_letters, or paper_letters
under the paper protocol) equals the gold set (`GT`, e.g. "BCDE"). Groups:
question `Type` (Diagnosis / Management) and `Type / Topic`.
"""

from mlxclin.errors import MlxclinError
from mlxclin.parsing import option_letters, paper_letters, parse_letters
from mlxclin.protocol import PAPER
from mlxclin.tasks.base import Item, register_task
from mlxclin.tasks.choice import ChoiceTask


def gold_letters(text: str) -> str:
    return "".join(sorted({ch for ch in str(text).upper() if "A" <= ch <= "Z"}))


@register_task
class OphthoTask(ChoiceTask):
    name = "ophtho"
    aliases = ("specialist", "ophthalmology")

    def data_file(self, subset=""):
        return "ophthalmology.csv"

    def required_columns(self, subset=""):
        return ("Topic", "Type", "Question", "GT")

    def items_from_table(self, table, subset):
        items = []
        has_id = "id" in table.columns
        for number, row in enumerate(table.rows, start=1):
            gold = gold_letters(row["GT"])
            if not gold:
                # The released sheet ends with summary rows ("Loading...", percentages) and no GT; the paper keeps
                # only rows with a GT.
                table.drop(number - 1, "no GT (gold letters): the paper keeps only rows with a GT")
                continue
            question, kind, topic = str(row["Question"]).strip(), str(row["Type"]).strip(), str(row["Topic"]).strip()
            letters = option_letters(question)
            if not letters:
                raise MlxclinError(f"{table.where(number - 1)}: the Question has no lettered options "
                                   f"(lines starting 'A.', 'B.', ...); it cannot be scored as multiple choice")
            if not set(gold) <= set(letters):
                raise MlxclinError(f"{table.where(number - 1)}: GT {gold!r} names letters the Question does not "
                                   f"offer (options {letters})")
            items.append(Item(str(row["id"]).strip() if has_id else str(number), {
                "question": question,
                "gold": gold,
                "letters": "".join(sorted(letters)),
                "type": kind,
                "topic": topic,
                "groups": [kind, f"{kind} / {topic}"],
            }, row=row))
        return items

    def build_messages(self, item, prompt):
        return prompt.messages(question=item.fields["question"])

    def parse(self, item, completion):
        if self.protocol == PAPER:
            letters, match_type = paper_letters(completion.final or "")
        else:
            letters, match_type = parse_letters(completion.final or "", item.fields["letters"])
        return {"prediction": letters, "match_type": match_type}

    def score(self, item, parsed):
        return {"correct": bool(parsed["prediction"]) and parsed["prediction"] == item.fields["gold"]}
