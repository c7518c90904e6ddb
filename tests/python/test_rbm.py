"""onsager.BernoulliRBM against independent truths: scikit-learn's own formulas on the same parameters,
brute-force enumeration of log Z, and scikit-learn's training on the same data."""

import importlib.util
import json
import os
import sys
import pickle
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, logsumexp

import onsager
from conftest import need
from sklearn.base import clone
from sklearn.neural_network import BernoulliRBM as SkRBM


def _fitted(X, **kw):
    kw.setdefault("n_components", 16)
    kw.setdefault("n_iter", 3)
    kw.setdefault("random_state", 0)
    return onsager.BernoulliRBM(**kw).fit(X)


def _as_sklearn(rbm):
    """A scikit-learn BernoulliRBM holding onsager's parameters (float64), to score with its own code."""
    sk = SkRBM(n_components=rbm.n_components, random_state=rbm.random_state)
    sk.components_ = rbm.components_.astype(np.float64)
    sk.intercept_hidden_ = rbm.intercept_hidden_.astype(np.float64)
    sk.intercept_visible_ = rbm.intercept_visible_.astype(np.float64)
    sk.h_samples_ = rbm.h_samples_.astype(np.float64)
    sk.n_features_in_ = rbm.n_features_in_
    return sk


def _brute_log_z(rbm):
    """log Z by summing over every hidden state, in float64 NumPy."""
    W = rbm.components_.astype(np.float64)
    b = rbm.intercept_visible_.astype(np.float64)
    c = rbm.intercept_hidden_.astype(np.float64)
    H = W.shape[0]
    h = ((np.arange(2**H)[:, None] >> np.arange(H)) & 1).astype(np.float64)
    return logsumexp(h @ c + np.logaddexp(0, h @ W + b).sum(axis=1))


def test_inference_matches_scikit_learn_on_the_same_parameters(digits):
    X, _ = digits
    rbm = _fitted(X)
    sk = _as_sklearn(rbm)
    np.testing.assert_allclose(rbm.transform(X), sk.transform(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rbm._free_energy(X), sk._free_energy(X), rtol=1e-5, atol=1e-4)
    # The same random_state gives the same flipped features, so the same pseudo-likelihoods.
    rbm.random_state = sk.random_state = 7
    np.testing.assert_allclose(rbm.score_samples(X), sk.score_samples(X), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(rbm.transform(sp.csr_matrix(X)), rbm.transform(X), rtol=0, atol=0)


def test_training_is_as_good_as_scikit_learns(digits_binary):
    """Same data, same settings: onsager's PCD-1 reaches an exact log-likelihood no worse than scikit-learn's
    (each averaged over three seeds; log Z by enumerating 2^12 hidden states)."""
    X, _ = digits_binary
    ours, theirs = [], []
    for seed in range(3):
        kw = dict(n_components=12, learning_rate=0.05, batch_size=10, n_iter=10, random_state=seed)
        a = onsager.BernoulliRBM(**kw).fit(X)
        b = SkRBM(**kw).fit(X)
        ours.append(-a._free_energy(X).mean() - _brute_log_z(a))
        theirs.append(-b._free_energy(X).mean() - _brute_log_z(b))
    assert np.mean(ours) > np.mean(theirs) - 0.5, (ours, theirs)


def test_exact_and_ais_log_partition_against_enumeration(digits_binary):
    X, _ = digits_binary
    rbm = _fitted(X, n_components=10, n_iter=5, learning_rate=0.05)
    truth = _brute_log_z(rbm)
    exact = rbm.log_partition("exact")
    assert exact.method == "exact" and exact.error == 0
    assert exact.value == pytest.approx(truth, abs=1e-6)
    ais = rbm.log_partition("ais", runs=200, betas=2000, seed=3)
    assert ais.lower <= ais.value <= ais.upper
    assert ais.error > 0 and np.isfinite(ais.error)
    # Within 4 standard errors (plus a small bias allowance: AIS underestimates log Z in expectation).
    assert abs(ais.value - truth) < 4 * ais.error + 0.05, (ais, truth)
    assert ais.details["layer"] == "hidden" and ais.details["verdict"] == "agree", ais.details
    assert abs(ais.details["bar_log_z"] - truth) <= ais.details["bar_err"], (ais.details, truth)
    # Either layer, and BAR on its own with the data's marginals on both layers, within their bars of the truth.
    vis = rbm.log_partition("ais", runs=200, betas=2000, seed=3, layer="visible", check=False, X=X)
    assert vis.details["layer"] == "visible" and abs(vis.value - truth) < 4 * vis.error + 0.05, (vis, truth)
    bar = rbm.log_partition("bar", X=X, ladders=8, temperatures=30, sweeps=500, burn_in=100, seed=2)
    assert bar.method == "bar" and bar.lower <= truth <= bar.upper, (bar, truth)
    ll = rbm.log_likelihood(X, method="exact")
    assert ll.value == pytest.approx(-rbm._free_energy(X).mean() - truth, abs=1e-6)
    tap = rbm.log_partition("tap2", X=X)
    assert np.isnan(tap.error) and abs(tap.value - truth) < 5  # an approximation, near at weak coupling
    # The rigorous bracket contains the truth whatever its budget, and closes to its tolerance given enough.
    br = rbm.log_partition("bracket", tolerance=1e-4)
    assert br.method == "bracket" and br.details["converged"], br.details
    assert br.lower - 1e-9 <= truth <= br.upper + 1e-9 and br.upper - br.lower <= 1e-4, (br, truth)
    loose = rbm.log_partition("bracket", max_nodes=2)
    assert loose.lower - 1e-9 <= truth <= loose.upper + 1e-9 and loose.error >= br.error, (loose, truth)


def test_exact_refuses_too_many_states(digits_binary):
    X, _ = digits_binary
    rbm = _fitted(X, n_components=40, n_iter=1)
    with pytest.raises(ValueError, match="max_log2_states"):
        rbm.log_partition("exact", max_log2_states=20)
    with pytest.raises(ValueError, match="method must be one of"):
        rbm.log_partition("bogus")


def test_float32_stays_float32_and_float64_stays_float64(digits):
    X, _ = digits
    for dt in (np.float32, np.float64):
        rbm = _fitted(X.astype(dt))
        assert rbm.components_.dtype == dt and rbm.transform(X.astype(dt)).dtype == dt


def test_float64_rows_read_in_place_give_the_float32_model(digits):
    """A float64 X is converted minibatch by minibatch; the model is the one its float32 copy gives."""
    X, _ = digits
    a = _fitted(X)
    b = _fitted(X.astype(np.float32))
    np.testing.assert_array_equal(a.components_.astype(np.float32), b.components_)
    np.testing.assert_array_equal(a.h_samples_.astype(np.float32), b.h_samples_)


def test_fit_is_reproducible_and_independent_of_threads():
    """Big enough that the GEMMs split into blocks and the row loops go parallel on 2 threads."""
    X = (np.random.default_rng(0).random((2000, 784)) < 0.3).astype(np.float32)
    kw = dict(n_components=256, batch_size=200, n_iter=2, random_state=0)
    a = onsager.BernoulliRBM(n_threads=1, **kw).fit(X)
    b = onsager.BernoulliRBM(n_threads=2, **kw).fit(X)
    c = onsager.BernoulliRBM(n_threads=3, **kw).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.components_, c.components_)
    np.testing.assert_array_equal(a.h_samples_, b.h_samples_)


def test_pickle_clone_and_params(digits):
    X, _ = digits
    rbm = _fitted(X, method="cd", k=2, momentum=0.5, weight_decay=1e-4)
    again = pickle.loads(pickle.dumps(rbm))
    np.testing.assert_array_equal(again.transform(X), rbm.transform(X))
    c = clone(rbm)
    assert c.get_params() == rbm.get_params() and not hasattr(c, "components_")


@pytest.mark.parametrize("method", ["cd", "mf", "tap2", "tap3"])
def test_other_methods_learn(digits_binary, method):
    X, _ = digits_binary
    rbm = onsager.BernoulliRBM(n_components=12, learning_rate=0.05, n_iter=5, random_state=1, method=method).fit(X)
    start = -np.log(2) * X.shape[1]  # a model that knows nothing: every pixel a fair coin
    assert rbm.log_likelihood(X, method="exact").value > start + 10


def test_save_load_round_trip_and_the_command_line_reads_it(tmp_path, digits_binary, cli):
    X, _ = digits_binary
    rbm = _fitted(X, momentum=0.5)
    path = tmp_path / "m.safetensors"
    rbm.save(path)
    back = onsager.load(path)
    np.testing.assert_array_equal(back.components_, rbm.components_.astype(np.float32))
    assert back.n_components == 16 and back.momentum == 0.5 and back.n_features_in_ == 64
    np.testing.assert_allclose(back.transform(X), rbm.transform(X), rtol=1e-6)
    out = subprocess.run([cli, "rbm", "info", str(path), "--json"], capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    assert info["hidden"] == 16 and info["settings"]["momentum"] == 0.5 and info["epochs_done"] == 3


def test_a_command_line_model_loads(tmp_path, cli):
    path = tmp_path / "cli.safetensors"
    subprocess.run([cli, "rbm", "train", "--data", "digits", "--hidden", "8", "--epochs", "2", "--quiet",
                    "--out", str(path)], check=True, capture_output=True,
                   env=dict(os.environ, ONSAGER_DATA=str(os.environ.get("ONSAGER_DATA", "data"))))
    rbm = onsager.load(path)
    assert rbm.components_.shape == (8, 64) and rbm.n_iter == 2
    ll = rbm.log_likelihood(np.zeros((1, 64)), method="exact")
    assert np.isfinite(ll.value)


def test_a_gaussian_command_line_model_is_refused(tmp_path, cli):
    # The Python RBM has binary visible units; a Gaussian-Bernoulli file must not load as one.
    path = tmp_path / "gauss.safetensors"
    subprocess.run([cli, "rbm", "train", "--data", "digits", "--visible", "gaussian", "--hidden", "4", "--epochs", "1",
                    "--quiet", "--out", str(path)], check=True, capture_output=True,
                   env=dict(os.environ, ONSAGER_DATA=str(os.environ.get("ONSAGER_DATA", "data"))))
    with pytest.raises(ValueError, match="Gaussian"):
        onsager.load(path)


def test_a_model_trained_with_momentum_on_the_weights_only_warns(tmp_path, cli):
    path = tmp_path / "wm.safetensors"
    subprocess.run([cli, "rbm", "train", "--data", "digits", "--hidden", "4", "--epochs", "1", "--momentum", "0.5",
                    "--momentum-on", "weights", "--quiet", "--out", str(path)], check=True, capture_output=True,
                   env=dict(os.environ, ONSAGER_DATA=str(os.environ.get("ONSAGER_DATA", "data"))))
    with pytest.warns(UserWarning, match="momentum on the weights only"):
        rbm = onsager.load(path)
    assert rbm.momentum == 0.5


def test_file_errors(tmp_path, digits):
    with pytest.raises(FileNotFoundError):
        onsager.load(tmp_path / "none.safetensors")
    with pytest.raises(FileNotFoundError):
        _fitted(digits[0]).save(tmp_path / "no" / "such" / "dir.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.safetensors"):
        onsager.load(bad)


def test_sample_shapes_and_values(digits_binary):
    X, _ = digits_binary
    rbm = _fitted(X)
    s = rbm.sample(5, steps=10, seed=1)
    assert s.shape == (5, 64) and set(np.unique(s)) <= {0.0, 1.0}
    np.testing.assert_array_equal(s, rbm.sample(5, steps=10, seed=1))


def test_the_gil_is_released_while_fitting(digits):
    """A Python thread counts while the main thread fits; with the GIL held in C++ it would stand still."""
    X, _ = digits
    big = np.tile(X, (40, 1))
    counter = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            counter[0] += 1

    def rate_while(work):
        t = threading.Thread(target=count)
        counter[0] = 0
        stop.clear()
        t.start()
        t0 = time.perf_counter()
        work()
        elapsed = time.perf_counter() - t0
        stop.set()
        t.join()
        return counter[0] / elapsed, elapsed

    alone, _ = rate_while(lambda: time.sleep(0.3))
    during, elapsed = rate_while(lambda: onsager.BernoulliRBM(n_components=64, n_iter=3, random_state=0).fit(big))
    assert elapsed > 0.2, elapsed  # the fit is long enough to tell
    # The fit's two threads share two cores with the counter, so the rate falls; a held GIL stops it.
    assert during > 0.1 * alone, (during, alone)


def test_ctrl_c_interrupts_a_fit_and_keeps_a_consistent_model(digits):
    X, _ = digits
    big = np.tile(X, (200, 1))  # about 360,000 rows: far longer than the timer
    rbm = onsager.BernoulliRBM(n_components=128, n_iter=50, random_state=0)
    initial = np.random.RandomState(0).normal(0, 0.01, (128, 64))  # fit's own first draws
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        rbm.fit(big)
    # Stops at the end of the minibatch running when the key came (each takes microseconds here).
    assert time.perf_counter() - t0 < 2
    assert np.isfinite(rbm.components_).all() and not np.allclose(rbm.components_, initial)
    assert set(np.unique(rbm.h_samples_)) <= {0.0, 1.0}  # the chains hold sampled hidden states
    assert rbm._epochs < 50
    # The interrupted model is usable, and can be fitted again.
    assert rbm.transform(X[:3]).shape == (3, 128)
    rbm.set_params(n_iter=1).fit(X)


def test_ctrl_c_interrupts_ais(digits_binary):
    X, _ = digits_binary
    rbm = _fitted(X, n_components=64)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        rbm.log_partition("ais", runs=2000, betas=100000)
    assert time.perf_counter() - t0 < 2


def test_verbose_goes_to_sys_stdout(digits, capsys):
    X, _ = digits
    _fitted(X, n_iter=2, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1].startswith("[BernoulliRBM] Iteration 2, pseudo-likelihood = ")


def test_numpys_blas_threads_are_left_as_they_were(digits):
    """NumPy loads the same OpenBLAS as onsager; onsager's single-threaded BLAS must not leak into it."""
    need(importlib.util.find_spec("threadpoolctl") is not None, "threadpoolctl (python3-threadpoolctl)")
    import threadpoolctl
    X, _ = digits

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    rbm = _fitted(X)
    rbm.transform(X)
    rbm.log_partition("ais", runs=10, betas=100)
    onsager.analyze({"w": np.random.default_rng(0).normal(size=(50, 40))})
    assert blas_threads() == before


def test_thread_settings_leave_numpy_and_openmp_alone_in_a_fresh_process():
    """The first onsager call of a process sets threads explicitly: NumPy's BLAS and the process's OpenMP
    thread count must come out as they went in."""
    need(importlib.util.find_spec("threadpoolctl") is not None, "threadpoolctl (python3-threadpoolctl)")
    code = """
import numpy as np, threadpoolctl, onsager
def counts():
    info = threadpoolctl.threadpool_info()
    return sorted((i["user_api"], i["num_threads"]) for i in info if i["user_api"] in ("blas", "openmp"))
before = counts()
onsager.set_num_threads(1)
X = (np.random.default_rng(0).random((500, 30)) < 0.5).astype(np.float64)
onsager.BernoulliRBM(n_components=8, n_iter=1, n_threads=1).fit(X)
onsager.analyze({"w": np.random.default_rng(1).normal(size=(60, 40))}, threads=1)
assert counts() == before, (before, counts())
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]


def test_save_load_keeps_the_estimators_random_state(tmp_path, digits):
    X, _ = digits
    rbm = _fitted(X, random_state=17)
    rbm.save(tmp_path / "m.safetensors")
    assert onsager.load(tmp_path / "m.safetensors").random_state == 17
    rbm.random_state = np.random.RandomState(3)
    rbm.save(tmp_path / "n.safetensors")
    assert onsager.load(tmp_path / "n.safetensors").random_state is None


def test_inference_takes_lists_as_scikit_learn_does(digits):
    X, _ = digits
    rbm = _fitted(X)
    rows = X[:2].tolist()
    np.testing.assert_array_equal(rbm._mean_hiddens(rows), rbm._mean_hiddens(X[:2]))
    assert rbm.gibbs(rows).shape == (2, 64)


def test_a_signal_handler_calling_onsager_during_a_call_is_refused_not_deadlocked(digits):
    """Python runs signal handlers inside onsager's Ctrl-C check, while the call holds onsager's lock: a handler
    that calls onsager again gets an error (raised out of the running call, as any handler's exception is)."""
    X, _ = digits
    big = np.tile(X, (200, 1))
    rbm = _fitted(X)

    def handler(signum, frame):
        rbm.transform(X[:2])

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        t0 = time.perf_counter()
        with pytest.raises(onsager.Error, match="called from a signal handler"):
            onsager.BernoulliRBM(n_components=128, n_iter=50, random_state=0).fit(big)
        assert time.perf_counter() - t0 < 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert rbm.transform(X[:2]).shape == (2, 16)  # and onsager works afterwards


def test_tap_reseeding_settings_reach_the_trainer_and_the_file(tmp_path, digits_binary):
    X, _ = digits_binary
    kw = dict(n_components=12, learning_rate=0.05, batch_size=20, n_iter=3, random_state=2, method="tap2")
    plain = onsager.BernoulliRBM(tap_reseed="none", **kw).fit(X)
    merged = onsager.BernoulliRBM(**kw).fit(X)
    restarted = onsager.BernoulliRBM(tap_restart_fraction=0.3, **kw).fit(X)
    # Different negative phases, so different models: each setting reached the trainer.
    assert not np.array_equal(plain.components_, merged.components_)
    assert not np.array_equal(merged.components_, restarted.components_)
    restarted.save(tmp_path / "r.safetensors")
    back = onsager.load(tmp_path / "r.safetensors")
    assert back.tap_reseed == "merged" and back.tap_restart_fraction == 0.3
    with pytest.raises(ValueError):
        onsager.BernoulliRBM(tap_reseed="all", **kw).fit(X)
