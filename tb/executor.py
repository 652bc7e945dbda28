"""Where a campaign's work units run: a local pool of simulator processes, or Dask.

A work unit (`Unit`) is a short run of consecutive injections of one campaign in one
simulator process (`run_unit`): small units balance the load across workers and lose
little when a worker dies. Injection i depends only on (seed, i), so the units can run
anywhere, in any order, and a unit that failed is simply run again.

Both executors have one method, `run(fn, units)`, which yields `(unit, result)` as
units finish, in completion order, and raises `UnitFailed` once a unit has failed
`retries + 1` times:

* `LocalExecutor(jobs)`: `jobs` simulator processes at a time on this machine (each
  unit is its own simulator process, started from a thread here). A unit whose
  simulator crashes or fails is run again, up to `retries` times.
* `DaskExecutor(scheduler=ADDRESS)` or `DaskExecutor(local_workers=W)`: Dask
  distributed (`pip install .[dask]`, pinned), on an existing cluster or on a
  LocalCluster of W single-threaded worker processes. A unit that raises is retried by
  Dask (`retries`); a unit whose worker died is moved to another worker by the
  scheduler (`distributed.scheduler.allowed-failures`, set to `retries` for a
  LocalCluster). Remote workers need this package installed and the same simulator
  available; each builds the simulator model once (chimney.tb.simbuild caches it).
"""

import os
import shutil
import tempfile
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Unit:
    """Injections start .. start + count - 1 of campaign `seed` on simulator `sim`."""
    sim: str
    seed: int
    start: int
    count: int
    classes: tuple
    points: tuple
    only: tuple = field(default=())        # instead of start/count: these injection numbers

    @property
    def indices(self):
        return list(self.only) if self.only else list(range(self.start, self.start + self.count))

    def __str__(self):
        what = f"#{','.join(map(str, self.only))}" if self.only else f"{self.start}..{self.start + self.count - 1}"
        return f"{self.sim} seed {self.seed} injections {what}"


def units_of(indices_range, unit_size, **common):
    """Split range(lo, hi) into Units of at most `unit_size` injections."""
    lo, hi = indices_range
    return [Unit(start=s, count=min(unit_size, hi - s), **common) for s in range(lo, hi, unit_size)]


def run_unit(unit: Unit, work_dir=None):
    """One unit in one simulator process; returns its records (dicts, by injection number).
    Raises when the simulator fails or does not return a record for every injection. The
    simulator's log goes to the unit's folder, which is removed when the unit succeeds."""
    from chimney.tb.campaign import run_injections
    from chimney.tb import simbuild
    base = work_dir or simbuild.BUILD / "campaign" / "units"
    os.makedirs(base, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix=f"{unit.sim}-{unit.seed}-{unit.start}-", dir=base)
    kw = {"only": unit.only} if unit.only else {"start": unit.start, "count": unit.count}
    try:
        records = run_injections(unit.sim, unit.seed, os.path.join(run_dir, "records.jsonl"),
                                 classes=unit.classes, points=unit.points, test_dir=os.path.join(run_dir, "sim"),
                                 log_dir=run_dir, **kw)
    except Exception as e:
        raise RuntimeError(f"{unit}: {e} (its simulator log: {run_dir})") from e
    got = [r["i"] for r in records]
    if got != unit.indices:
        raise RuntimeError(f"{unit}: the simulator returned records for {got} (its files: {run_dir})")
    shutil.rmtree(run_dir, ignore_errors=True)     # a failed unit's folder stays, for its logs
    return records


class UnitFailed(RuntimeError):
    pass


class LocalExecutor:
    name = "local"

    def __init__(self, jobs=None, retries=2):
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.retries = retries

    def describe(self):
        return f"{self.jobs} local simulator processes"

    def run(self, fn, units):
        attempts = {u: 0 for u in units}
        errors = {}
        with ThreadPoolExecutor(self.jobs) as pool:
            pending = {pool.submit(fn, u): u for u in units}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    unit = pending.pop(fut)
                    try:
                        result = fut.result()
                    except Exception as e:           # the simulator crashed or failed: run it again
                        attempts[unit] += 1
                        errors.setdefault(unit, []).append(f"{type(e).__name__}: {e}"[:500])
                        if attempts[unit] > self.retries:
                            for other in pending:
                                other.cancel()
                            raise UnitFailed(f"{unit} failed {attempts[unit]} times: " + " | ".join(errors[unit]))
                        pending[pool.submit(fn, unit)] = unit
                        continue
                    yield unit, result

    def close(self):
        pass


class DaskExecutor:
    name = "dask"

    def __init__(self, scheduler=None, local_workers=None, retries=2):
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError as e:
            raise SystemExit("the Dask executor needs the dask extra: pip install '.[dask]' "
                             "(make campaign DASK_LOCAL=... installs it)") from e
        if (scheduler is None) == (local_workers is None):
            raise ValueError("give a scheduler address or a number of local workers, not both")
        self.retries = retries
        self.cluster = None
        if local_workers is not None:
            # a dead worker's unit is moved to another worker up to `retries` times
            dask.config.set({"distributed.scheduler.allowed-failures": retries})
            self.cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
            self.where = f"a Dask LocalCluster of {local_workers} workers"
        else:
            self.client = Client(scheduler)
            self.where = f"the Dask scheduler at {scheduler}"

    def describe(self):
        return self.where

    def run(self, fn, units):
        from dask.distributed import as_completed
        futures = {self.client.submit(fn, u, retries=self.retries, pure=False,
                                      key=f"chimney-campaign-{u.sim}-{u.seed}-{u.start}-{len(u.indices)}"): u
                   for u in units}
        for fut in as_completed(futures):
            unit = futures[fut]
            try:
                result = fut.result()
            except Exception as e:
                for other in futures:
                    other.cancel()
                raise UnitFailed(f"{unit} failed on Dask: {type(e).__name__}: {e}"[:1000]) from e
            yield unit, result

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
