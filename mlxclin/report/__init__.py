"""Reports from run directories: paper-style tables, speed and memory beside accuracy, published baselines, paired
significance, plots and a self-contained HTML page. Reads run directories only (config.json, metrics.json,
samples.jsonl, perf.json); see build.py for the layout of a report directory."""
