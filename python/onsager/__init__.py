"""onsager: the statistical mechanics of learning, from Python.

    onsager.BernoulliRBM   a drop-in for sklearn.neural_network.BernoulliRBM, trained by onsager's C++ library
                           (PCD, CD-k, TAP), with exact and AIS partition functions
    onsager.load(path)     an onsager model file (the command line's files) as a fitted BernoulliRBM
    onsager.analyze(model) the spectral diagnostics of a file, a torch.nn.Module or a dict of arrays (DataFrame)
    onsager.inspect(model) its tensors and what the analysis makes of each (DataFrame)

docs/python.md is the guide.
"""

import os as _os


def _quiet_openmp_waits():
    # The command line runs with GOMP_SPINCOUNT=1000 (docs/performance.md): idle OpenMP threads stop spinning
    # after a short wait instead of burning a core the rest of a loaded machine needs. libgomp reads it once, when
    # it is loaded, so this works only when nothing loaded libgomp earlier (torch does); the user's own setting
    # of OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
    if "OMP_WAIT_POLICY" in _os.environ or "GOMP_SPINCOUNT" in _os.environ:
        return
    try:
        with open("/proc/self/maps") as f:
            if "libgomp" in f.read():
                return
    except OSError:
        pass
    _os.environ["GOMP_SPINCOUNT"] = "1000"


_quiet_openmp_waits()

from . import _onsager  # noqa: E402
from ._analyze import analyze, inspect  # noqa: E402
from ._rbm import BernoulliRBM, Estimate, load  # noqa: E402

Error = _onsager.Error
__version__ = "0.1.0"
__all__ = ["BernoulliRBM", "Estimate", "Error", "analyze", "inspect", "load", "set_num_threads", "num_threads"]


def set_num_threads(n):
    """Threads of onsager's computations (0: all cores); results do not depend on it."""
    _onsager.set_num_threads(int(n))


def num_threads():
    """The thread count onsager's computations use."""
    return _onsager.num_threads()
