import numpy as np
import pytest

from sparker_core import SAMPLES, TEACHING_SAMPLES, load_pair, sample_inputs


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_bundled_sample_loads(name):
    pair = load_pair(**sample_inputs(name))
    assert pair.reference.shape[1] == pair.data.shape[1] == (2 if name in TEACHING_SAMPLES else pair.reference.shape[1])
    assert "is_anomaly" in pair.data_metadata.columns and "split" not in pair.data_metadata.columns
    assert not pair.reference_metadata["is_anomaly"].any()  # the reference holds no planted rows
    assert np.isfinite(pair.reference).all() and len(pair.data_metadata) == pair.data.shape[0]


def test_unknown_sample_is_named():
    with pytest.raises(ValueError, match="`sample` must be one of wiki, digits"):
        sample_inputs("mnist")
