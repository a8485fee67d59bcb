"""Decoding strategies beyond mlx-lm's sampling: diverse (group) beam search and votes over its beams."""
