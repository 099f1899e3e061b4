"""Where the null toys run: in this process, or as tasks on a Ray cluster.

An executor has one method, ``map_blocks(function, shared, blocks)``: it yields
``function(*shared, block)`` for every block, in the order of ``blocks``, and stops the work left
when the generator is closed. Toy i depends on (seed, i) alone, so a block gives the same numbers
wherever it runs, and yielding in block order makes every partial result (and the final null)
equal to the local one; taking the blocks in a fixed order also keeps the toys counted so far
independent of their t values when a run is stopped early.

``RayExecutor`` puts ``shared`` (the pool and the role rules) in the object store once, keeps a
few blocks per worker in flight, takes them back as they finish (``ray.wait``), retries the block
of a worker that dies (``max_retries``) and cancels what is outstanding on close (``ray.cancel``,
forced: a running block's worker process is ended).
Ray is imported only when a ``RayExecutor`` first runs, so ``import sparker_core`` never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ._validation import check_int, fail

EXECUTORS = ("local", "ray")
IN_FLIGHT_PER_WORKER = 2  # a worker finds its next block waiting when it finishes one
WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}  # idle OpenMP threads sleep instead of spinning on shared cores


class LocalExecutor:
    """The blocks one after the other in this process, with torch's current threads."""

    def map_blocks(self, function: Callable, shared: tuple, blocks: Sequence) -> Iterator:
        for block in blocks:
            yield function(*shared, block)

    def __repr__(self) -> str:
        return "LocalExecutor()"


def _run_block(function: Callable, shared: tuple, block, threads: int):
    """One Ray task: torch threads set explicitly (a worker does not inherit the driver's), then the block."""
    import torch

    torch.set_num_threads(threads)
    return function(*shared, block)


class RayExecutor:
    """Blocks of toys as Ray tasks, ``threads`` torch threads (and CPUs) each.

    address: the cluster to join when Ray is not initialised in this process (None: the
    ``RAY_ADDRESS`` environment variable, else a new local cluster); a running connection
    (``ray.is_initialized()``) is always used as it is. max_retries: times the block of a worker
    that dies is run again. The pool is sent once; each block sends back (n_scales, block) floats.
    The workers run on CPU: a problem on CUDA is refused.
    """

    def __init__(self, address: str | None = None, threads: int = 1, max_retries: int = 3):
        if address is not None and (not isinstance(address, str) or not address.strip()):
            fail("address", "a Ray address such as 'ray://host:10001' or 'host:6379', or None", address)
        check_int("threads", threads, 1)
        check_int("max_retries", max_retries, 0)
        self.address, self.threads, self.max_retries = address, int(threads), int(max_retries)

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, threads={self.threads}, max_retries={self.max_retries})"

    def connect(self):
        """The ``ray`` module, connected: the running connection, else ``ray.init(address)``."""
        ray = import_ray()
        if not ray.is_initialized():
            where = self.address or "RAY_ADDRESS or a new local cluster"
            try:
                ray.init(address=self.address, logging_level="ERROR")
            except (ConnectionError, RuntimeError, ValueError, TimeoutError) as err:
                reason = " ".join(str(err).split()) or type(err).__name__
                raise ValueError(f"cannot connect to the Ray cluster at {where}: {reason}") from None
        return ray

    def map_blocks(self, function: Callable, shared: tuple, blocks: Sequence) -> Iterator:
        ray = self.connect()
        task = ray.remote(_run_block).options(num_cpus=self.threads, max_retries=self.max_retries,
                                             runtime_env={"env_vars": dict(WORKER_ENV)})
        shared_ref = ray.put(shared)  # the pool goes to the object store once; every task reads it there
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)) // self.threads)
        window = IN_FLIGHT_PER_WORKER * workers
        pending: dict = {}  # object ref -> block index
        done: dict = {}  # block index -> result, until every block before it is yielded
        submitted = 0
        try:
            for index in range(len(blocks)):
                while submitted < len(blocks) and len(pending) < window:
                    pending[task.remote(function, shared_ref, blocks[submitted], self.threads)] = submitted
                    submitted += 1
                while index not in done:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    try:
                        done[pending.pop(ready[0])] = ray.get(ready[0])
                    except ray.exceptions.RayTaskError as err:  # the task's own exception, not the remote traceback
                        raise (err.cause if isinstance(err.cause, Exception) else err) from None
                yield done.pop(index)
        finally:
            # closed early (Stop) or failed: no worker keeps training toys nobody reads. force=True stops a
            # block already running by ending its worker process (Ray starts another when needed): without
            # it, the KeyboardInterrupt Ray raises in a running task did not stop it in every environment
            # (tests/test_ray.py saw started blocks finish in full-suite runs).
            for ref in pending:
                ray.cancel(ref, force=True)


def import_ray():
    try:
        import ray
    except ImportError:
        raise ValueError("`executor='ray'` needs the ray package; install it with `pip install -r requirements.txt`.") from None
    return ray


def resolve_executor(executor, device) -> LocalExecutor | RayExecutor:
    """``executor`` ("local", "ray" or an executor object) as an executor for a problem on ``device``."""
    if executor == "local":
        executor = LocalExecutor()
    elif executor == "ray":
        executor = RayExecutor()
    elif not callable(getattr(executor, "map_blocks", None)):
        fail("executor", f"one of {', '.join(map(repr, EXECUTORS))} or an executor object (RayExecutor(...))", executor)
    if isinstance(executor, RayExecutor) and device.type != "cpu":
        raise ValueError(f"`executor='ray'` runs the toys on CPU workers; the fit is on {device.type}: refit with device='cpu'.")
    return executor
