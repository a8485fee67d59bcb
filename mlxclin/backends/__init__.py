"""Generation backends: requests in, completions out. See `base.py` for the interface."""
