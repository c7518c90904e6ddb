"""NumPy transcriptions of what WeightWatcher 0.7.5.5 computes for a layer, the reference the command tests hold
`onsager analyze` (and `--ww-compat`) to. Transcribed from weightwatcher/weightwatcher.py (WWFit.fit_power_law's
loop, conv2D_Wmats, apply_normalize_Wmats, combined_eigenvalues, apply_norm_metrics) and weightwatcher/RMT_Util.py
(matrix_rank, calc_rank_loss, matrix_entropy); WeightWatcher itself is not installed here."""
import numpy as np

EPSILON = 1e-10  # constants.py


def ww_fit(evals, xmax=None, min_tail=2):
    """WWFit.fit_power_law's loop: (alpha, xmin, D, tail length) of the eigenvalues above 1e-5."""
    data = np.sort(evals[evals > 1e-5])
    if xmax is not None:
        data = data[:np.argmin(np.abs(data - xmax)) + 1]
    N = len(data)
    logd = np.log(data)
    alphas = np.zeros(N - 1)
    Ds = np.ones(N - 1)
    for i, xmin in enumerate(data[:N + 1 - min_tail]):
        n = float(N - i)
        a = 1 + n / (np.sum(logd[i:]) - n * logd[i])
        alphas[i] = a
        if a > 1:
            Ds[i] = np.max(np.abs(1 - (data[i:] / xmin) ** (-a + 1) - np.arange(n) / n))
    i = np.argmin(Ds)
    return alphas[i], data[i], Ds[i], N - i


def matrix_rank(svals, N):
    """RMT_Util.matrix_rank: singular values above max(s) * N * eps of their dtype."""
    tol = np.max(svals) * N * np.finfo(svals.dtype).eps
    return np.count_nonzero(svals > tol)


def matrix_entropy(svals, N):
    """RMT_Util.matrix_entropy."""
    rank = matrix_rank(svals, N) + EPSILON
    evals = svals * svals
    p = evals / np.sum(evals) + EPSILON
    return -np.sum(p * np.log(p)) / np.log(rank)


def conv2d_mats(W):
    """conv2D_Wmats for a tensor whose first two axes are the channels (N + M >= imax + jmax): the kh*kw slices
    W[:, :, i, j], each transposed to N x M with N >= M, and N, M. (Only out >= in is meant here: for a slice wider
    than tall, WeightWatcher swaps N and M once per slice.)"""
    N, M, imax, jmax = W.shape
    assert N + M >= imax + jmax
    mats = []
    for i in range(imax):
        for j in range(jmax):
            w = W[:, :, i, j]
            if w.shape[0] < w.shape[1]:
                w = w.T
            mats.append(w)
    return mats, max(N, M), min(N, M)


def layer(mats, N, conv2d_count=None):
    """The columns WeightWatcher's analyze() reports for one layer of matrices `mats` (N the larger dimension):
    conv2d_count None for a dense layer, 1 for a pooled Conv2D layer, kh*kw for one slice (pool=False)."""
    norm = 1.0 if conv2d_count is None else np.sqrt(conv2d_count / 2.0)  # apply_normalize_Wmats
    evals, rank_loss = np.array([]), 0
    for W in mats:  # combined_eigenvalues
        W = (W * norm).astype(float)
        sv = np.sort(np.linalg.svd(W, compute_uv=False))
        evals = np.concatenate((evals, sv * sv))
        rank_loss += len(sv) - matrix_rank(sv, N)
    evals = np.sort(evals)
    alpha, xmin, D, n = ww_fit(evals)
    lmax = np.max(evals)
    return dict(num_evals=len(evals), lambda_max=lmax, alpha=alpha, xmin=xmin, xmax=lmax, D=D, num_pl_spikes=int(n),
                log_norm=np.log10(np.sum(evals)), log_spectral_norm=np.log10(lmax),
                alpha_weighted=alpha * np.log10(lmax), log_alpha_norm=np.log10(np.sum([ev ** alpha for ev in evals])),
                stable_rank=np.sum(evals) / lmax, matrix_rank=int(matrix_rank(np.sqrt(evals), N)),
                rank_loss=int(rank_loss), entropy=matrix_entropy(np.sqrt(evals), N))
