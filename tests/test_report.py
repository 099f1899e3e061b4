"""`sparker report`: one self-contained HTML file per bundle, with every section and no external load."""

import re
import shlex

import numpy as np
import pytest

from sparker_core.bundle import load_bundle
from sparker_core.cli import build_parser, main
from sparker_core.report import build_report, cli_gaps, reproduce_command

from test_cli_bundle import run_on_inputs

FAST = ["--n-kernels", "3", "--epochs", "40", "--n-toys", "9", "--quiet"]
SECTIONS = ("question", "data", "result", "null", "regions", "map", "parameters", "reproduce")
EXTERNAL = re.compile(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def csv_bundle(tmp_path_factory):
    return run_on_inputs(tmp_path_factory.mktemp("report"), FAST)[2]


@pytest.fixture(scope="module")
def digits_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "bundle"
    assert main(["run", "--sample", "digits", "--out", str(out), *FAST]) == 0
    return out


def sections(text: str) -> dict:
    """Section id -> its HTML."""
    return dict(re.findall(r'<section id="(\w+)" data-section="\w+">(.*?)</section>', text, flags=re.S))


def test_report_has_every_section_and_loads_nothing(csv_bundle, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(csv_bundle), "--out", str(out)]) == 0
    assert f"report written to {out}" in capsys.readouterr().out
    text = out.read_text()
    assert EXTERNAL.search(text) is None and "<script" not in text and "@import" not in text
    parts = sections(text)
    assert tuple(parts) == SECTIONS
    bundle = load_bundle(csv_bundle)
    for path, digest in bundle.manifest["inputs"]["files"].items():
        assert digest in parts["data"]
    assert f"p = {bundle.result.pvalue:.3g}" in parts["result"]
    assert parts["null"].count('data-plot="null-histogram"') == 1 and 'class="t-obs"' in parts["null"]
    n_active = int(bundle.kernels["active"].sum())
    assert parts["regions"].count("class='card'") == n_active
    assert parts["regions"].count('data-plot="radial-profile"') == n_active
    assert "PCA of the points" in parts["map"] and "Map honesty:" in parts["map"]
    assert parts["map"].count('class="point"') == 1000  # every point of a small bundle is drawn
    assert "sparker run --reference" in parts["reproduce"]


def test_report_of_a_sample_uses_its_stored_layout_and_shows_images(digits_bundle, tmp_path):
    out = tmp_path / "digits.html"
    assert main(["report", str(digits_bundle), "--out", str(out)]) == 0
    parts = sections(out.read_text())
    assert "UMAP layout stored with the points" in parts["map"]
    assert 'class="image"' in parts["regions"]
    assert "sparker run --sample digits" in parts["reproduce"]


def test_the_default_file_lies_beside_the_bundle(csv_bundle, capsys):
    assert main(["report", str(csv_bundle)]) == 0
    assert (csv_bundle.parent / "bundle-report.html").is_file()


def test_without_the_inputs_the_full_space_sections_say_why(csv_bundle):
    parts = sections(build_report(load_bundle(csv_bundle)))
    assert tuple(parts) == SECTIONS
    assert "input files were not found" in parts["regions"] and 'data-plot="radial-profile"' not in parts["regions"]
    assert "no map is drawn" in parts["map"]
    assert 'data-plot="null-histogram"' in parts["null"]


def test_the_reproduce_command_parses_to_the_recorded_run(csv_bundle):
    manifest = load_bundle(csv_bundle).manifest
    args = build_parser().parse_args(shlex.split(reproduce_command(manifest))[1:])
    assert (args.n_kernels, args.epochs, args.n_toys, args.seed) == (3, 40, 9, manifest["seeds"]["fit"])
    assert args.reference == manifest["inputs"]["load"]["reference"]


def test_bad_output_names_are_refused(csv_bundle, tmp_path, capsys):
    assert main(["report", str(csv_bundle), "--out", str(tmp_path / "report.pdf")]) == 2
    assert "`--out` must name an .html file; got" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_the_honesty_shown_is_that_of_the_points_on_the_pca_map(csv_bundle):
    from sparker_core import load_bundle_inputs
    from sparker_core.honesty import map_honesty, pca_layout

    bundle = load_bundle(csv_bundle)
    pair = load_bundle_inputs(bundle)
    text = build_report(bundle, pair.reference, pair.data)
    pool = np.concatenate([pair.reference, pair.data]).astype(np.float64)
    honesty = map_honesty(pool, pca_layout(pool))
    assert f"Map honesty: {honesty.mean:.2f} of each point's 10 nearest" in text
    assert f"trustworthiness {honesty.trustworthiness:.3f}." in text


def test_a_run_the_command_line_cannot_set_says_so_instead_of_a_false_command(csv_bundle):
    manifest = load_bundle(csv_bundle).manifest
    assert cli_gaps(manifest) == []
    manifest["params"]["sparsity"] = 0.01
    manifest["seeds"]["calibration"] = manifest["seeds"]["fit"] + 1
    assert cli_gaps(manifest) == ["sparsity=0.01", f"toys' seed {manifest['seeds']['fit'] + 1} (fit seed {manifest['seeds']['fit']})"]
