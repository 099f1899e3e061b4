"""The core's structure: one parameter list, one message shape, one Problem and one role rule."""

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from synthetic import gaussian

import sparker_core
from sparker_core import PARAMS, NotFittedError, SparKer, default_params
from sparker_core import calibration, data, exceptions
from sparker_core._validation import check_count, check_int, check_param, check_positive
from sparker_core.baselines import fixed_centers
from sparker_core.calibration import calibrate_iter
from sparker_core.config import Param
from sparker_core.roles import null_design, observed_roles, toy_roles

CORE = Path(sparker_core.__file__).parent
SHAPE = r"^`(\w+)` must be .+; got .+\.$"
BAD = {"int": -1, "float": -1.0, "bool": "yes", "choice": "nope", "width": -1}


def test_params_follow_the_signature_order_and_defaults():
    signature = inspect.signature(SparKer.__init__).parameters
    names = [name for name in signature if name != "self"]
    assert names == [param.name for param in PARAMS]
    assert {name: signature[name].default for name in names} == default_params()
    assert list(SparKer().get_params()) == names
    assert SparKer(n_kernels=3).get_params()["n_kernels"] == 3


def test_every_param_record_is_usable_for_a_control():
    for param in PARAMS:
        assert isinstance(param, Param) and param.help and "\n" not in param.help
        assert param.kind in ("int", "float", "bool", "choice", "width", "text")
        if param.kind == "choice":
            assert param.default in param.choices
        check_param(param, param.default)  # every default passes its own check


@pytest.mark.parametrize("param", PARAMS, ids=[p.name for p in PARAMS])
def test_every_parameter_is_refused_with_one_message_shape(param):
    reference, data_ = gaussian(0, n_ref=60, n_data=30, d=3)
    with pytest.raises(ValueError) as info:
        SparKer(**{param.name: BAD[param.kind]}).fit(reference, data_)
    message = str(info.value)
    assert re.match(SHAPE, message) and re.match(SHAPE, message).group(1) == param.name, message


@pytest.mark.parametrize("check,args", [
    (check_int, ("n_toys", 0, 1)),
    (check_count, ("n_permutations", 0)),
    (check_positive, ("l2", 0)),
    (check_positive, ("sigma", "wide", True)),
])
def test_the_other_checks_share_the_shape(check, args):
    with pytest.raises(ValueError, match=SHAPE):
        check(*args)


def test_not_fitted_error_has_one_home():
    assert sparker_core.NotFittedError is exceptions.NotFittedError is data.NotFittedError is NotFittedError


def test_the_fixed_centre_baseline_uses_the_problem_and_roles_of_the_calibration():
    reference, data_ = gaussian(1, n_ref=80, n_data=40, d=3, bump=5)
    setup = fixed_centers._prepare(reference, data_, 6, "auto", 4, "float32")
    problem = SparKer(n_kernels=6, init="random", seed=4).prepare(reference, data_)
    np.testing.assert_array_equal(setup.problem.pool_aug.numpy(), problem.pool_aug.numpy())
    design = null_design(problem, "permutation", 4)
    pairs = [(observed_roles(setup.problem, 6, design=setup.design), observed_roles(problem, 6, design=design))]
    pairs += [(toy_roles(setup.problem, setup.design, i, 6), toy_roles(problem, design, i, 6)) for i in range(3)]
    for got, want in pairs:
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_calibrate_iter_takes_plain_data_and_matches_the_estimator():
    reference, data_ = gaussian(2, n_ref=120, n_data=50, d=3, bump=8)
    model = SparKer(n_kernels=3, sigma_final=1.0, max_epochs=15, seed=1).fit(reference, data_)
    *_, plain = calibrate_iter(model.problem_, model.fit_state_, n_toys=4, batch=2, seed=3)
    facade = model.calibrate(n_toys=4, batch=2, seed=3)
    np.testing.assert_array_equal(plain.null_distribution, facade.null_distribution)
    assert plain.t_obs == facade.t_obs and plain.pvalue == facade.pvalue


def test_the_calibration_reads_no_private_attribute_of_the_model():
    source = inspect.getsource(calibration)
    assert not re.search(r"model\._", source)


def test_the_facade_stays_thin_and_the_modules_short():
    lines = (CORE / "estimator.py").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("class SparKer"))
    assert len(lines) - start <= 150
    for name in ("estimator", "calibration", "config", "problem", "roles", "training", "explain", "significance",
                 "_validation", "data", "loss", "baselines/fixed_centers", "baselines/_common"):
        assert len((CORE / f"{name}.py").read_text().splitlines()) <= 400, name
