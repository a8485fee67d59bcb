"""Benchmark data files: read a local CSV/JSONL strictly, or fetch a released file by name (sha256-pinned, cached).

The released files live in the public repository of the paper (bowang-lab/on-device-LLM). They are never copied
into this project: a user either has internet access (first use downloads and caches them) or passes `--data`.
"""

import csv
import hashlib
import io
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mlxclin.errors import MlxclinError
from mlxclin.paths import cache_dir

UPSTREAM_REPO = "bowang-lab/on-device-LLM"
UPSTREAM_COMMIT = "945c91d"
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
# Set to skip every download attempt (air-gapped machines, tests): a missing file is then an immediate error.
OFFLINE_ENV = "MLXCLIN_OFFLINE"


@dataclass(frozen=True)
class DataSource:
    name: str          # local file name; also the name used in the shared reference folder
    path: str          # path inside the upstream repository
    sha256: str        # of the file as released at `commit`
    commit: str = UPSTREAM_COMMIT

    @property
    def url(self) -> str:
        return RAW_URL.format(repo=UPSTREAM_REPO, commit=self.commit, path=self.path)


SOURCES = {s.name: s for s in [
    DataSource("eurorad_test.csv", "csvs/final_csvs/Eurorad.csv",
               "4a58b98f202e3b6a9a159f18ebe2aad20e85b543c128a849ce9637b8c90982f6"),
    DataSource("ophthalmology.csv", "csvs/final_csvs/Ophthalmology.csv",
               "2bb0a057398280de3f33ca1bc6e6f61723b8b439d687792c6d7f1b3350107785"),
    DataSource("judge_diagnosis.csv", "csvs/final_csvs/NMED_Diagnosis.csv",
               "d2343b466c42abdfeb74950483547acd2306640d8758926116c6e8bec80d2338"),
    DataSource("judge_treatment.csv", "csvs/final_csvs/NMED_Treatment.csv",
               "4f31cef5bc98d1a48f02272e10e3b4a82da645964b450fe3c7d1a7167cd2fc69"),
    DataSource("eurorad_train_messages.jsonl", "finetune/eurorad_train_messages.jsonl",
               "1411c3405ca2d3c01b4fbfb0d82588378c70f2d6d715551a2179653d9aec7d0d", commit="a6ad8f8"),
]}


@dataclass
class Table:
    path: Path
    columns: list      # in file order
    rows: list         # one dict per data row, column -> str (JSONL values other than strings are kept as-is)
    lines: list = field(default_factory=list)   # the file line on which each row starts (for error messages)
    dropped: list = field(default_factory=list)  # rows a task's protocol left out: {"file", "line", "reason"}

    def drop(self, index: int, reason: str) -> None:
        """Record that rows[index] is left out on purpose; the loader prints and returns the count per reason."""
        line = self.lines[index] if index < len(self.lines) else None
        self.dropped.append({"file": str(self.path), "line": line, "reason": reason})

    def where(self, index: int) -> str:
        """'FILE line N' for rows[index]: what every row-level error and drop note names."""
        return f"{self.path} line {self.lines[index]}" if index < len(self.lines) else f"{self.path} row {index + 1}"

    def require_columns(self, needed, purpose: str) -> None:
        """One error naming every missing column, before any row is touched."""
        missing = [c for c in needed if c not in self.columns]
        if missing:
            raise MlxclinError(f"{self.path} lacks column(s) {', '.join(repr(c) for c in missing)} "
                               f"needed for {purpose}")


def read_table(path) -> Table:
    """Read a CSV (any other suffix) or JSONL (.jsonl/.json) file; every problem is one MlxclinError line."""
    path = Path(path)
    if not path.is_file():
        raise MlxclinError(f"data file not found: {path}")
    raw = path.read_bytes()
    if not raw.strip():
        raise MlxclinError(f"data file is empty: {path}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MlxclinError(f"{path} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                           f"re-save it as UTF-8") from None
    if path.suffix.lower() in (".jsonl", ".json"):
        return _parse_jsonl(path, text)
    return _parse_csv(path, text)


def _parse_csv(path: Path, text: str) -> Table:
    # strict: a quote that opens mid-field or is not followed by a delimiter is an error, not a silently merged row.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records, starts = [], []   # starts: the line each record begins on (line_num counts lines read so far)
    try:
        while True:
            start = reader.line_num + 1
            record = next(reader, None)
            if record is None:
                break
            records.append(record)
            starts.append(start)
    except csv.Error as e:
        raise MlxclinError(f"{path} line {reader.line_num} is not valid CSV ({e}); look for a stray or unclosed "
                           f'quote (") on or above that line') from None
    header = records[0]
    if not any(h.strip() for h in header):
        raise MlxclinError(f"{path} has no header row")
    # A duplicated column name keeps its first occurrence (spreadsheet exports sometimes repeat a blank name).
    positions = {}
    for i, name in enumerate(header):
        positions.setdefault(name, i)
    rows, lines = [], []
    for record, line in zip(records[1:], starts[1:]):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            # An unclosed quote swallows the rows after it (or splits one) and shifts the field count: refuse.
            raise MlxclinError(f"{path} line {line} has {len(record)} fields where the header has {len(header)}; "
                               f'look for a stray or unclosed quote (") or an unquoted comma on or above that line')
        rows.append({name: record[i] for name, i in positions.items()})
        lines.append(line)
    if not rows:
        raise MlxclinError(f"{path} has a header but no data rows")
    return Table(path, list(positions), rows, lines)


def iter_jsonl(lines, source):
    """(line number, object) for each non-blank line; a bad line is a one-line error naming file and line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise MlxclinError(f"{source} line {number} is not valid JSON: {e.msg}") from None
        if not isinstance(obj, dict):
            raise MlxclinError(f"{source} line {number} is not a JSON object")
        yield number, obj


def read_json_object(path, what: str) -> dict:
    """A JSON file that must hold one object (configs, metrics, state); any damage is one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise MlxclinError(f"{path} not found; the {what} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise MlxclinError(f"{path} is not valid JSON ({e.msg} at line {e.lineno}); the {what} is damaged") from None
    except UnicodeDecodeError:
        raise MlxclinError(f"{path} is not UTF-8 text; the {what} is damaged") from None
    if not isinstance(data, dict):
        raise MlxclinError(f"{path} should hold a JSON object, found {type(data).__name__}; the {what} is damaged")
    return data


def _parse_jsonl(path: Path, text: str) -> Table:
    rows, columns, lines = [], {}, []
    for number, row in iter_jsonl(text.splitlines(), path):
        columns.update(dict.fromkeys(row))
        rows.append(row)
        lines.append(number)
    if not rows:
        raise MlxclinError(f"{path} has no data rows")
    return Table(path, list(columns), [{c: row.get(c, "") for c in columns} for row in rows], lines)


# --- locating a task's file --------------------------------------------------------------------------------------

def resolve_data_file(name: str, data=None, flag: str = "--data") -> Path:
    """The file for data source `name`: `data` itself, `data/<name>` when `data` is a folder, else the cached or
    freshly downloaded release file. `flag` is the option that sets `data`, named in the advice of an error."""
    if data is not None:
        data = Path(data)
        if data.is_dir():
            candidate = data / name
            if not candidate.is_file():
                raise MlxclinError(f"{flag} {data} is a folder without {name}; pass the file itself or a folder "
                                   f"holding it")
            return candidate
        if not data.exists():
            raise MlxclinError(f"data file not found: {data} (given by {flag})")
        return data
    return fetch_source(name, flag)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_source(name: str, flag: str = "--data") -> Path:
    """Return the cached copy of a released file, downloading and verifying it first if needed."""
    if name not in SOURCES:
        raise MlxclinError(f"unknown data file {name!r}; known: {', '.join(SOURCES)}")
    source = SOURCES[name]
    target = cache_dir() / "data" / source.commit / source.name
    if target.is_file() and sha256_of(target) == source.sha256:
        return target
    how = (f"pass {flag} PATH pointing to a local copy of {source.path} from {UPSTREAM_REPO} "
           f"(commit {source.commit}), or put it at {target}")
    if os.environ.get(OFFLINE_ENV):
        raise MlxclinError(f"{name} is not cached and {OFFLINE_ENV} is set; {how}")
    try:
        with urllib.request.urlopen(source.url, timeout=60) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise MlxclinError(f"cannot download {name} from {source.url} ({reason}); offline? {how}") from None
    got = hashlib.sha256(payload).hexdigest()
    if got != source.sha256:
        raise MlxclinError(f"{source.url} has sha256 {got}, expected {source.sha256}; refusing to use it. {how}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(payload)
    partial.replace(target)
    return target
