"""Replay backend: stored model outputs, one data-file column per run, served as Completions.

The released benchmark files carry many models' extracted final answers in columns such as
`gpt-5.1-1113-M1..M3`. Replaying column i as run i pushes them through exactly the parsing, scoring and
statistics a live model's answers get, which is how the published tables are reproduced.
"""

from mlxclin.backends.base import Completion, StreamingBackend
from mlxclin.errors import MlxclinError


def parse_column_list(text: str) -> list:
    """'A,B , C' -> ['A', 'B', 'C']; column names may contain spaces and parentheses but not commas."""
    columns = [c.strip() for c in (text or "").split(",")]
    columns = [c for c in columns if c]
    if not columns:
        raise MlxclinError("--replay-columns needs at least one column name (comma-separated, one per run)")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise MlxclinError(f"--replay-columns lists {', '.join(repr(c) for c in duplicates)} more than once")
    return columns


class ReplayBackend(StreamingBackend):
    name = "replay"

    def __init__(self, outputs: dict, columns: list):
        self.outputs = outputs      # item id -> stored answers, one per run
        self.columns = columns      # run index -> column it came from

    @classmethod
    def from_items(cls, items: list, columns: list, source: str = "the data file") -> "ReplayBackend":
        """Read the named columns from each item's source row; a missing column is one error naming all of them."""
        present = set().union(*(item.row for item in items)) if items else set()
        missing = [c for c in columns if c not in present]
        if missing:
            raise MlxclinError(f"{source} has no column(s) {', '.join(repr(c) for c in missing)} "
                               f"given in --replay-columns")
        outputs = {item.id: ["" if item.row.get(c) is None else str(item.row.get(c)) for c in columns]
                   for item in items}
        return cls(outputs, list(columns))

    def stream(self, requests: list):
        completions = []
        for request in requests:
            stored = self.outputs.get(request.item_id)
            if stored is None or not 0 <= request.run < len(stored):
                raise MlxclinError(f"replay has no stored output for item {request.item_id!r} run {request.run}")
            answer = stored[request.run]
            completions.append(Completion(id=request.id, text=answer, final=answer, format="replay",
                                          extra={"column": self.columns[request.run]}))
        yield from completions

    def close(self) -> None:
        pass
