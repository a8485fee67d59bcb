"""mlxclin finetune vs mlx-lm's LoRA trainer: same model, data, rank, keys, batch and steps, side by side.

    python benchmarks/finetune_vs_mlx_lm.py [--model DIR] [--lengths 128,1024] [--steps 4] [--rank 8]

For each sequence length both trainers run in their own subprocess (so peak memory and RSS are theirs alone) on
the same Harmony-rendered examples: a long prompt and a short assistant answer, as in Eurorad fine-tuning. mlx-lm
gets the very same token ids through its Python API (`mlx_lm.tuner.trainer.train` with (ids, offset) pairs, the
offset masking the prompt) on a model loaded the same way. The first step of each run is a warm-up and is not
timed. Printed: seconds per step, tokens/s (all input tokens) and trained tokens/s, MLX peak memory during
training and the process's max RSS; then the ratios mlxclin / mlx-lm (tokens/s: higher is better; memory: lower).

mlx-lm computes logits over the whole vocabulary at every position; mlxclin only at trained positions. How much
that matters depends on the model: on the toy (hidden 64, 201,088-token vocabulary) the LM head is nearly all the
compute, on gpt-oss-20b it is a smaller share of compute but still gigabytes of logits at 4k tokens.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import model_dir  # noqa: E402

KEYS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.experts.gate_proj", "mlp.experts.up_proj", "mlp.experts.down_proj"]


def write_examples(data_dir: Path, length: int, n: int) -> list:
    """n examples of about `length` tokens (case text padded with findings); returns [(ids, first trained)]."""
    from mlxclin.harmony import render_training_example

    sentence = "Imaging shows a lobulated soft-tissue mass with heterogeneous enhancement and no calcification. "
    examples = []
    for i in range(n):
        text = f"Case {i}. "
        while True:
            messages = [{"role": "user", "content": text + "\n- Lymphoma\n- Sarcoma\n- Abscess"},
                        {"role": "assistant", "content": ["Lymphoma", "Sarcoma", "Abscess"][i % 3]}]
            ids, mask = render_training_example(messages, "low")
            if len(ids) >= length:
                break
            text += sentence
        examples.append((ids, mask))
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "train.jsonl", "w") as f:
        for ids, mask in examples:
            f.write(json.dumps({"ids": ids, "mask": mask}) + "\n")
    (data_dir / "valid.jsonl").write_text("")
    return [(ids, mask.index(1)) for ids, mask in examples]


def run_mlxclin(args, data_dir: Path, work: Path) -> dict:
    from mlxclin.finetune.config import TrainConfig
    from mlxclin.finetune.train import train

    config = TrainConfig(rank=args.rank, alpha=2 * args.rank, dropout=0.0, keys=KEYS, learning_rate=1e-5,
                         schedule="constant", warmup_fraction=0.0, batch_size=args.batch_size, grad_accum=1,
                         iters=args.steps, max_seq_len=10 ** 6, grad_checkpoint=args.grad_checkpoint,
                         steps_per_report=1, steps_per_eval=10 ** 6, save_every=10 ** 6)
    train(args.model, data_dir, work / "adapters", config, echo=lambda *_: None, progress=False)
    log = [json.loads(line) for line in (work / "adapters" / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["type"] == "train"][1:]   # the first step warms up
    return {"step_s": [1.0 / r["iterations_per_second"] for r in steps],
            "peak_gb": max(r["peak_memory_gb"] for r in steps)}


def run_mlx_lm(args, data_dir: Path, work: Path) -> dict:
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx_lm.tuner.callbacks import TrainingCallback
    from mlx_lm.tuner.trainer import TrainingArgs, train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from mlxclin.device import peak_memory_gb, reset_peak_memory
    from mlxclin.models.gpt_oss import load

    dataset = []
    for line in (data_dir / "train.jsonl").read_text().splitlines():
        r = json.loads(line)
        dataset.append((r["ids"], r["mask"].index(1)))   # mlx-lm masks targets before the offset
    model, _, _ = load(args.model)
    model.freeze()
    mx.random.seed(0)
    linear_to_lora_layers(model, -1, {"rank": args.rank, "scale": 2.0, "dropout": 0.0, "keys": KEYS})

    class Record(TrainingCallback):
        def __init__(self):
            self.reports = []

        def on_train_loss_report(self, info):
            self.reports.append(dict(info, peak_gb=peak_memory_gb()))

    record = Record()
    work.mkdir(parents=True, exist_ok=True)
    reset_peak_memory()
    train(model, optim.Adam(learning_rate=1e-5), dataset, None,
          TrainingArgs(batch_size=args.batch_size, iters=args.steps, steps_per_report=1, steps_per_eval=10 ** 6,
                       steps_per_save=10 ** 6, max_seq_length=10 ** 6, grad_checkpoint=args.grad_checkpoint,
                       adapter_file=str(work / "adapters.safetensors")),
          training_callback=record)
    steps = record.reports[1:]
    return {"step_s": [1.0 / r["iterations_per_second"] for r in steps], "peak_gb": max(r["peak_gb"] for r in steps)}


def side(args):
    """Subprocess entry: train one side, write its measurements as JSON."""
    work = Path(args.work)
    data_dir = work / "data"
    run = run_mlxclin if args.side == "mlxclin" else run_mlx_lm
    result = run(args, data_dir, work / args.side)
    ids = [json.loads(line) for line in (data_dir / "train.jsonl").read_text().splitlines()]
    result.update(tokens_per_step=args.batch_size * (len(ids[0]["ids"]) - 1),
                  trained_per_step=args.batch_size * sum(ids[0]["mask"]),
                  max_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin"
                                                                                    else 1024) / 1e9)
    (work / f"{args.side}.json").write_text(json.dumps(result))


def measure(args, length: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"mlxclin-ft-bench-{length}-"))
    write_examples(work / "data", length, n=max(4, args.batch_size * args.steps))
    results = {}
    for name in ("mlx_lm", "mlxclin"):
        cmd = [sys.executable, __file__, "--side", name, "--work", str(work), "--model", str(args.model),
               "--steps", str(args.steps), "--rank", str(args.rank), "--batch-size", str(args.batch_size)]
        if not args.grad_checkpoint:
            cmd.append("--no-grad-checkpoint")
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        results[name] = json.loads((work / f"{name}.json").read_text())
        results[name]["wall_s"] = time.perf_counter() - t0
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="MLX model dir (default: a toy gpt-oss built now)")
    ap.add_argument("--lengths", default="128,1024",
                    help="short,long sequence lengths in tokens (at least the ~90 tokens of a rendered example)")
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps per run (the first is not timed)")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--no-grad-checkpoint", dest="grad_checkpoint", action="store_false")
    ap.add_argument("--side", choices=["mlxclin", "mlx_lm"], help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        return side(args)
    args.model = model_dir(args.model)
    print(f"model {args.model} · rank {args.rank} · batch {args.batch_size} · {args.steps} steps "
          f"(first untimed) · gradient checkpointing {'on' if args.grad_checkpoint else 'off'}")
    print(f"{'tokens':>6}  {'trainer':<8} {'s/step':>8} {'tokens/s':>10} {'trained/s':>10} {'peak GB':>8} "
          f"{'max RSS GB':>10}")
    ratios = []
    for length in (int(x) for x in args.lengths.split(",")):
        results = measure(args, length)
        for name, r in results.items():
            step = sum(r["step_s"]) / len(r["step_s"])
            r["tps"], r["trained_tps"] = r["tokens_per_step"] / step, r["trained_per_step"] / step
            print(f"{r['tokens_per_step'] // args.batch_size:>6}  {name:<8} {step:>8.3f} {r['tps']:>10.1f} "
                  f"{r['trained_tps']:>10.2f} {r['peak_gb']:>8.3f} {r['max_rss_gb']:>10.3f}")
        ours, ref = results["mlxclin"], results["mlx_lm"]
        ratios.append((ours["tokens_per_step"] // args.batch_size, ours["tps"] / ref["tps"],
                       ours["peak_gb"] / ref["peak_gb"],
                       ours["max_rss_gb"] / ref["max_rss_gb"]))
    print("ratios mlxclin / mlx_lm (tokens/s: >= 1.0 is faster; memory: < 1.0 is lower)")
    for length, speed, peak, rss in ratios:
        print(f"  {length} tokens: tokens/s x{speed:.2f} · MLX peak memory x{peak:.2f} · max RSS x{rss:.2f}")


if __name__ == "__main__":
    main()
