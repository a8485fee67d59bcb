"""Model-side code: toy checkpoints, gpt-oss fixes, conversion recipes, numerical verification."""
