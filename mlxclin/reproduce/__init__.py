"""`mlxclin reproduce`: the paper's tables recomputed from the released predictions (or a live model's run
directories) under the paper protocol, and diffed cell by cell against the published values.

    models.py  discover the 3-run column groups of each data file and replay them through the tasks
    tables.py  the paper's tables (Eurorad, ophthalmology, judge, reasoning effort) with the paired tests
    diff.py    every published cell of mlxclin/configs/baselines/published_cells.json against its recomputation
    run.py     one call that does it all and writes the report directory
    live.py    --live: plan, evaluate a local model through mlxclin.evaluation, rescore under the paper protocol
"""
