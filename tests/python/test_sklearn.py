"""onsager.BernoulliRBM as scikit-learn sees it: its estimator checks, and its own BernoulliRBM test module
(Debian's copy, read at test time) with only the import changed."""

import os
import pathlib
import subprocess
import sys

import pytest

import onsager
from conftest import need

SKLEARN_TESTS = pathlib.Path("/usr/lib/python3/dist-packages/sklearn/neural_network/tests/test_rbm.py")

# Tests of scikit-learn's module that replay NumPy's random stream value for value, and so cannot pass with any
# other sampler: test_fit_gibbs asserts components_ == [[0.02649814], [0.02009084]] to 4 decimals after 42
# iterations from RandomState(42) (its own comment: "this test is very seed-dependent").
VALUE_FOR_VALUE = ["test_fit_gibbs"]


def test_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    # scikit-learn's own BernoulliRBM carries the same two expected failures (_more_tags), which
    # check_estimator reports as skips: score_samples flips random features, so it depends on the row order.
    check_estimator(onsager.BernoulliRBM())


def test_scikit_learns_bernoullirbm_tests_pass_with_the_import_changed(tmp_path):
    need(SKLEARN_TESTS.exists(), f"{SKLEARN_TESTS} (python3-sklearn) is not installed")
    text = SKLEARN_TESTS.read_text()
    old = "from sklearn.neural_network import BernoulliRBM\n"
    assert text.count(old) == 1, "the import line of scikit-learn's test module changed"
    copy = tmp_path / "test_rbm_onsager.py"
    copy.write_text(text.replace(old, "from onsager import BernoulliRBM\n"))
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", copy.name,
            "-k", " and ".join(f"not {name}" for name in VALUE_FOR_VALUE)]
    r = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    summary = r.stdout.strip().splitlines()[-1]
    assert "16 passed, 1 deselected" in summary and "failed" not in summary, summary
