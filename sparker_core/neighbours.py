"""Nearest neighbours by blocked GEMMs, and the excess-seeded initial centres of a fit.

``init="excess"`` starts the kernels where the data locally outnumber the reference, instead of
on data rows drawn uniformly: a rare, compact excess (1 % of the data in a tail) is then reached
at epoch 0 rather than left to kernels that start in the bulk and move a fraction of sigma per
epoch. The rule is a function of the fit's own roles and random generator only, so the observed
fit and every null toy apply it identically and the calibration stays exact.

Excess score of a data row: among its ``INIT_NEIGHBOURS`` nearest rows of [data; reference probe],
sum b_j over data neighbours minus a_j * (A / A_probe) over reference neighbours, where a, b are
the fit's loss weights (w_R times the user weight, and the user weight) and A / A_probe rescales
the probe to the whole reference. The probe is at most ``INIT_REFERENCE_PROBE * N_D`` reference
rows drawn with the fit's generator, so the cost, O(N_D^2 d), does not grow with N_R; the fits of
one problem read these neighbours from one graph of the pool (``PoolNeighbours``) when that is
cheaper. Under no signal the expected score is 0. Kernels go to the highest-scoring rows, greedily, skipping
the data rows within ``INIT_RADIUS`` final widths of a row already taken (a kernel's reach) and the
data neighbours of that row and theirs (two hops: in high dimension a topic's rows can lie further
apart than 2 sigma), so that a compact group gets one kernel and the others spread out: with fewer
hops or no radius, several kernels split one compact excess and rank below a fluctuation elsewhere.
"""

from __future__ import annotations

import numpy as np
import torch

INIT_NEIGHBOURS = 10
INIT_REFERENCE_PROBE = 2
INIT_RADIUS = 2.0  # in units of sigma_final
# Rows per block of pairwise distances: a (2048, 2048) float32 block is 16 MiB.
BLOCK_ROWS = 2048
# The pool graph serves every fit when searching it costs at most this many per-fit searches ...
POOL_GRAPH_COST = 24
# ... and the pool has at most this many rows (beyond, every fit searches its own probe).
POOL_GRAPH_MAX_ROWS = 40_000
# A search of a few rows is padded to this many, so its GEMM runs the kernel of the pool's search.
MIN_SEARCH_ROWS = 64


def blocks(n: int, size: int = BLOCK_ROWS) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def squared_distances(x: torch.Tensor, sq_x: torch.Tensor, y: torch.Tensor, sq_y: torch.Tensor) -> torch.Tensor:
    """|x_i - y_j|^2 by one GEMM, clipped at 0: (n_x, d), (n_y, d) -> (n_x, n_y)."""
    d2 = torch.addmm(sq_y[None, :], x, y.T, alpha=-2.0)  # (n_x, n_y)
    return d2.add_(sq_x[:, None]).clamp_(min=0.0)


def nearest_neighbours(points: torch.Tensor, k: int, n_queries: int | None = None,
                       block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """Indices of the k nearest other rows of ``points`` for each of its first ``n_queries`` rows
    (default: all): (N, d) -> (n_queries, k), nearest first.

    A row is never its own neighbour (its distance is set to +inf, so duplicates of it still count).
    Memory is O(block_rows * N).
    """
    n_queries = points.shape[0] if n_queries is None else n_queries
    sq = (points.double() ** 2).sum(1).to(points.dtype)  # (N,)
    out = np.empty((n_queries, k), dtype=np.int64)
    for rows in blocks(n_queries, block_rows):
        d2 = squared_distances(points[rows], sq[rows], points, sq)  # (b, N)
        own = torch.arange(rows.start, rows.stop, device=d2.device)
        d2[own - rows.start, own] = float("inf")
        out[rows] = torch.topk(d2, k, dim=1, largest=False, sorted=True).indices.cpu().numpy()
    return out


class PoolNeighbours:
    """Nearest neighbours within subsets of one pool, read from one neighbour graph of the whole pool.

    Every fit of a calibration searches the neighbours of its data rows among its own rows
    [data; probe], a subset of the same pool: only the roles change. The pool's ``candidates``
    nearest rows of every row, searched once, hold a subset's k nearest for all but a rare row, which
    is searched against the pool directly. The distances are the same GEMM entries as a per-fit
    search, so the neighbours are too, up to the order of rows at exactly equal distances. The rule
    depends on the sizes only, so the observed fit and every toy apply the same one: the pool graph
    when it costs at most ``POOL_GRAPH_COST`` per-fit searches (one calibration runs ~100) and the
    pool has at most ``POOL_GRAPH_MAX_ROWS`` rows (memory O(BLOCK_ROWS * N) while searching,
    O(N * candidates) kept); otherwise every fit searches its own rows.
    """

    def __init__(self, points: torch.Tensor, n_data: int):
        n = points.shape[0]
        self.points = points  # (N, d) working space
        subset = min(n, (1 + INIT_REFERENCE_PROBE) * n_data)  # rows of one fit's search
        self.use_graph = n <= POOL_GRAPH_MAX_ROWS and n * n <= POOL_GRAPH_COST * n_data * subset
        # enough candidates that a subset holding this fraction of the pool has k among them
        self.candidates = min(n - 1, INIT_NEIGHBOURS * (1 + -(-3 * n // subset)))
        self._graph: np.ndarray | None = None  # (N, candidates); a block's rows are filled when first asked for
        self._searched: np.ndarray | None = None  # (number of blocks,) which blocks are filled
        self._sq: torch.Tensor | None = None

    def _search(self, rows: np.ndarray, k: int) -> np.ndarray:
        """The k nearest other pool rows of pool rows ``rows``, nearest first: (len(rows), k)."""
        index = torch.as_tensor(rows, device=self.points.device)
        d2 = squared_distances(self.points[index], self._sq[index], self.points, self._sq)  # (b, N)
        d2[torch.arange(rows.size, device=d2.device), index] = float("inf")
        return torch.topk(d2, k, dim=1, largest=False, sorted=True).indices.cpu().numpy()

    def graph_rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), candidates) nearest other pool rows of pool rows ``rows``, nearest first.

        The graph is searched in the fixed blocks of ``blocks(N)``, each on first use, so a row's
        neighbours do not depend on which fit asked first, and one fit without toys searches only
        the blocks holding its own data rows.
        """
        n = self.points.shape[0]
        if self._graph is None:
            self._sq = (self.points.double() ** 2).sum(1).to(self.points.dtype)  # (N,)
            self._graph = np.empty((n, self.candidates), dtype=np.int64)
            self._searched = np.zeros(len(blocks(n)), dtype=bool)
        for index in np.unique(np.asarray(rows) // BLOCK_ROWS):
            if not self._searched[index]:
                block = blocks(n)[index]
                self._graph[block] = self._search(np.arange(block.start, block.stop), self.candidates)
                self._searched[index] = True
        return self._graph[rows]

    def __getstate__(self) -> dict:
        """Pickled (for Ray's workers) with every block searched, so workers only read the graph
        (they receive it read-only) instead of each searching the blocks the observed fit left."""
        if self.use_graph:
            self.graph_rows(np.arange(self.points.shape[0]))
        return self.__dict__.copy()

    def subset_neighbours(self, rows: np.ndarray, k: int, n_queries: int) -> np.ndarray:
        """``nearest_neighbours(points[rows], k, n_queries)`` from the pool graph: (n_queries, k) positions into rows."""
        position = np.full(self.points.shape[0], -1)
        position[rows] = np.arange(rows.size)
        found = position[self.graph_rows(rows[:n_queries])]  # (n_queries, candidates), -1 outside the subset
        inside = found >= 0
        keep = inside & (np.cumsum(inside, axis=1) <= k)
        short = keep.sum(1) < k
        out = np.empty((n_queries, k), dtype=np.int64)
        out[~short] = found[keep & ~short[:, None]].reshape(-1, k)
        if short.any():  # the rare row with fewer than k subset rows among its candidates: search the pool
            queries = rows[:n_queries][short]
            padded = np.concatenate([queries, rows[: max(0, MIN_SEARCH_ROWS - queries.size)]])  # GEMM on full panels
            pool_order = self._search(padded, self.points.shape[0] - 1)[: queries.size]
            inside_all = position[pool_order]
            out[short] = np.stack([row[row >= 0][:k] for row in inside_all])
        return out


def excess_scores(points: torch.Tensor, a: np.ndarray, b: np.ndarray, ref_rows: np.ndarray, data_rows: np.ndarray,
                  rng: np.random.Generator, pool: PoolNeighbours | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(score (N_D,), neighbour graph (N_D, k) in [data; probe] positions) of the fit's data rows.

    points: (N, d) working-space pool; a, b: (N,) the fit's reference and data loss weights;
    pool: the pool's ``PoolNeighbours`` (the same neighbours, searched once for every fit), or None.
    """
    n_data = data_rows.size
    n_probe = min(ref_rows.size, INIT_REFERENCE_PROBE * n_data)
    probe = ref_rows if n_probe == ref_rows.size else rng.choice(ref_rows, n_probe, replace=False)
    rows = np.concatenate([data_rows, probe])
    k = min(INIT_NEIGHBOURS, rows.size - 1)
    if pool is not None and pool.use_graph:
        graph = pool.subset_neighbours(rows, k, n_data)
    else:
        graph = nearest_neighbours(points[torch.as_tensor(rows, device=points.device)], k, n_queries=n_data)
    ref_total, probe_total = float(a[ref_rows].sum()), float(a[probe].sum())
    value = np.concatenate([b[data_rows], -a[probe] * (ref_total / probe_total if probe_total > 0 else 0.0)])
    return value[graph].sum(1), graph


def excess_starts(points: torch.Tensor, a: np.ndarray, b: np.ndarray, ref_rows: np.ndarray, data_rows: np.ndarray,
                  n_kernels: int, rng: np.random.Generator, radii, pool: PoolNeighbours | None = None) -> np.ndarray:
    """Pool rows of the initial centres, one set per radius: array of shape (len(radii), n_kernels).

    The data rows of largest local excess, spread out: greedy by decreasing score (ties broken at
    random with ``rng``, drawn once and shared by every radius); a row that is among the neighbours
    of a row already taken, or a neighbour of those, or within the radius of it (working space), is
    skipped while other rows remain. The scores and the order are computed once for all radii.
    """
    score, graph = excess_scores(points, a, b, ref_rows, data_rows, rng, pool)
    n_data = data_rows.size
    order = np.lexsort((rng.random(n_data), -score))  # last key first: score descending, then random
    x = points[torch.as_tensor(data_rows, device=points.device)]  # (N_D, d)
    distances = _DistancesFrom(x)
    return np.stack([data_rows[_spread(order, graph, distances, n_kernels, radius)] for radius in radii])


class _DistancesFrom:
    """Squared distances from a data row to every data row, computed once and shared by every radius."""

    def __init__(self, x: torch.Tensor):
        self.x = x  # (N_D, d)
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.x.shape[0]

    def __call__(self, i: int) -> torch.Tensor:
        if i not in self._cache:
            self._cache[i] = ((self.x - self.x[i]) ** 2).sum(1)  # (N_D,)
        return self._cache[i]


def _spread(order: np.ndarray, graph: np.ndarray, distances: _DistancesFrom, n_kernels: int, radius: float) -> np.ndarray:
    """Positions (into the data rows) taken greedily along ``order``, skipping blocked rows."""
    n_data = len(distances)
    blocked = np.zeros(n_data, dtype=bool)
    taken: list[int] = []
    for i in order:
        if blocked[i]:
            continue
        taken.append(int(i))
        if len(taken) == n_kernels:
            break
        near = graph[i]
        near = near[near < n_data]  # its data neighbours, and theirs: one kernel per compact group
        second = graph[near].ravel()
        blocked[near] = True
        blocked[second[second < n_data]] = True
        blocked[(distances(int(i)) <= radius**2).cpu().numpy()] = True
    if len(taken) < n_kernels:  # everything left is a neighbour of a taken row: fill by score
        chosen = set(taken)
        taken += [int(i) for i in order if int(i) not in chosen][: n_kernels - len(taken)]
    return np.asarray(taken)


def initial_rows(points: torch.Tensor, a: np.ndarray, b: np.ndarray, ref_rows: np.ndarray, data_rows: np.ndarray,
                 n_kernels: int, init: str, rng: np.random.Generator, sigma_finals=(0.0,),
                 pool: PoolNeighbours | None = None) -> np.ndarray:
    """Pool rows of a fit's initial centres, one set per final width: array of shape
    (len(sigma_finals), n_kernels). ``"excess"``: ``excess_starts``, spread by ``INIT_RADIUS``
    times each sigma_final; ``"random"``: the same distinct data rows for every width. ``pool``: the
    pool's ``PoolNeighbours``, shared by the fits of one problem (the same rows, found faster)."""
    if init == "random":
        return np.tile(rng.choice(data_rows, n_kernels, replace=False), (len(sigma_finals), 1))
    for sigma_final in sigma_finals:
        if not sigma_final > 0:
            raise ValueError(f"init='excess' spreads the starts by sigma_final, which must be positive; got {sigma_final!r}.")
    return excess_starts(points, a, b, ref_rows, data_rows, n_kernels, rng, [INIT_RADIUS * s for s in sigma_finals], pool)
