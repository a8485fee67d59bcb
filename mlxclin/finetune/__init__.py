"""Fine-tuning gpt-oss on clinical cases with LoRA, on top of mlx-lm's tuner.

cases     training cases from the released messages jsonl or a CSV with the Eurorad test-file columns
leakage   near-duplicate and gold-overlap check between training cases and the test set (rapidfuzz)
prepare   cases -> Harmony-rendered token ids + trained-token mask, seeded train/valid split (DATA_DIR)
traces    reasoning traces written by a teacher model through any backend, kept only when they reach the gold
config    the training recipe (mlxclin/configs/finetune/*.toml) and its CLI overrides
lora      LoRA layers on attention and MoE experts, the trainable-parameter report, mlx-lm's adapter format
train     the training loop: assistant-token loss without full-vocabulary logits, checkpoints, exact resume
fuse      adapters merged into the weights, with the logit change that merging causes
"""
