"""Run directories for the report and compare tests (tests/test_report*.py, tests/test_compare.py).

Tiny hand-made data replayed through the real `mlxclin eval` (so the run directories have the real layout), plus
a helper that turns a replay run into a "live" one by writing what the run engine adds: perf.json, device and
model facts in config.json, per-sample timing and reasoning.
"""

import json
import shutil
from pathlib import Path

from mlxclin.cli import main as mlxclin_main
from support import CLINICAL_DATA_DIR, write_csv  # noqa: F401  (CLINICAL_DATA_DIR is re-exported to report tests)

DEVICE = {"os": "macOS 15.1", "chip": "Apple M3 Max", "memory_gb": 64, "metal": True, "mlx": "0.30.0",
          "mlx_lm": "0.30.0"}


def perf_block(n_samples: int, decode_tps: float = 61.5, peak_gb: float = 13.4) -> dict:
    return {"n_samples": n_samples, "wall_s": 120.0, "items_per_s": 0.4, "latency_s": {"p50": 6.1, "p95": 14.2},
            "ttft_s": {"p50": 0.42, "p95": 0.9}, "prefill_tps": 850.0, "decode_tps": decode_tps,
            "reasoning_tokens_mean": 412.0, "prompt_tokens": 25000, "completion_tokens": 30000,
            "peak_memory_gb": peak_gb, "rss_gb": 14.0, "cost_usd": None, "cost_per_1000_items_usd": None}


def write_eurorad(path: Path) -> Path:
    """8 cases, two models. alpha: right on 1-7 (6 wrong on one run only), beta: right on 1-3 only."""
    header = ["case_id", "Section", "PostDescription", "DifferentialDiagnosisList", "FinalDiagnosis", "DiseaseLeak",
              "alpha-M1", "alpha-M2", "alpha-M3", "beta-M1", "beta-M2", "beta-M3"]
    sections = ["Chest imaging", "Chest imaging", "Neuroradiology", "Neuroradiology", "Neuroradiology",
                "Musculoskeletal system", "Interventional radiology", "Genital (female) imaging"]
    rows = []
    for i, section in enumerate(sections, start=1):
        gold, other = f"Disease {i}", f"Mimic {i}"
        alpha = [gold, gold, gold] if i <= 7 else [other, other, gold]
        if i == 6:
            alpha = [gold, other, gold]
        beta = [gold, gold, other] if i <= 3 else [other, other, other]
        rows.append([f"{100 + i}.0", section, f"History {i}.", f"{gold}, {other}", gold, "NO", *alpha, *beta])
    return write_csv(path, header, rows)


def write_judge(folder: Path) -> Path:
    """judge_diagnosis.csv and judge_treatment.csv, 6 rows each, two judges (alpha close to the experts)."""
    folder.mkdir(parents=True, exist_ok=True)
    header = ["Clinical specialty", "disease_GT", "Frequency", "Model", "Disease_description", "HumanEvalScore",
              "alpha-m1", "alpha-m2", "alpha-m3", "beta-m1", "beta-m2", "beta-m3"]
    specialties = ["Neurology", "Neurology", "Surgery", "Surgery", "Pediatrics", "Pediatrics"]
    frequencies = ["Frequent", "rare", "Less Frequent", "frequent", "Rare", "less frequent"]
    for subset in ("diagnosis", "treatment"):
        rows = []
        for i, (spec, freq) in enumerate(zip(specialties, frequencies)):
            human = 1.5 + 0.5 * i
            alpha = [human, human + 0.5, human]
            beta = [min(5.0, human + 2), min(5.0, human + 1.5), min(5.0, human + 2)]
            rows.append([spec, f"disease {i}", freq, "some model", f"Case {i}. True Disease: d{i}. Model Output: x",
                         human, *alpha, *beta])
        write_csv(folder / f"judge_{subset}.csv", header, rows)
    return folder


def replay(out: Path, task: str, data: Path, columns: list, *extra) -> Path:
    code = mlxclin_main(["eval", "--task", task, "--backend", "replay", "--data", str(data), "--replay-columns",
                         ",".join(columns), "--out", str(out), "--overwrite", *extra])
    assert code == 0, f"replay of {columns} failed"
    return out


def make_live(src: Path, dst: Path, model: str, efforts=("high",), decode_tps=(61.5,), peak_gb=(13.4,)) -> Path:
    """A copy of replay run `src` that looks like a live mlx run of `model` at the given efforts (the same answers
    at every effort), with perf.json, device facts and per-sample timing and reasoning."""
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text(encoding="utf-8"))
    config.update(backend="mlx", model=model, model_path=f"/models/{model}", model_size_bytes=12_100_000_000,
                  device=DEVICE, efforts=list(efforts), effort=efforts[0])
    (dst / "config.json").write_text(json.dumps(config), encoding="utf-8")
    base = [json.loads(line) for line in (dst / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    samples = []
    for effort, tps in zip(efforts, decode_tps):
        for s in base:
            samples.append({**s, "effort": effort, "reasoning": f"Thinking at {effort} effort about {s['item_id']}.",
                            "prompt_tokens": 300, "completion_tokens": 120, "reasoning_tokens": 90, "ttft_s": 0.4,
                            "decode_tps": tps, "latency_s": 2.5, "peak_memory_gb": 13.0, "rss_gb": 14.0,
                            "error": None})
    (dst / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples), encoding="utf-8")
    metrics = json.loads((dst / "metrics.json").read_text(encoding="utf-8"))
    block = {**metrics, "model": model}
    metrics = {**block, "effort": efforts[0]}
    if len(efforts) > 1:
        metrics["by_effort"] = {e: {**block, "effort": e} for e in efforts}
    (dst / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    perf = {"backend": "mlx", "model": model, "model_size_bytes": 12_100_000_000, "device": DEVICE,
            "efforts": {e: perf_block(len(base), tps, gb) for e, tps, gb in zip(efforts, decode_tps, peak_gb)}}
    (dst / "perf.json").write_text(json.dumps(perf), encoding="utf-8")
    return dst


_CACHE = {}


def tiny_runs(tmp_path_factory) -> dict:
    """name -> run dir: eurorad alpha/beta (replay), eurorad live (two efforts), judge alpha/beta, judge live."""
    if "tiny" not in _CACHE:
        root = tmp_path_factory.mktemp("tiny-runs")
        eurorad = write_eurorad(root / "eurorad.csv")
        judge = write_judge(root / "judge")
        runs = {
            "eu_alpha": replay(root / "eu-alpha", "eurorad", eurorad, ["alpha-M1", "alpha-M2", "alpha-M3"]),
            "eu_beta": replay(root / "eu-beta", "eurorad", eurorad, ["beta-M1", "beta-M2", "beta-M3"]),
            "judge_alpha": replay(root / "judge-alpha", "judge", judge, ["alpha-m1", "alpha-m2", "alpha-m3"]),
            "judge_beta": replay(root / "judge-beta", "judge", judge, ["beta-m1", "beta-m2", "beta-m3"]),
        }
        runs["eu_live"] = make_live(runs["eu_alpha"], root / "eu-live", "toy-gpt-oss", efforts=("low", "high"),
                                    decode_tps=(80.0, 61.5), peak_gb=(12.9, 13.4))
        runs["judge_live"] = make_live(runs["judge_alpha"], root / "judge-live", "toy-gpt-oss")
        _CACHE["tiny"] = runs
    return _CACHE["tiny"]


SHARED_RUNS = {   # name -> (task, data file or folder, replay columns)
    "eu_gpt51": ("eurorad", "eurorad_test.csv", ["gpt-5.1-1113-M1", "gpt-5.1-1113-M2", "gpt-5.1-1113-M3"]),
    "eu_20b_high": ("eurorad", "eurorad_test.csv", ["oss-20b (H) v1", "oss-20b (H) v2", "oss-20b (H) v3"]),
    "eu_20b_low": ("eurorad", "eurorad_test.csv", ["oss-20b (L) v1", "oss-20b (L) v2", "oss-20b (L) v3"]),
    "eu_o4mini": ("eurorad", "eurorad_test.csv", ["o4-mini-M1", "o4-mini-M2", "o4-mini-M3"]),
    "oph_gpt51": ("ophtho", "ophthalmology.csv", ["gpt-5.1-1113-m1", "gpt-5.1-1113-m2", "gpt-5.1-1113-m3"]),
    "oph_20b_high": ("ophtho", "ophthalmology.csv", ["oss20b (H) v1", "oss20b (H) v2", "oss20b (H) v3"]),
    "judge_gpt51": ("judge", "", ["gpt-5.1-1113-m1", "gpt-5.1-1113-m2", "gpt-5.1-1113-m3"]),
    "judge_20b_high": ("judge", "", ["oss20b (H) v1", "oss20b (H) v2", "oss20b (H) v3"]),
}


def shared_runs(tmp_path_factory) -> dict:
    """Replays of several models of the shared data (callers skip first when the data is absent)."""
    if "shared" not in _CACHE:
        root = tmp_path_factory.mktemp("shared-runs")
        _CACHE["shared"] = {name: replay(root / name, task, CLINICAL_DATA_DIR / file, columns)
                            for name, (task, file, columns) in SHARED_RUNS.items()}
    return _CACHE["shared"]
