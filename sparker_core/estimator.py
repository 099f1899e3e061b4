"""The scikit-learn-style facade: ``SparKer(...).fit(reference, data)``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from .config import (
    COMPETITIONS,
    DEVICES,
    DTYPES,
    INITS,
    PREPROCESSINGS,
    SCHEDULES,
    SparKerConfig,
    AUTO_SIGMA_INIT_PERCENTILE,
    auto_ladder,
    distance_percentiles,
    check_choice,
    check_int,
    check_positive,
    sigma_schedule,
)
from .calibration import MultiScaleResult, calibrate_iter
from .data import NotFittedError, check_points, check_same_width, check_weights, column_stats
from .explain import MEMBER_RADIUS, explain_kernels
from .kernels import augment, augment_pool, evaluate
from .loss import role_weights
from .neighbours import initial_rows
from .training import StopTraining, train_iter


@dataclass(frozen=True)
class Snapshot:
    """One fit after ``epoch`` optimiser steps; centres in input space."""

    epoch: int  # optimiser steps taken so far
    sigma: float  # kernel width at this epoch (working-space units)
    loss: float  # Neyman-Pearson loss L (without the sparsity penalty)
    t: float  # test statistic -2 L
    centers: np.ndarray  # (n_kernels, n_features)
    amplitudes: np.ndarray  # (n_kernels,)


@dataclass(frozen=True)
class PreparedProblem:
    """Inputs of a fit moved to working space and to the device; shared by fits and toys."""

    configs: tuple[SparKerConfig, ...]  # one per final width ("scale"); they differ in sigma_final only
    device: torch.device
    dtype: torch.dtype
    mean: np.ndarray  # (d,) reference mean subtracted from every point
    scale: np.ndarray  # (d,) divisor after centring (ones unless preprocessing="standardize")
    pool_aug: torch.Tensor  # (N_R + N_D, d_pad): reference rows then data rows, augmented (kernels.augment)
    n_reference: int  # N_R
    reference_weight: np.ndarray | None  # (N_R,) user weights or None
    data_weight: np.ndarray | None  # (N_D,) user weights or None
    sigmas: np.ndarray  # (max_epochs + 1, n_scales) width schedule of each scale

    @property
    def config(self) -> SparKerConfig:
        """The settings every scale shares (its sigma_final is that of scale 0)."""
        return self.configs[0]

    @property
    def n_scales(self) -> int:
        return len(self.configs)

    @property
    def n_features(self) -> int:
        return self.mean.shape[0]

    @property
    def reference(self) -> torch.Tensor:
        """(N_R, d) working-space view into the pool."""
        return self.pool_aug[: self.n_reference, : self.n_features]

    @property
    def data(self) -> torch.Tensor:
        """(N_D, d) working-space view into the pool."""
        return self.pool_aug[self.n_reference :, : self.n_features]


def resolve_device(device: str) -> torch.device:
    check_choice("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("`device` is 'cuda' but CUDA is not available on this machine.")
    return torch.device(device)


def _is_single(sigma_final) -> bool:
    return isinstance(sigma_final, str) or not isinstance(sigma_final, (list, tuple, np.ndarray))


def _check_sigma_final(sigma_final) -> None:
    """A positive number, 'auto' (the ladder of AUTO_SIGMA_FINAL_FRACTIONS), or a list of those."""
    if _is_single(sigma_final):
        check_positive("sigma_final", sigma_final, allow_auto=True)
        return
    widths = list(sigma_final)
    if not widths:
        raise ValueError("`sigma_final` must be a positive number, 'auto' or a non-empty list of them; got an empty list.")
    for width in widths:
        if not _is_single(width):
            raise ValueError(f"`sigma_final` must be a positive number, 'auto' or a list of them; got a nested {width!r}.")
        check_positive("sigma_final", width, allow_auto=True)


def _check_representable(pool_aug: torch.Tensor, reference: np.ndarray, data: np.ndarray, mean, scale, dtype: str) -> None:
    """Refuse inputs whose squared norms overflow the working dtype (the one-GEMM distances need |x|^2)."""
    if bool(torch.isfinite(pool_aug).all()):
        return
    largest = max(float(np.max(np.abs((block - mean) / scale))) for block in (reference, data))
    raise ValueError(
        f"the inputs hold values up to {largest:.3g} (after centring), whose squared distances overflow {dtype}; "
        f"rescale them (e.g. divide by {largest:.3g}) or use dtype='float64'."
    )


def _check_widths(sigma_init: float, finals: list[float], median: float | None, dtype: str) -> None:
    """Refuse widths whose 1 / (2 sigma^2) overflows the working dtype (the kernels would be NaN)."""
    smallest = min([sigma_init, *finals])
    if smallest < np.sqrt(8.0 / float(np.finfo(dtype).max)):  # 1 / (2 sigma^2), with a margin of 16
        scale = f"; the median pairwise distance of the reference is {median:.3g}" if median is not None else ""
        raise ValueError(
            f"a kernel width of {smallest:.3g} is too small for {dtype} (1 / (2 sigma^2) overflows){scale}: "
            "rescale the inputs or use dtype='float64'."
        )


class SparKer:
    """Sparse, self-organising ensemble of local Gaussian kernels for two-sample anomaly detection.

    Fits f(x) = sum_i a_i k_i(x) s_i(x) to the log density ratio of ``data`` over ``reference`` by
    minimising the Neyman-Pearson loss, with the kernel width annealed from ``sigma_init`` to
    ``sigma_final``; the test statistic is t = -2 L after the last epoch.

    Parameters are stored as given and validated in ``fit``. ``sigma_init="auto"`` is the median
    pairwise distance of up to 1,000 reference rows (in working space). ``sigma_final`` is a number
    (one width), a list (several), or ``"auto"``: AUTO_SIGMA_FINAL_FRACTIONS (0.45, 0.6, 0.9) times
    that median. Several widths are trained together, calibrated on the same toys and combined by
    their smallest p-value (``calibrate``); the fitted attributes describe one of them, the shown
    scale (``show_scale``). Initial centres (``init``): ``"excess"`` puts them on the data rows where the
    data most outnumber the reference among their 10 nearest neighbours, skipping rows near a start
    already taken (``sparker_core.neighbours``; ties and the reference probe drawn with ``seed``); ``"random"`` on distinct data rows drawn with
    ``seed``. Amplitudes start at 0. A kernel is active when |a_i| >= ``active_threshold``.
    ``center_learning_rate`` is a fraction of the current sigma: centres move by about that much
    per epoch at most. Preprocessing is fitted on the reference only; points are always centred on
    the reference mean (this changes no distance but keeps the one-GEMM expansion accurate).
    """

    def __init__(
        self,
        n_kernels=8,
        sigma_init="auto",
        sigma_final="auto",
        schedule="geometric",
        anneal_fraction=0.7,
        sparsity=0.0,
        temperature=1.0,
        competition="softmax",
        amplitude_clip=10.0,
        positive_only=False,
        max_epochs=100,
        learning_rate=0.1,
        center_learning_rate=0.05,
        preprocessing="none",
        active_threshold=0.05,
        init="excess",
        seed=0,
        device="cpu",
        dtype="float32",
    ):
        self.n_kernels = n_kernels
        self.sigma_init = sigma_init
        self.sigma_final = sigma_final
        self.schedule = schedule
        self.anneal_fraction = anneal_fraction
        self.sparsity = sparsity
        self.temperature = temperature
        self.competition = competition
        self.amplitude_clip = amplitude_clip
        self.positive_only = positive_only
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.center_learning_rate = center_learning_rate
        self.preprocessing = preprocessing
        self.active_threshold = active_threshold
        self.init = init
        self.seed = seed
        self.device = device
        self.dtype = dtype

    # ----------------------------------------------------------------------------- parameters
    def get_params(self) -> dict:
        names = self.__init__.__code__.co_varnames[1 : self.__init__.__code__.co_argcount]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        return "SparKer(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def _check_params(self) -> None:
        check_int("n_kernels", self.n_kernels, 1)
        check_positive("sigma_init", self.sigma_init, allow_auto=True)
        _check_sigma_final(self.sigma_final)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_positive("anneal_fraction", self.anneal_fraction)
        if self.anneal_fraction > 1:
            raise ValueError(f"`anneal_fraction` must be in (0, 1]; got {self.anneal_fraction!r}.")
        check_positive("sparsity", self.sparsity, allow_zero=True)
        check_positive("temperature", self.temperature)
        check_choice("competition", self.competition, COMPETITIONS)
        check_positive("amplitude_clip", self.amplitude_clip)
        if not isinstance(self.positive_only, (bool, np.bool_)):
            raise ValueError(f"`positive_only` must be True or False; got {self.positive_only!r}.")
        check_int("max_epochs", self.max_epochs, 1)
        check_positive("learning_rate", self.learning_rate)
        check_positive("center_learning_rate", self.center_learning_rate, allow_zero=True)
        check_choice("preprocessing", self.preprocessing, PREPROCESSINGS)
        check_positive("active_threshold", self.active_threshold, allow_zero=True)
        check_choice("init", self.init, INITS)
        check_int("seed", self.seed, 0)
        check_choice("dtype", self.dtype, DTYPES)

    def prepare(self, reference, data, reference_weight=None, data_weight=None) -> PreparedProblem:
        """Validate parameters and inputs and move them to working space (the one validation edge)."""
        self._check_params()
        device = resolve_device(self.device)
        reference = check_points(reference, "reference")
        data = check_points(data, "data")
        check_same_width(data, reference)
        if self.n_kernels > data.shape[0]:
            raise ValueError(
                f"`n_kernels` must not exceed the number of data rows; got {self.n_kernels} > {data.shape[0]}."
            )
        reference_weight = check_weights(reference_weight, "reference_weight", reference.shape[0])
        data_weight = check_weights(data_weight, "data_weight", data.shape[0])

        mean, std = column_stats(reference)
        scale = np.where(std > 0, std, 1.0) if self.preprocessing == "standardize" else np.ones_like(std)
        dtype = getattr(torch, self.dtype)
        pool_aug = augment_pool([reference, data], mean, scale, dtype, device)
        _check_representable(pool_aug, reference, data, mean, scale, self.dtype)
        widths = [self.sigma_final] if _is_single(self.sigma_final) else list(self.sigma_final)
        median = None
        if self.sigma_init == "auto" or "auto" in widths:
            median = float(distance_percentiles(reference, self.seed, [AUTO_SIGMA_INIT_PERCENTILE], mean, scale)[0])
        sigma_init = median if self.sigma_init == "auto" else float(self.sigma_init)
        finals = [f for w in widths for f in (auto_ladder(median) if w == "auto" else (float(w),))]
        if self.schedule != "constant" and max(finals) > sigma_init:
            raise ValueError(
                f"`sigma_final` must not exceed `sigma_init` when annealing; got {max(finals):.6g} > {sigma_init:.6g}."
            )
        base = SparKerConfig(
            n_kernels=int(self.n_kernels),
            sigma_init=sigma_init,
            sigma_final=finals[0],
            schedule=self.schedule,
            anneal_fraction=float(self.anneal_fraction),
            sparsity=float(self.sparsity),
            temperature=float(self.temperature),
            competition=self.competition,
            amplitude_clip=float(self.amplitude_clip),
            positive_only=bool(self.positive_only),
            max_epochs=int(self.max_epochs),
            learning_rate=float(self.learning_rate),
            center_learning_rate=float(self.center_learning_rate),
            active_threshold=float(self.active_threshold),
            init=self.init,
        )
        _check_widths(sigma_init, finals, median, self.dtype)
        sigmas = [sigma_schedule(sigma_init, f, self.schedule, int(self.max_epochs), float(self.anneal_fraction)) for f in finals]
        return PreparedProblem(
            configs=tuple(replace(base, sigma_final=f) for f in finals),
            device=device,
            dtype=dtype,
            mean=mean,
            scale=scale,
            pool_aug=pool_aug,
            n_reference=reference.shape[0],
            reference_weight=reference_weight,
            data_weight=data_weight,
            sigmas=np.stack(sigmas, axis=1),
        )

    # ----------------------------------------------------------------------------- fitting
    def fit_iter(
        self, reference, data, every: int = 10, reference_weight=None, data_weight=None
    ) -> Iterator[Snapshot]:
        """Fit, yielding a ``Snapshot`` at epoch 0, every ``every`` epochs and after the last epoch.

        reference: array of shape (n_reference, n_features); data: (n_data, n_features). Stopping the
        iteration early leaves a usable model at the last snapshot with ``stopped_early_ = True``.
        Every final width is trained in the same batched program; the snapshots yielded are those of
        the shown (middle) scale, and ``scale_snapshots_`` holds the latest of every scale.
        """
        check_int("every", every, 1)
        problem = self.prepare(reference, data, reference_weight, data_weight)
        config, n_scales = problem.config, problem.n_scales
        n_ref, n_data = problem.n_reference, problem.data.shape[0]
        a, b = role_weights(n_ref, n_data, problem.reference_weight, problem.data_weight)
        columns = lambda w: torch.as_tensor(np.repeat(w[:, None], n_scales, 1), dtype=problem.dtype, device=problem.device)  # noqa: E731
        start = initial_rows(problem.pool_aug[:, : problem.n_features], a, b, np.arange(n_ref), n_ref + np.arange(n_data),
                             config.n_kernels, config.init, np.random.default_rng(self.seed),
                             [c.sigma_final for c in problem.configs]) - n_ref  # (K, M)
        sigmas = torch.as_tensor(problem.sigmas, dtype=problem.dtype, device=problem.device)  # (E + 1, K)
        shown = n_scales // 2
        for batch in train_iter(problem.pool_aug, columns(a), columns(b), problem.data[start], sigmas, config, every):
            if not np.isfinite(batch.t).all():  # never a p-value from an undefined statistic
                widths = ", ".join(f"{s:.3g}" for s, t in zip(batch.sigma, batch.t) if not np.isfinite(t))
                raise ValueError(
                    f"the statistic t is not finite at epoch {batch.epoch} (sigma {widths}): the training diverged; "
                    "rescale the inputs, lower `learning_rate` or `amplitude_clip`, or use dtype='float64'."
                )
            if batch.epoch == 0:  # the previous fit stays intact until the new one has a snapshot
                self._problem = problem
                self._weights = tuple(torch.as_tensor(w, dtype=problem.dtype, device=problem.device) for w in (a, b))
                self._histories = [[] for _ in range(n_scales)]
            for j in range(n_scales):
                self._histories[j].append(Snapshot(
                    epoch=batch.epoch,
                    sigma=float(batch.sigma[j]),
                    loss=float(batch.loss[j]),
                    t=float(batch.t[j]),
                    centers=batch.centers[j] * problem.scale + problem.mean,
                    amplitudes=batch.amplitudes[j].astype(np.float64),
                ))
            self._centers_scales = batch.centers
            self.t_scales_ = batch.t.astype(np.float64)
            self.scale_snapshots_ = tuple(history[-1] for history in self._histories)  # the last state of every scale
            self.sigma_finals_ = np.array([c.sigma_final for c in problem.configs])
            self.stopped_early_ = batch.epoch < config.max_epochs
            self.show_scale(shown)
            yield self.history_[-1]

    def show_scale(self, scale: int) -> SparKer:
        """Make scale ``scale`` (an index into ``sigma_finals_``) the one the fitted attributes describe.

        ``centers_``, ``amplitudes_``, ``sigma_``, ``sigma_final_``, ``t_obs_``, ``history_``,
        ``config_``, ``score_samples`` and ``explain`` follow the shown scale; ``t_scales_`` holds t
        of every scale. ``fit`` shows the middle scale; a completed ``calibrate`` of a multi-scale
        fit shows the scale with the smallest p-value, the one that detected.
        """
        if not hasattr(self, "_histories"):
            raise NotFittedError("This SparKer instance is not fitted yet; call `fit` before `show_scale`.")
        check_int("scale", scale, 0)
        if scale >= len(self._histories):
            raise ValueError(f"`scale` must be below the number of scales, {len(self._histories)}; got {scale}.")
        problem = self._problem
        self.scale_ = int(scale)
        self.history_ = self._histories[scale]
        snap = self.history_[-1]
        self._centers_work = self._centers_scales[scale]
        self.centers_ = snap.centers
        self.amplitudes_ = snap.amplitudes
        self.sigma_ = snap.sigma
        self.t_obs_ = snap.t
        self.loss_ = snap.loss
        self.n_epochs_ = snap.epoch
        self.active_ = np.abs(snap.amplitudes) >= problem.config.active_threshold
        self.sigma_init_ = problem.config.sigma_init
        self.sigma_final_ = problem.configs[scale].sigma_final
        self.n_features_in_ = problem.mean.shape[0]
        self.reference_mean_ = problem.mean  # working space is (x - reference_mean_) / reference_scale_
        self.reference_scale_ = problem.scale
        self.config_ = problem.configs[scale]  # resolved hyper-parameters of the shown scale (SparKerConfig)
        return self

    def fit(
        self,
        reference,
        data,
        reference_weight=None,
        data_weight=None,
        callbacks: Iterable[Callable[[Snapshot], None]] = (),
        snapshot_every: int = 10,
    ) -> SparKer:
        """Fit on reference (n_reference, n_features) and data (n_data, n_features); returns self.

        Each callback receives every snapshot; raising ``StopTraining`` stops the fit there.
        """
        callbacks = list(callbacks)
        iterator = self.fit_iter(reference, data, snapshot_every, reference_weight, data_weight)
        try:
            for snap in iterator:
                for callback in callbacks:
                    callback(snap)
        except StopTraining:
            iterator.close()
        return self

    # ----------------------------------------------------------------------------- significance
    def calibrate_iter(self, n_toys=100, method="permutation", batch=32, seed=0, poisson=False, configs=None, combine="minp"):
        """Run null toys ``batch`` at a time, yielding the result so far after each batch.

        Stopping the iteration keeps the toys finished so far: ``result_`` then holds their honest
        p-value (``result_.complete`` is False). A multi-scale fit (``sigma_final="auto"`` or a list)
        yields ``MultiScaleResult``s, and once every toy is done the model shows the scale with the
        smallest p-value (``show_scale``). See ``sparker_core.calibration`` for the null
        constructions. Memory is O(batch * n_points * n_kernels).
        """
        for result in calibrate_iter(self, n_toys, method, batch, seed, poisson, configs, combine):
            self.result_ = result
            self.pvalue_ = result.pvalue  # the combined p-value of a multi-scale result
            yield result
        if configs is None and isinstance(result, MultiScaleResult) and result.complete:
            self.show_scale(result.scale)  # the scale that detected

    def calibrate(self, n_toys=100, method="permutation", batch=32, seed=0, poisson=False, configs=None, combine="minp"):
        """Calibrated significance of the fit: a ``TestResult``, or a ``MultiScaleResult`` for several widths.

        n_toys: pseudo-experiments; method: "permutation" (default) or "reference"; batch: toys
        trained together (memory is O(batch * n_points * n_kernels); results do not depend on it);
        seed: randomness of the toys; poisson: fluctuate the pseudo-data size (reference method);
        configs: list of dicts overriding the shown scale's ``sigma_final`` (a number, 'auto' or
        'pNN') and/or ``n_kernels``, calibrated on the same toys and combined by ``combine`` ("minp"
        or "fisher"). Without ``configs`` a multi-scale fit calibrates its own widths (a
        ``MultiScaleResult``); a one-width fit gives a ``TestResult``.
        """
        result = None
        for result in self.calibrate_iter(n_toys, method, batch, seed, poisson, configs, combine):
            pass
        return result

    # ----------------------------------------------------------------------------- fitted use
    def _check_fitted(self, what: str) -> None:
        if not hasattr(self, "t_obs_"):
            raise NotFittedError(f"This SparKer instance is not fitted yet; call `fit` before `{what}`.")

    def _to_working(self, values) -> torch.Tensor:
        problem = self._problem
        points = check_points(values, "X", min_rows=1)
        if points.shape[1] != self.n_features_in_:
            raise ValueError(
                f"`X` must have the same number of features as the fitted data; got {points.shape[1]} and {self.n_features_in_}."
            )
        return torch.as_tensor((points - problem.mean) / problem.scale, dtype=problem.dtype, device=problem.device)

    def _fitted_tensors(self):
        problem = self._problem
        centers = torch.as_tensor(self._centers_work, dtype=problem.dtype, device=problem.device)
        amplitudes = torch.as_tensor(self.amplitudes_, dtype=problem.dtype, device=problem.device)
        sigma = torch.tensor(self.sigma_, dtype=problem.dtype, device=problem.device)
        return centers, amplitudes, sigma

    def score_samples(self, X, snapshot: Snapshot | None = None) -> np.ndarray:
        """f(x) of the fitted model: X array of shape (n_samples, n_features) -> (n_samples,).

        With ``snapshot`` (one of ``history_``, or any ``Snapshot`` of this fit), f is that of the
        kernels at that epoch: this is how training is replayed.
        """
        self._check_fitted("score_samples")
        if snapshot is None:
            centers, amplitudes, sigma = self._fitted_tensors()
        else:
            if not isinstance(snapshot, Snapshot):
                raise TypeError(f"`snapshot` must be a Snapshot; got {type(snapshot).__name__}.")
            if snapshot.centers.shape != self.centers_.shape:
                raise ValueError(
                    f"`snapshot` must hold {self.centers_.shape[0]} kernels of {self.centers_.shape[1]} features; "
                    f"got centers of shape {snapshot.centers.shape}."
                )
            problem = self._problem
            as_tensor = lambda v: torch.as_tensor(v, dtype=problem.dtype, device=problem.device)  # noqa: E731
            centers = as_tensor((snapshot.centers - problem.mean) / problem.scale)
            amplitudes, sigma = as_tensor(snapshot.amplitudes), torch.tensor(snapshot.sigma, dtype=problem.dtype)
        config = self._problem.config
        f = evaluate(augment(self._to_working(X)), centers[None], amplitudes[None], sigma.reshape(1),
                     config.temperature, config.competition)
        return f[:, 0].double().cpu().numpy()

    def explain(self, n_exemplars: int = 5, member_radius: float = MEMBER_RADIUS) -> pd.DataFrame:
        """One row per kernel of the shown scale: active excess kernels first, then active deficits,
        then inactive kernels, each by its contribution ``delta_t`` to t (``explain.rank_regions``).

        Members of a kernel are the points whose SoftMax argmax (nearest centre) is that kernel and
        that lie within ``member_radius`` sigmas of its centre (default sqrt(2 ln 2) = 1.18, the
        kernel's half-height radius: the kernel carries at least half its amplitude there).
        Columns: kernel, kind ("excess", "deficit" or "inactive"), active (|a| >= the threshold and
        at least one member point), amplitude, sigma, center, n_data (data members, summed weights),
        n_reference, expected (w_R * reference
        members), excess (n_data - expected), significance (signed local Z of the exact binomial
        test of the member split; pre-trial, optimistic), delta_t (t minus t with the kernel silenced, a_i = 0),
        exemplars_nearest and exemplars_top_score (data row indices: closest to the centre, and
        highest f, among the members), members_data and members_reference (row indices).
        """
        self._check_fitted("explain")
        check_int("n_exemplars", n_exemplars, 0)
        check_positive("member_radius", member_radius)
        centers, amplitudes, sigma = self._fitted_tensors()
        config = self._problem.config
        ref_w, data_w = self._weights
        return explain_kernels(
            self._problem.pool_aug,
            self._problem.n_reference,
            ref_w,
            data_w,
            centers,
            amplitudes,
            sigma,
            config.temperature,
            config.competition,
            config.active_threshold,
            self.t_obs_,
            self.centers_,
            n_exemplars,
            float(member_radius),
        )
