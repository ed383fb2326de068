"""Where the parallel stages run: local processes, or a Dask cluster.

A stage cuts its work into partitions (lists of files, chunks of passages) and maps one pure,
module-level function over them; the engine only decides where that happens. Results come
back in partition order, so the output is the same whatever the engine and the number of
workers.

* ``local``: ``jobs`` processes of this machine (``multiprocessing``, forked), or a plain
  loop when ``jobs`` is 1;
* ``dask``: the workers of a Dask cluster, given by ``scheduler`` (``tcp://host:8786``, or a
  scheduler file from dask-jobqueue or ``dask scheduler --scheduler-file``), or else a
  ``LocalCluster`` of ``jobs`` (at least 2) worker processes started for the run. Workers
  read input files by the paths this machine sees, so on a real cluster the corpus must be
  on a shared file system.

Install the optional extra for Dask: ``pip install 'kmdiscourse[dask]'``.

Examples
--------
>>> with open_engine("local", jobs=1) as eng:
...     list(eng.map(sum, [[1, 2], [3]]))
[3, 3]
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from .errors import KmdError, MissingDependencyError

EngineName = Literal["local", "dask"]
ENGINES: tuple[str, ...] = ("local", "dask")

log = logging.getLogger("kmdiscourse")


def partition(items: Sequence[Any], n_parts: int, *, max_size: int | None = None) -> list[list[Any]]:
    """Cut ``items`` into consecutive lists: about ``n_parts`` of them, none over ``max_size``.

    >>> partition(list(range(5)), 2)
    [[0, 1, 2], [3, 4]]
    """
    items = list(items)
    if not items:
        return []
    size = -(-len(items) // max(1, n_parts))
    if max_size:
        size = min(size, max_size)
    size = max(1, size)
    return [items[i:i + size] for i in range(0, len(items), size)]


#: The ``shared`` value of the running local map, inherited by its forked workers.
_INHERITED: list[Any] = []


def _call_inherited(func: Callable[..., Any], part: Any) -> Any:
    return func(part, shared=_INHERITED[-1])


class LocalEngine:
    """``jobs`` local processes (a loop when ``jobs`` is 1)."""

    name = "local"

    def __init__(self, jobs: int = 1):
        self.jobs = max(1, int(jobs))

    @property
    def workers(self) -> int:
        return self.jobs

    def map(self, func: Callable[..., Any], partitions: Iterable[Any], *, shared: Any = None,
            before_fork: Callable[[], Any] | None = None) -> Iterator[Any]:
        """``func(partition)`` (or ``func(partition, shared=shared)``) for each partition, in order."""
        parts = list(partitions)
        if self.jobs == 1 or len(parts) < 2:
            call = func if shared is None else functools.partial(func, shared=shared)
            for p in parts:
                yield call(p)
            return
        import multiprocessing as mp

        if before_fork is not None:
            before_fork()  # load models once; forked workers share them
        fork = os.name != "nt" and "fork" in mp.get_all_start_methods()
        ctx = mp.get_context("fork" if fork else "spawn")
        if shared is None:
            call = func
        elif fork:  # workers inherit ``shared`` (a model): it is not pickled with every partition
            call = functools.partial(_call_inherited, func)
        else:
            call = functools.partial(func, shared=shared)
        _INHERITED.append(shared)
        try:
            with ctx.Pool(min(self.jobs, len(parts))) as pool:
                yield from pool.imap(call, parts)
        finally:
            _INHERITED.pop()

    def close(self) -> None:
        pass


class DaskEngine:
    """The workers of a Dask cluster; a quiet ``LocalCluster`` when no scheduler is given."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, *, workers: int = 2):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise MissingDependencyError(
                "--engine dask needs dask.distributed; install it with: pip install 'kmdiscourse[dask]'"
            ) from exc
        self.cluster = None
        try:
            if scheduler:
                if os.path.isfile(scheduler):  # a scheduler file (dask-jobqueue, dask scheduler --scheduler-file)
                    self.client = Client(scheduler_file=scheduler, timeout="30s")
                else:
                    self.client = Client(scheduler, timeout="30s")
            else:
                self.cluster = LocalCluster(n_workers=max(2, workers), threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as exc:
            if self.cluster is not None:
                self.cluster.close()
            raise KmdError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler ({exc}); "
                           f"expected an address such as tcp://host:8786 or a scheduler file") from exc

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(self, func: Callable[..., Any], partitions: Iterable[Any], *, shared: Any = None,
            before_fork: Callable[[], Any] | None = None) -> Iterator[Any]:
        """``func(partition)`` on the workers, results in partition order; ``shared`` (a model,
        a lexicon) is sent to every worker once and passed as ``func(partition, shared=...)``."""
        parts = list(partitions)
        if not parts:
            return
        kwargs = {} if shared is None else {"shared": self.client.scatter(shared, broadcast=True, hash=False)}
        futures = self.client.map(func, parts, pure=False, **kwargs)
        try:
            for i, fut in enumerate(futures):
                yield fut.result()
                futures[i] = None  # let the cluster free the result
                fut.release()
        finally:
            for fut in futures:
                if fut is not None:
                    fut.cancel()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def check_engine(engine: str, scheduler: str | None = None) -> None:
    if engine not in ENGINES:
        raise KmdError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    if scheduler and engine != "dask":
        raise KmdError(f"--scheduler {scheduler} needs --engine dask")


@contextmanager
def open_engine(engine: EngineName = "local", *, jobs: int = 1, scheduler: str | None = None):
    """The engine for a run, closed (its LocalCluster shut down) at the end.

    Parameters
    ----------
    engine : "local" or "dask"
    jobs : int
        Local processes; for a Dask LocalCluster, its number of workers (at least 2).
    scheduler : str, optional
        A Dask scheduler address or scheduler file; only with ``engine="dask"``.
    """
    check_engine(engine, scheduler)
    eng = DaskEngine(scheduler, workers=jobs) if engine == "dask" else LocalEngine(jobs)
    try:
        yield eng
    finally:
        eng.close()
