"""The scikit-learn-style facade: ``SparKer(...).fit(reference, data)``.

It stores the parameters and delegates: ``problem.build_problem`` validates and prepares the
inputs, ``training.fit_problem`` trains the observed fit, ``calibration.calibrate_iter`` runs the
toys on the same ``Problem`` and ``FitState``, ``explain.explain_kernels`` describes the kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from ._validation import check_int, check_positive
from .calibration import MultiScaleResult, calibrate_iter
from .config import PARAMS
from .exceptions import NotFittedError
from .explain import MEMBER_RADIUS, explain_kernels
from .kernels import augment, evaluate
from .problem import Problem, build_problem, resolve_device  # noqa: F401  (resolve_device: importable from here)
from .training import FitState, Snapshot, StopTraining, fit_problem, fitted_attributes, snapshot_kernels

PreparedProblem = Problem  # the same class under the name sparker_core.__all__ also lists


class SparKer:
    """Sparse, self-organising ensemble of local Gaussian kernels for two-sample anomaly detection.

    Fits f(x) = sum_i a_i k_i(x) s_i(x) to the log density ratio of ``data`` over ``reference`` by
    minimising the Neyman-Pearson loss, with the kernel width annealed from ``sigma_init`` to
    ``sigma_final``; the test statistic is t = -2 L after the last epoch. The parameters and their
    meaning are listed once, in ``config.PARAMS``; they are stored as given and validated in ``fit``.
    Several final widths (a list, or ``"auto"``) are trained together, calibrated on the same toys
    and combined by their smallest p-value, with the fixed-centre companion test (``fixed_kernels``) when
    it runs; the fitted attributes describe the shown scale (``show_scale``). ``problem_`` (a ``Problem``)
    and ``fit_state_`` (a ``FitState``) hold the prepared inputs and the fit of every scale.
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
        fixed_kernels=200,
        seed=0,
        device="cpu",
        dtype="float32",
    ):
        given = locals()
        for param in PARAMS:
            setattr(self, param.name, given[param.name])

    def get_params(self) -> dict:
        return {param.name: getattr(self, param.name) for param in PARAMS}

    def __repr__(self) -> str:
        return "SparKer(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def prepare(self, reference, data, reference_weight=None, data_weight=None) -> Problem:
        """Validate parameters and inputs and move them to working space (the one validation edge)."""
        return build_problem(reference, data, self.get_params(), reference_weight, data_weight)

    def fit_iter(self, reference, data, every: int = 10, reference_weight=None, data_weight=None) -> Iterator[Snapshot]:
        """Fit, yielding a ``Snapshot`` of the shown (middle) scale at epoch 0, every ``every`` epochs and
        after the last epoch. reference: array of shape (n_reference, n_features); data: (n_data,
        n_features). Stopping early leaves a usable model at the last snapshot, ``stopped_early_ = True``.
        """
        check_int("every", every, 1)
        problem = self.prepare(reference, data, reference_weight, data_weight)
        for state in fit_problem(problem, every):  # the previous fit stays intact until the new one has a snapshot
            self.problem_, self.fit_state_ = problem, state
            self.show_scale(problem.n_scales // 2)
            yield self.history_[-1]

    def show_scale(self, scale: int) -> SparKer:
        """Make scale ``scale`` (an index into ``sigma_finals_``) the one the fitted attributes, ``score_samples``
        and ``explain`` describe. ``fit`` shows the middle scale; a completed ``calibrate`` of a multi-scale
        fit shows the scale with the smallest p-value, the one that detected."""
        fit: FitState = self._check_fitted("show_scale", "fit_state_")
        check_int("scale", scale, 0)
        if scale >= len(fit.histories):
            raise ValueError(f"`scale` must be below the number of scales, {len(fit.histories)}; got {scale}.")
        vars(self).update(fitted_attributes(self.problem_, fit, scale))
        return self

    def fit(self, reference, data, reference_weight=None, data_weight=None,
            callbacks: Iterable[Callable[[Snapshot], None]] = (), snapshot_every: int = 10) -> SparKer:
        """Fit on reference (n_reference, n_features) and data (n_data, n_features); returns self.
        Each callback receives every snapshot; raising ``StopTraining`` stops the fit there."""
        callbacks = list(callbacks)
        iterator = self.fit_iter(reference, data, snapshot_every, reference_weight, data_weight)
        try:
            for snap in iterator:
                for callback in callbacks:
                    callback(snap)
        except StopTraining:
            iterator.close()
        return self

    def calibrate_iter(self, n_toys=100, method="permutation", batch=32, seed=0, poisson=False, configs=None, combine="minp",
                       executor="local"):
        """Run null toys ``batch`` at a time, yielding the result so far after each batch (``calibrate``
        documents the arguments). Stopping early keeps the toys finished so far: ``result_`` holds their
        honest p-value (``result_.complete`` is False). Memory is O(batch * n_points * n_kernels)."""
        problem, fit = getattr(self, "problem_", None), getattr(self, "fit_state_", None)
        scale = getattr(self, "scale_", 0)
        for result in calibrate_iter(problem, fit, n_toys, method, batch, seed, poisson, configs, combine, scale, executor):
            self.result_, self.pvalue_ = result, result.pvalue  # the combined p-value of a multi-scale result
            yield result
        if configs is None and isinstance(result, MultiScaleResult) and result.complete:
            self.show_scale(result.scale)  # the scale that detected

    def calibrate(self, n_toys=100, method="permutation", batch=32, seed=0, poisson=False, configs=None, combine="minp",
                  executor="local"):
        """Calibrated significance: a ``MultiScaleResult`` (several widths, or the companion test), else a ``TestResult``.

        n_toys: pseudo-experiments; method: "permutation" (default) or "reference"; batch: toys
        trained together (memory is O(batch * n_points * n_kernels); results do not depend on it);
        seed: randomness of the toys; poisson: fluctuate the pseudo-data size (reference method);
        configs: list of dicts overriding the shown scale's ``sigma_final`` (a number, 'auto' or
        'pNN') and/or ``n_kernels``, calibrated on the same toys and combined by ``combine`` ("minp"
        or "fisher"); executor: "local", "ray" (blocks of ``batch`` toys as Ray tasks) or an executor
        (``sparker_core.executors``), the same null wherever. ``sparker_core.calibration`` has the nulls.
        """
        result = None
        for result in self.calibrate_iter(n_toys, method, batch, seed, poisson, configs, combine, executor):
            pass
        return result

    def _check_fitted(self, what: str, attribute: str = "t_obs_"):
        if not hasattr(self, attribute):
            raise NotFittedError(f"This SparKer instance is not fitted yet; call `fit` before `{what}`.")
        return getattr(self, attribute)

    def score_samples(self, X, snapshot: Snapshot | None = None) -> np.ndarray:
        """f(x) of the fitted model: X array of shape (n_samples, n_features) -> (n_samples,). With
        ``snapshot`` (one of ``history_``, or any ``Snapshot`` of this fit), f of the kernels at that epoch."""
        self._check_fitted("score_samples")
        problem = self.problem_
        if snapshot is None:
            centers, amplitudes, sigma = self.fit_state_.kernels(problem, self.scale_)
        elif not isinstance(snapshot, Snapshot):
            raise TypeError(f"`snapshot` must be a Snapshot; got {type(snapshot).__name__}.")
        elif snapshot.centers.shape != self.centers_.shape:
            raise ValueError(f"`snapshot` must hold {self.centers_.shape[0]} kernels of {self.centers_.shape[1]} features; "
                             f"got centers of shape {snapshot.centers.shape}.")
        else:
            centers, amplitudes, sigma = snapshot_kernels(problem, snapshot)
        f = evaluate(augment(problem.to_working(X)), centers[None], amplitudes[None], sigma.reshape(1),
                     problem.config.temperature, problem.config.competition)
        return f[:, 0].double().cpu().numpy()

    def explain(self, n_exemplars: int = 5, member_radius: float = MEMBER_RADIUS) -> pd.DataFrame:
        """One row per kernel of the shown scale, ranked and described by ``explain.explain_kernels``
        (active excesses, then deficits, each by its local Z, then inactive kernels by ``delta_t``). Members of a kernel
        lie within ``member_radius`` sigmas of it, their nearest centre (default: the half-height radius).
        Columns: kernel, kind, active, amplitude, sigma, center, n_data, n_reference, expected, excess,
        significance, delta_t, exemplars_nearest, exemplars_top_score, members_data, members_reference."""
        self._check_fitted("explain")
        check_int("n_exemplars", n_exemplars, 0)
        check_positive("member_radius", member_radius)
        return explain_kernels(self.problem_, self.fit_state_, self.scale_, n_exemplars, float(member_radius))
