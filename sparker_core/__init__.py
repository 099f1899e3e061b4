"""SparKer: sparse, self-organising ensembles of local Gaussian kernels that detect and locate
rare statistical anomalies between a reference sample and a data sample.

Imports torch, numpy, scipy and pandas; pyarrow and h5py read files, tqdm draws the command line's
progress, scikit-learn is imported by the classifier baseline alone, when it runs. No user-interface
imports.
"""

from .baselines import classifier_two_sample_test, fixed_centers_np_test, knn_two_sample_test, mmd_permutation_test
from .bundle import ResultBundle, load_bundle, save_bundle
from .calibration import calibrate_iter
from .calibration import MultiScaleResult, TailFit, TestResult, clopper_pearson, empirical_pvalue, toys_needed
from .config import PARAMS, Param, SparKerConfig, default_params, sigma_schedule
from .exceptions import NotFittedError
from .executors import LocalExecutor, RayExecutor
from .honesty import MapHonesty, RadialProfiles, map_honesty, pca_layout, radial_profiles, region_preservation, working_scale
from .loaders import (
    MAX_EXPANDED_BYTES,
    MAX_FILE_BYTES,
    SUPPORTED_EXTENSIONS,
    EmbeddingPair,
    EmbeddingTable,
    load_embeddings,
    load_pair,
)
from .estimator import PreparedProblem, SparKer
from .problem import Problem, build_problem
from .report import build_report
from .model import KernelEnsemble
from .samples import SAMPLES, TEACHING_SAMPLES, sample_inputs
from .sensitivity import LEVELS as SENSITIVITY_LEVELS, METHODS as SENSITIVITY_METHODS
from .sensitivity import SensitivityCurve, SensitivityPlan, estimate_cost, plan_sensitivity, sensitivity, sensitivity_iter, split_kind
from .training import BatchSnapshot, FitState, Snapshot, StopTraining, train_iter
from .verify import load_bundle_inputs, verify_bundle

__version__ = "0.1.0"

__all__ = [
    "classifier_two_sample_test",
    "fixed_centers_np_test",
    "knn_two_sample_test",
    "mmd_permutation_test",
    "ResultBundle",
    "load_bundle",
    "load_bundle_inputs",
    "save_bundle",
    "verify_bundle",
    "BatchSnapshot",
    "MultiScaleResult",
    "calibrate_iter",
    "TailFit",
    "TestResult",
    "clopper_pearson",
    "empirical_pvalue",
    "toys_needed",
    "KernelEnsemble",
    "EmbeddingPair",
    "EmbeddingTable",
    "MAX_EXPANDED_BYTES",
    "MAX_FILE_BYTES",
    "SUPPORTED_EXTENSIONS",
    "load_embeddings",
    "load_pair",
    "NotFittedError",
    "LocalExecutor",
    "RayExecutor",
    "MapHonesty",
    "RadialProfiles",
    "map_honesty",
    "pca_layout",
    "radial_profiles",
    "region_preservation",
    "working_scale",
    "build_report",
    "SENSITIVITY_LEVELS",
    "SENSITIVITY_METHODS",
    "SensitivityCurve",
    "SensitivityPlan",
    "estimate_cost",
    "plan_sensitivity",
    "sensitivity",
    "sensitivity_iter",
    "split_kind",
    "PARAMS",
    "Param",
    "default_params",
    "FitState",
    "Problem",
    "build_problem",
    "PreparedProblem",
    "SAMPLES",
    "TEACHING_SAMPLES",
    "sample_inputs",
    "Snapshot",
    "SparKer",
    "SparKerConfig",
    "StopTraining",
    "sigma_schedule",
    "train_iter",
    "__version__",
]
