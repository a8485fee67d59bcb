"""Draw a report's figures in worker processes while the main process does the rest.

Drawing is most of a report's time, and figures are independent of each other. On Linux the workers are forked
as early as possible (`mlxclin report` starts them before it loads scipy and statsmodels), and each loads
matplotlib while the main process loads the statistics and reads the runs; jobs carry only plain data. Elsewhere
(macOS cannot fork safely once system frameworks are loaded), and on a busy machine, the jobs run in the main
process, one by one.
This module imports nothing heavy, so starting workers costs almost nothing.
"""

import math
import multiprocessing
import os
import sys


def _warm_up() -> None:
    from mlxclin.report.plots import load_matplotlib
    load_matplotlib()


def _call(job):
    function, args = job
    return function(*args)


def worker_count() -> int:
    """Workers only on idle cores: each loads matplotlib again, so on a busy machine they cost more CPU time
    than they save (measured: a 2-core machine under load 2.6 took 9-13 s in parallel and 6-11 s serially)."""
    if sys.platform != "linux" or os.environ.get("MLXCLIN_REPORT_SERIAL"):
        return 1
    idle = len(os.sched_getaffinity(0)) - math.ceil(os.getloadavg()[0])
    return max(1, min(idle, 4))


class JobPool:
    """pool.run(jobs) -> results in order; jobs are (function, args) with picklable args."""

    def __init__(self, workers: int = None):
        self.workers = worker_count() if workers is None else workers
        self._pool = None
        if self.workers > 1:
            self._pool = multiprocessing.get_context("fork").Pool(self.workers, initializer=_warm_up)

    def submit(self, jobs: list):
        """Start the jobs; returns a handle whose get() waits for the results (in the main process when
        there are no workers, so that the caller can do other work in between either way)."""
        if self._pool is None:
            return _Later(jobs)
        return self._pool.map_async(_call, jobs, chunksize=1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None and self._pool is not None:
            self._pool.terminate()
        self.close()


class _Later:
    def __init__(self, jobs):
        self.jobs = jobs

    def get(self):
        return [_call(job) for job in self.jobs]
