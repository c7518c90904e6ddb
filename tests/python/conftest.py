"""Shared fixtures of the Python package's tests (run by ctest as `python`, with PYTHONPATH at the build's
python/ directory; CI=true turns a missing prerequisite into a failure instead of a skip)."""

import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]  # tests/python/conftest.py -> the repository


def need(condition, why):
    """Skip (locally) or fail (in CI) when a prerequisite is missing."""
    if condition:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"missing prerequisite in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X - X.min()
    return X / X.max(), y


@pytest.fixture(scope="session")
def digits_binary(digits):
    X, y = digits
    return (X > 0.5).astype(np.float64), y


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("ONSAGER_CLI", str(ROOT / "build" / "onsager"))
    need(os.path.exists(path), f"the onsager command ({path}) is not built")
    return path
