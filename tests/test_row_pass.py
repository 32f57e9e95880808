import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.tensor.blas_c import CGer

import deeptutorial  # noqa: F401  (configures the backend, registers the rewrites)
from deeptutorial import SdA, dA, load_data
from deeptutorial.fastpath import row_pass
from deeptutorial.fastpath.row_pass import RowPass

needs_rewrites = pytest.mark.skipif(
    not row_pass.registered, reason="the row-pass rewrites are registered with PyTensor's C "
                                    "backend and a compiler")

CONFIGS = [(n, p) for n in (0, 1, 2) for p in row_pass.PRODUCTS if (n, p) != (0, None)]
# W's shape and layout: split over threads, rows not a multiple of 4, tiny, columns strided
LAYOUTS = [((300, 250), "C"), ((7, 5), "C"), ((257, 300), "F"), ((130, 90), "every other row")]


def make_W(rng, shape, layout, dtype):
    m, n = shape
    if layout == "every other row":  # a view whose rows are 2n apart
        return rng.uniform(-1, 1, size=(2 * m, n)).astype(dtype)[::2]
    value = rng.uniform(-1, 1, size=shape).astype(dtype)
    return np.asfortranarray(value) if layout == "F" else value


def sparse_vector(rng, size, dtype, zeros=0.7):
    """A vector with about ``zeros`` of its entries 0, as a digit's pixels or a corrupted row."""
    v = rng.uniform(-1, 1, size=size)
    v[rng.random(size) < zeros] = 0
    return v.astype(dtype)


def expected(n_terms, product, W, values):
    """The op's outputs by NumPy in float64."""
    W64 = W.astype("float64")
    rest = [np.asarray(v, dtype="float64") for v in values]
    out = []
    if n_terms:
        new = W64.copy()
        for k in range(n_terms):
            c, u, v = rest[3 * k:3 * k + 3]
            new += c * np.outer(u, v)
        out.append(new)
    if product:
        alpha, x, beta, z = rest[3 * n_terms:]
        out.append(alpha * (W64 @ x if product == "rows" else x @ W64) + beta * z)
    return out


def op_inputs(rng, n_terms, product, shape, dtype, beta):
    m, n = shape
    values = []
    for k in range(n_terms):  # the first term's u has zero rows, as x~ in a dA's update
        values += [np.asarray(-0.3 + 0.1 * k, dtype=dtype),
                   sparse_vector(rng, m, dtype, zeros=0.7 if k == 0 else 0.0),
                   rng.uniform(-1, 1, size=n).astype(dtype)]
    if product:
        length = n if product == "rows" else m
        values += [np.asarray(1.5, dtype=dtype), sparse_vector(rng, length, dtype),
                   np.asarray(beta, dtype=dtype),
                   rng.uniform(-1, 1, size=m if product == "rows" else n).astype(dtype)]
    return values


def symbolic(values, dtype):
    return [pt.tensor(dtype=dtype, shape=(None,) * np.ndim(v)) for v in values]


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("config", CONFIGS)
def test_c_code_and_perform_match_numpy(monkeypatch, threads, dtype, layout, config):
    monkeypatch.setattr(row_pass, "threads", threads)  # compiled in: uneven blocks with 3
    n_terms, product = config
    shape, order = layout
    rng = np.random.default_rng(hash((config, shape)) % 2 ** 32)
    for beta in (0.0, 0.5):
        if not product and beta:
            continue
        W_value = make_W(rng, shape, order, dtype)
        values = op_inputs(rng, n_terms, product, shape, dtype, beta)
        if product and beta == 0:
            values[-1] = np.full_like(values[-1], np.nan)  # beta == 0: z is never read
        want = expected(n_terms, product, W_value, [0 if np.isnan(v).any() else v
                                                    for v in values])
        W = pt.matrix("W", dtype=dtype)
        rest = symbolic(values, dtype)
        outputs = RowPass(n_terms, product)(W, *rest, return_list=True)
        for linker in ("cvm", "py"):
            mode = pytensor.compile.Mode(linker=linker, optimizer=None)
            fn = pytensor.function([pytensor.In(W, mutable=True), *rest], outputs, mode=mode,
                                 accept_inplace=True)
            W_arg = W_value.copy(order="K") if order != "every other row" else \
                make_W(np.random.default_rng(0), shape, order, dtype)
            W_arg[...] = W_value
            got = fn(W_arg, *values)
            tol = 1e-4 if dtype == "float32" else 1e-11
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=tol, atol=tol * 10)
            if n_terms and linker == "cvm":  # in place: W itself holds the update
                np.testing.assert_allclose(W_arg, want[0], rtol=tol, atol=tol * 10)


def test_rows_with_zero_coefficients_are_left_bit_for_bit():
    """The skip: a row whose u entries are all 0 is not touched (not even by adding 0)."""
    rng = np.random.default_rng(3)
    W_value = rng.uniform(-1, 1, size=(64, 33)).astype("float32")
    W_value[5] = -0.0  # adding +0.0 would turn -0.0 into +0.0
    u = sparse_vector(rng, 64, "float32", zeros=0.9)
    u[5] = 0
    W, uu, vv = (pt.tensor(name, dtype="float32", shape=s)
                 for name, s in (("W", (None, None)), ("u", (None,)), ("v", (None,))))
    c = pt.scalar("c", dtype="float32")
    fn = pytensor.function([pytensor.In(W, mutable=True), c, uu, vv],
                           RowPass(1, None)(W, c, uu, vv),
                           mode=pytensor.compile.Mode(linker="cvm", optimizer=None),
                           accept_inplace=True)
    out = fn(W_value.copy(), np.float32(0.5), u, rng.uniform(size=33).astype("float32"))
    untouched = u == 0
    assert untouched.sum() > 40
    assert np.array_equal(out[untouched].view("int32"), W_value[untouched].view("int32"))


def test_bad_sizes_and_types_are_refused():
    W, v = pt.matrix("W", dtype="float32"), pt.vector("v", dtype="float32")
    with pytest.raises(ValueError, match="n_terms"):
        RowPass(3, None)
    with pytest.raises(ValueError, match="an update, a product or both"):
        RowPass(0, None)
    with pytest.raises(TypeError, match="takes W and 3 more inputs"):
        RowPass(1, None)(W, pt.scalar(dtype="float32"), v)
    with pytest.raises(TypeError, match="every input must be float32"):
        RowPass(1, None)(W, pt.scalar(dtype="float32"), v, pt.dvector())
    one = np.float32(1)
    fn = pytensor.function([pytensor.In(W, mutable=True), v], RowPass(1, None)(W, one, v, v),
                           mode=pytensor.compile.Mode(linker="cvm", optimizer=None),
                           accept_inplace=True)
    with pytest.raises(ValueError, match="W is 3x4 but vector 0 has 4 entries, not 3"):
        fn(np.zeros((3, 4), "float32"), np.zeros(4, "float32"))


def ops_of(fn):
    return [node.op for node in fn.maker.fgraph.toposort()]


@needs_rewrites
def test_a_tied_dA_step_at_batch_size_1_updates_W_in_one_pass(float32):
    """Before the rewrites: two in-place GERs on W and GEMVs for x~ W and dz W. After: one
    rank-2 RowPass; the two products with W.T are RowPass products that skip zero rows."""
    x = pt.tensor("x", dtype="float32", shape=(1, 50))  # a minibatch of one, known as such
    da = dA(np.random.RandomState(0), input=x, n_visible=50, n_hidden=40)
    cost, updates = da.get_cost_updates(corruption_level=0.3, learning_rate=0.1)
    x_value = sparse_vector(np.random.default_rng(1), (1, 50), "float32").clip(0, 1)
    start = [p.get_value() for p in da.params]
    results = {}
    for rewritten in (True, False):
        mode = pytensor.compile.get_default_mode()
        if not rewritten:
            mode = mode.excluding(*row_pass.NAMES)
        for p, value in zip(da.params, start):
            p.set_value(value)
        da.pytensor_rng.set_value(np.random.default_rng(9))
        fn = pytensor.function([da.x], cost, updates=updates, mode=mode)
        ops = ops_of(fn)
        results[rewritten] = [float(fn(x_value)) for _ in range(3)], da.W.get_value()
        if rewritten:
            assert not any(isinstance(op, CGer) for op in ops)
            passes = [op for op in ops if isinstance(op, RowPass)]
            assert RowPass(2, None) in passes and passes.count(RowPass(0, "cols")) == 2
        else:
            assert sum(isinstance(op, CGer) for op in ops) == 2
            assert not any(isinstance(op, RowPass) for op in ops)
    np.testing.assert_allclose(results[True][0], results[False][0], rtol=1e-6)
    np.testing.assert_allclose(results[True][1], results[False][1], rtol=1e-5, atol=1e-7)


@needs_rewrites
def test_finetuning_reads_each_hidden_layer_once_for_its_gradient_and_update(float32):
    """Each layer above the first: its backward product ``W d`` and its update in one
    RowPass; the first layer's update skips the rows of zero pixels."""
    datasets = load_data("sample")
    sda = SdA(np.random.RandomState(1), n_ins=784, hidden_layers_sizes=[30, 20], n_outs=10)
    train_fn = sda.build_finetune_functions(datasets, batch_size=1, learning_rate=0.1)[0]
    ops = ops_of(train_fn)
    assert ops.count(RowPass(1, "rows")) == 2  # the second hidden layer and the logistic one
    assert ops.count(RowPass(1, None)) == 1  # the first layer: nothing below needs W d
    assert not any(isinstance(op, CGer) for op in ops)
