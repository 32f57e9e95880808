import json
import os
import subprocess
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.tensor.blas import Dot22, Dot22Scalar, Gemm
from pytensor.tensor.blas_c import CGemv, CGer

import deeptutorial  # noqa: F401  (configures the backend, registers the swap)
from deeptutorial.fastpath import row_pass, threaded_blas
from deeptutorial.fastpath.blas import mkl_ldflags, openblas_ldflags

pytestmark = pytest.mark.skipif(
    not threaded_blas.registered,
    reason="the threaded BLAS ops are used with scipy-openblas32, a compiler and >= 2 cores")


@pytest.fixture
def three_threads(monkeypatch):
    """Compile the threaded ops for 3 threads: uneven blocks, more threads than cores here."""
    monkeypatch.setattr(threaded_blas, "threads", 3)


def assert_as_accurate(threaded, plain, exact):
    """The split calls' result is as close to the float64 reference as one whole call's.

    Not bitwise: OpenBLAS groups a sum's terms by its own blocking, which depends on the size
    of each call. A block in the wrong place would be off by O(1), not by rounding.
    """
    error = np.max(np.abs(np.asarray(threaded, dtype="float64") - exact), initial=0.0)
    plain_error = np.max(np.abs(np.asarray(plain, dtype="float64") - exact), initial=0.0)
    assert error <= 4 * plain_error + 8 * np.finfo(threaded.dtype).eps * np.abs(exact).max()


def compiled(inputs, outputs, threaded: bool, updates=None):
    """Compiled without the row-pass rewrites, which would replace the GEMVs and GERs."""
    mode = pytensor.compile.get_default_mode().excluding(*row_pass.NAMES)
    if not threaded:
        mode = mode.excluding(threaded_blas.NAME)
    fn = pytensor.function(inputs, outputs, updates=updates, mode=mode)
    return fn, [node.op for node in fn.maker.fgraph.toposort()]


# (rows, inner, columns): split by rows, by columns, rank-40 update, too small to split, a
# small result of a long sum (split along the sum)
SHAPES = [(20, 784, 500), (500, 784, 20), (300, 40, 900), (3, 5, 7), (32, 20000, 24)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES)
def test_products_and_updates_are_threaded_and_as_accurate(three_threads, dtype, shape):
    m, k, n = shape
    rng = np.random.default_rng(sum(shape))
    a_value, b_value = (rng.uniform(-1, 1, size=s).astype(dtype) for s in [(m, k), (k, n)])
    z_value = rng.uniform(-1, 1, size=(m, n)).astype(dtype)
    a, b = pt.matrix("a", dtype=dtype), pt.matrix("b", dtype=dtype)
    lr = np.asarray(0.1, dtype=dtype)
    a64, b64, z64 = (v.astype("float64") for v in (a_value, b_value, z_value))
    graphs = {  # op class: outputs (Gemm: an in-place update of a shared matrix) and exact values
        Dot22: ([pt.dot(a, b), pt.dot(b.T, a.T)], [a64 @ b64, b64.T @ a64.T]),  # C and F order
        Dot22Scalar: ([lr * pt.dot(a, b)], [float(lr) * a64 @ b64]),
        Gemm: (None, [z64 - float(lr) * a64 @ b64]),
    }
    for op_class, (outputs, exact) in graphs.items():
        results = {}
        for threaded in (True, False):
            if op_class is Gemm:
                z = pytensor.shared(z_value.copy())
                fn, ops = compiled([a, b], [], threaded, updates=[(z, z - lr * pt.dot(a, b))])
                fn(a_value, b_value)
                results[threaded] = [z.get_value()]
            else:
                fn, ops = compiled([a, b], outputs, threaded)
                results[threaded] = fn(a_value, b_value)
            of_class = [op for op in ops if isinstance(op, op_class)]
            assert of_class and all(
                isinstance(op, threaded_blas.THREADED[op_class]) == threaded for op in of_class)
        for threaded, plain, want in zip(results[True], results[False], exact):
            assert_as_accurate(threaded, plain, want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows,columns", [(784, 1000), (1000, 784), (7, 5)])
def test_matrix_vector_products_and_rank_one_updates_too(three_threads, dtype, rows, columns):
    rng = np.random.default_rng(rows)
    w_value = rng.uniform(-1, 1, size=(rows, columns)).astype(dtype)
    x_value, y_value = rng.uniform(size=rows).astype(dtype), rng.uniform(size=columns).astype(dtype)
    x, y = pt.vector("x", dtype=dtype), pt.vector("y", dtype=dtype)
    lr = np.asarray(0.1, dtype=dtype)
    results = {}
    for threaded in (True, False):
        w = pytensor.shared(w_value.copy())
        fn, ops = compiled([x, y], [pt.dot(x, w), pt.dot(w, y), pt.dot(w.T, x)], threaded,
                           updates=[(w, w - lr * pt.outer(x, y))])
        results[threaded] = [*fn(x_value, y_value), w.get_value()]
        for op_class in (CGemv, CGer):
            of_class = [op for op in ops if isinstance(op, op_class)]
            assert of_class and all(
                isinstance(op, threaded_blas.THREADED[op_class]) == threaded for op in of_class)
    w64, x64, y64 = (v.astype("float64") for v in (w_value, x_value, y_value))
    exact = [x64 @ w64, w64 @ y64, w64.T @ x64, w64 - float(lr) * np.outer(x64, y64)]
    for threaded, plain, want in zip(results[True], results[False], exact):
        assert_as_accurate(threaded, plain, want)


def test_in_place_updates_stay_in_place(float32):
    w = pytensor.shared(np.zeros((784, 500), dtype="float32"))
    buffer = w.get_value(borrow=True, return_internal_type=True)
    a, b = pt.matrix("a"), pt.matrix("b")
    fn, ops = compiled([a, b], [], True, updates=[(w, w - 0.5 * pt.dot(a.T, b))])
    assert any(isinstance(op, threaded_blas.ThreadedGemm) and op.destroy_map for op in ops)
    fn(np.ones((20, 784), dtype="float32"), np.ones((20, 500), dtype="float32"))
    assert w.get_value(borrow=True, return_internal_type=True) is buffer
    np.testing.assert_array_equal(buffer, np.full((784, 500), -10.0, dtype="float32"))


def test_the_blas_itself_runs_on_one_thread():
    """OpenBLAS is set to one thread when the split takes the cores. (Broken by deleting
    ``scipy_openblas_set_num_threads(1)`` in take_openblas_threads: OpenBLAS keeps 2.)"""
    if pytensor.config.blas__ldflags != openblas_ldflags():
        pytest.skip("MKL's sequential library is linked: it has no threads of its own to count")
    import scipy_openblas32

    assert threaded_blas.threads >= 2
    assert scipy_openblas32.dll.scipy_openblas_get_num_threads() == 1
    op = threaded_blas.ThreadedDot22()
    assert f"-DDT_THREADS={threaded_blas.threads}" in op.c_compile_args()


SHOW = ("import json, deeptutorial, scipy_openblas32; from deeptutorial.fastpath import threaded_blas; "
        "print(json.dumps([threaded_blas.registered, threaded_blas.threads, "
        "scipy_openblas32.dll.scipy_openblas_get_num_threads()]))")


def threads_in_subprocess(**env_changes) -> list:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTENSOR_FLAGS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                        "MKL_NUM_THREADS")}
    env.update({"DEEPTUTORIAL_BLAS": "openblas", **env_changes})
    out = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_thread_count_follows_the_usual_variables_and_the_users_blas():
    assert threads_in_subprocess(OPENBLAS_NUM_THREADS="2") == [True, 2, 1]
    # one thread asked for, either way: nothing to split, OpenBLAS on one thread as asked
    assert threads_in_subprocess(OPENBLAS_NUM_THREADS="1") == [False, 1, 1]
    assert threads_in_subprocess(OMP_NUM_THREADS="1") == [False, 1, 1]
    # the user's own BLAS flags: OpenBLAS's threads and the ops are left alone
    flags = f"blas__ldflags={openblas_ldflags()}"
    assert threads_in_subprocess(PYTENSOR_FLAGS=flags, OPENBLAS_NUM_THREADS="2") == [False, 1, 2]


@pytest.mark.skipif(mkl_ldflags() is None, reason="the mkl extra is not installed")
def test_with_mkl_the_thread_count_follows_mkl_and_omp_variables():
    # OpenBLAS is not used then: its own count is left as the variables make it
    assert threads_in_subprocess(DEEPTUTORIAL_BLAS="mkl", MKL_NUM_THREADS="2")[:2] == [True, 2]
    assert threads_in_subprocess(DEEPTUTORIAL_BLAS="mkl", OMP_NUM_THREADS="3")[:2] == [True, 3]
    assert threads_in_subprocess(DEEPTUTORIAL_BLAS="mkl", MKL_NUM_THREADS="1")[:2] == [False, 1]
