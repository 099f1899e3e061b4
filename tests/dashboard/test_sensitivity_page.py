"""The Sensitivity page through AppTest: the kind from a metadata value, the cost before Start, the
curve filling as fits finish (SparKer and MMD with intervals), Stop, and bad counts."""

from __future__ import annotations

import json
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
TIMEOUT = 180
QUICK = {"n_kernels": 4, "sparsity": 0.0, "temperature": 1.0, "sigma_init": "auto", "sigma_final": "auto",
         "schedule": "geometric", "max_epochs": 20, "learning_rate": 0.1, "init": "excess", "seed": 0}


def sensitivity_page() -> AppTest:
    """The app on the bump sample (2-d), quick SparKer settings, on the Sensitivity page with small choices."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.selectbox(key="sample_name").set_value("bump")
    at.button(key="load_sample").click().run()
    at.session_state["params"] = dict(QUICK)
    at.switch_page("views/sensitivity.py").run()
    at.text_input(key="sens_counts").set_value("0,40")
    at.number_input(key="sens_experiments").set_value(2)
    at.number_input(key="sens_n_data").set_value(200)
    at.run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    return at


def rerun_until(at: AppTest, done) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not done(at):
        at.run()
    assert done(at), "the page did not get there in time"


def test_the_kind_the_cost_and_the_curve_filling_to_the_end():
    at = sensitivity_page()
    text = " ".join(m.value for m in at.markdown)
    assert "is_anomaly = True" in text and "**Cost:**" in text and "43 fits per method" in text  # 39 null + 2 x 2
    at.button(key="sens_start").click().run()
    rerun_until(at, lambda a: any("shared null" in i.value for i in a.info) or a.get("plotly_chart"))
    rerun_until(at, lambda a: len(a.get("plotly_chart")) > 0)
    first = at.session_state["sens_job"]["curve"]
    assert first.null_done == first.n_null and not first.complete  # the curve shows as soon as a test is done
    rerun_until(at, lambda a: not a.session_state["sens_job"]["running"])
    curve = at.session_state["sens_job"]["curve"]
    assert curve.complete and not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    traces = {t["name"]: t for t in spec["data"]}
    assert set(traces) == {"SparKer", "MMD (median bandwidth)"}
    assert all(t["error_y"]["type"] == "data" for t in traces.values())
    table = at.dataframe[0].value
    assert len(table) == 4 and set(table["n_done"]) == {2}
    assert table["low"].le(table["power"]).all() and table["power"].le(table["high"]).all()
    assert any("power at k" in m.value or "power not reached" in m.value for m in at.markdown)
    assert at.button(key="sens_stop").disabled and not at.button(key="sens_start").disabled


def test_stop_ends_the_run_and_keeps_the_curve_so_far():
    at = sensitivity_page()
    at.button(key="sens_start").click().run()
    at.run()
    assert at.session_state["sens_job"]["running"]
    at.button(key="sens_stop").click().run()
    job = at.session_state["sens_job"]
    done = job["curve"].null_done
    assert not job["running"] and done < job["curve"].n_null
    at.run()
    assert at.session_state["sens_job"]["curve"].null_done == done  # no fit after Stop
    assert not at.button(key="sens_start").disabled


def test_bad_counts_get_one_error():
    at = sensitivity_page()
    at.text_input(key="sens_counts").set_value("5,x").run()
    assert [e.value for e in at.error] == ["`counts` must be comma-separated integers; got '5,x'."]
    at.text_input(key="sens_counts").set_value("0,5000").run()
    assert len(at.error) == 1 and "`counts` must be at most" in at.error[0].value
