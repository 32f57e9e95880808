import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.signal import correlate

from deeptutorial import conv
from deeptutorial.conv import (conv2d, conv2d_max_pool, conv2d_transpose, max_pool, output_size,
                              upsample_nearest)
from deeptutorial.conv_autoencoder import ConvAutoencoder, ConvClassifier, PoolingConvAutoencoder

from test_dA import numeric_grad


def reference_conv(x, kernel, stride, padding):
    """The convolution by SciPy, one image and channel pair at a time."""
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    oh, top, bottom = output_size(h, kh, stride, padding)
    ow, left, right = output_size(w, kw, stride, padding)
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = np.zeros((n, oh, ow, f))
    for i in range(n):
        for o in range(f):
            full = sum(correlate(padded[i, :, :, ch], kernel[:, :, ch, o], mode="valid")
                       for ch in range(c))
            out[i, :, :, o] = full[::stride, ::stride][:oh, :ow]
    return out


CASES = [((2, 7, 6, 3), (3, 3, 3, 4), 1, "valid"), ((2, 7, 6, 3), (3, 3, 3, 4), 1, "same"),
         ((2, 7, 6, 3), (3, 3, 3, 4), 2, "valid"), ((2, 7, 6, 3), (3, 3, 3, 4), 2, "same"),
         ((1, 8, 8, 1), (5, 5, 1, 2), 1, "same"), ((3, 9, 9, 10), (2, 3, 10, 3), 2, "same"),
         ((1, 5, 5, 9), (1, 1, 9, 2), 1, "valid")]


@pytest.fixture(params=[(10 ** 6, 0), (0, 10 ** 6), (0, 0)],
                ids=["gather", "multiply-first", "per-position"])
def construction(request, monkeypatch):
    """Each of conv2d's three constructions, whatever the channel counts."""
    gather_below, multiply_first_below = request.param
    monkeypatch.setattr(conv, "GATHER_BELOW_CHANNELS", gather_below)
    monkeypatch.setattr(conv, "MULTIPLY_FIRST_BELOW_OUTPUTS", multiply_first_below)


@pytest.mark.parametrize("x_shape, k_shape, stride, padding", CASES)
def test_conv2d_matches_scipy(float64, construction, x_shape, k_shape, stride, padding):
    rng = np.random.default_rng(0)
    x = pt.tensor4("x", shape=(None, *x_shape[1:]))
    kernel = pytensor.shared(rng.normal(size=k_shape))
    xv = rng.normal(size=x_shape)
    got = pytensor.function([x], conv2d(x, kernel, stride, padding), mode="FAST_COMPILE")(xv)
    np.testing.assert_allclose(got, reference_conv(xv, kernel.get_value(), stride, padding),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("x_shape, k_shape, stride, padding", CASES)
def test_the_transposed_convolution_is_the_adjoint(float64, construction, x_shape, k_shape,
                                                   stride, padding):
    """<conv(x), y> == <x, conv_T(y)> for random x and y."""
    rng = np.random.default_rng(1)
    kernel = pytensor.shared(rng.normal(size=k_shape))
    oh = output_size(x_shape[1], k_shape[0], stride, padding)[0]
    ow = output_size(x_shape[2], k_shape[1], stride, padding)[0]
    x = pt.tensor4("x", shape=(None, *x_shape[1:]))
    y = pt.tensor4("y", shape=(None, oh, ow, k_shape[3]))
    forward = pytensor.function([x], conv2d(x, kernel, stride, padding), mode="FAST_COMPILE")
    backward = pytensor.function([y], conv2d_transpose(y, kernel, stride, padding,
                                                       output_shape=x_shape[1:3]),
                                 mode="FAST_COMPILE")
    xv, yv = rng.normal(size=x_shape), rng.normal(size=(x_shape[0], oh, ow, k_shape[3]))
    assert np.sum(forward(xv) * yv) == pytest.approx(np.sum(xv * backward(yv)), rel=1e-10)


@pytest.mark.parametrize("channels, outputs, stride", [(1, 4, 1), (32, 1, 1), (9, 3, 2)])
def test_compiled_convolution_of_digit_sized_images(float32, construction, channels, outputs,
                                                    stride):
    """The C-compiled graph (FAST_RUN), batch size unknown, on 28 x 28 images: the shifted row
    ranges are hundreds of rows long, as in the networks (the FAST_COMPILE tests above run
    PyTensor's Python code on small images)."""
    rng = np.random.default_rng(3)
    kernel = pytensor.shared(rng.normal(size=(3, 3, channels, outputs)).astype("float32"))
    x = pt.tensor4("x", shape=(None, 28, 28, channels), dtype="float32")
    xv = rng.normal(size=(3, 28, 28, channels)).astype("float32")
    out = conv2d(x, kernel, stride, "same")
    got = pytensor.function([x], out, mode="FAST_RUN")(xv)
    np.testing.assert_allclose(got, reference_conv(xv, kernel.get_value(), stride, "same"),
                               rtol=1e-4, atol=1e-4)
    y = pt.tensor4("y", shape=out.type.shape, dtype="float32")
    yv = rng.normal(size=got.shape).astype("float32")
    back = pytensor.function([y], conv2d_transpose(y, kernel, stride, "same", (28, 28)),
                             mode="FAST_RUN")(yv)
    assert np.sum(got * yv, dtype=np.float64) == pytest.approx(
        np.sum(xv * back, dtype=np.float64), rel=1e-4)


def test_gradients_match_finite_differences(float64):
    rng = np.random.default_rng(2)
    x = pytensor.shared(rng.normal(size=(2, 6, 6, 2)))
    k1 = pytensor.shared(rng.normal(size=(3, 3, 2, 3)) * 0.5)
    k2 = pytensor.shared(rng.normal(size=(3, 3, 3, 3)) * 0.5)
    h = max_pool(pt.tanh(conv2d(x, k1, 1, "same")))  # 3 x 3
    up = conv2d_transpose(h, k2, stride=2, padding="same", output_shape=(6, 6))
    cost = pt.sum(upsample_nearest(h) ** 2) + pt.sum(pt.sin(up))
    params = [x, k1, k2]
    f_cost = pytensor.function([], cost)
    for param, symbolic in zip(params, pytensor.function([], pytensor.grad(cost, params))()):
        value = param.get_value(borrow=True)
        np.testing.assert_allclose(symbolic, numeric_grad(f_cost, value), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("x_shape, k_shape, size, padding", [
    ((2, 8, 6, 1), (3, 3, 1, 4), 2, "same"), ((2, 6, 6, 9), (3, 3, 9, 3), 3, "same"),
    ((1, 9, 7, 2), (2, 4, 2, 2), 2, "valid"), ((2, 4, 4, 9), (3, 3, 9, 1), 2, "same")])
def test_pooling_on_the_grid_is_pooling_the_convolution(float64, construction, x_shape, k_shape,
                                                         size, padding):
    """conv2d_max_pool pools the padded output grid before cutting it: the same values and
    gradients as pooling conv2d's output."""
    rng = np.random.default_rng(4)
    x = pt.tensor4("x", shape=(None, *x_shape[1:]))
    kernel = pytensor.shared(rng.normal(size=k_shape))
    fused = conv2d_max_pool(x, kernel, size, padding)
    plain = max_pool(conv2d(x, kernel, 1, padding), size)
    assert fused.type.shape == plain.type.shape
    weights = rng.normal(size=(x_shape[0], *plain.type.shape[1:]))
    grads = [pytensor.grad(pt.sum(out * weights), [x, kernel]) for out in (fused, plain)]
    fn = pytensor.function([x], [fused, plain, *grads[0], *grads[1]], mode="FAST_COMPILE")
    a, b, dxa, dka, dxb, dkb = fn(rng.normal(size=x_shape))
    np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(dxa, dxb, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dka, dkb, rtol=1e-12, atol=1e-12)


def test_max_pool_and_upsampling_values(float64):
    x = pt.tensor4("x", shape=(None, 4, 4, 2))
    xv = np.arange(32.0).reshape(1, 4, 4, 2)
    pooled = pytensor.function([x], max_pool(x))(xv)
    np.testing.assert_array_equal(pooled, xv.reshape(1, 2, 2, 2, 2, 2).max(axis=(2, 4)))
    up = pytensor.function([x], upsample_nearest(x, 2))(xv)
    assert up.shape == (1, 8, 8, 2)
    np.testing.assert_array_equal(up[0, ::2, ::2], xv[0])
    np.testing.assert_array_equal(up[0, 1::2, 1::2], xv[0])


def conv_ops_in_use() -> bool:
    from deeptutorial import fastpath

    return fastpath.conv_ops.registered if fastpath.enabled else False


needs_conv_ops = pytest.mark.skipif("not conv_ops_in_use()",
                                    reason="the C convolution ops are off (no fast path)")


def compiled_both_ways(inputs, outputs):
    """``outputs`` compiled with PyTensor's default (C) mode, once with the convolution ops
    and once from the ordinary graphs; checks that the ops are used only in the first."""
    from deeptutorial.fastpath.conv_ops import ConvOp

    mode = pytensor.compile.mode.get_default_mode()
    fns = [pytensor.function(inputs, outputs, mode=m)
           for m in (mode, mode.excluding("use_conv_ops"))]
    uses = [any(isinstance(node.op, ConvOp) for node in fn.maker.fgraph.apply_nodes)
            for fn in fns]
    assert uses == [True, False]
    return fns


@needs_conv_ops
def test_a_training_step_can_leave_the_convolution_ops_out(float32):
    """compile_step's ``excluding`` drops a rewrite from the step's mode: with
    ``use_conv_ops`` named, the step computes the ordinary graph (as conv_bench's c-graph
    times it), and the same cost."""
    from deeptutorial.fastpath.conv_ops import ConvOp
    from deeptutorial.optimizers import adam
    from deeptutorial.training import compile_step

    data = pytensor.shared(np.random.default_rng(0).random((20, 784), dtype="float32"))
    costs, uses = [], []
    for excluding in ((), ("use_conv_ops",)):
        model = ConvAutoencoder(np.random.RandomState(1), channels=4)
        terms, _ = model.cost_terms()
        step, _ = compile_step(terms["cost"], adam(terms["cost"], model.params, 0.003), model.x,
                               data, 10, excluding=excluding)
        uses.append(any(isinstance(node.op, ConvOp)
                        for node in step.maker.fgraph.apply_nodes))
        costs.append(float(step(np.int64(0))))
    assert uses == [True, False]
    np.testing.assert_allclose(costs[0], costs[1], rtol=1e-4)


@needs_conv_ops
@pytest.mark.parametrize("x_shape, k_shape, stride, padding", CASES)
def test_the_convolution_ops_compute_what_the_graphs_compute(float64, x_shape, k_shape, stride,
                                                            padding):
    """Values and gradients of conv2d, conv2d_transpose and conv2d_max_pool, with the C ops
    (ConvOp: forward, input_grad, kernel_grad) and from the ordinary graphs."""
    rng = np.random.default_rng(5)
    kernel = pytensor.shared(rng.normal(size=k_shape))
    x = pt.tensor4("x", shape=(None, *x_shape[1:]))
    y = conv2d(x, kernel, stride, padding)
    back = conv2d_transpose(y, kernel, stride, padding, output_shape=x_shape[1:3])
    outputs = [y, back]
    if stride == 1 and y.type.shape[1] % 2 == 0 and y.type.shape[2] % 2 == 0:
        outputs.append(conv2d_max_pool(x, kernel, 2, padding))
    cost = sum(pt.sum(pt.sin(out) * rng.normal(size=(x_shape[0], *out.type.shape[1:])))
               for out in outputs)
    ops, graphs = compiled_both_ways([x], [*outputs, *pytensor.grad(cost, [x, kernel])])
    xv = rng.normal(size=x_shape)
    for got, want in zip(ops(xv), graphs(xv), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@needs_conv_ops
@pytest.mark.parametrize("n, channels, outputs, stride", [(3, 1, 32, 1), (5, 32, 32, 2),
                                                          (1, 32, 1, 1), (7, 16, 8, 1)])
def test_the_convolution_ops_on_digit_sized_batches(float32, n, channels, outputs, stride):
    """Each ConvOp against its NumPy version (``conv_ops.reference``, checked against SciPy)
    on 28 x 28 images in float32: blocks of output pixels that straddle two images, batches of
    one image and of more images than threads."""
    from deeptutorial.fastpath.conv_ops import KINDS, ConvOp, reference

    rng = np.random.default_rng(6)
    xv = rng.normal(size=(n, 28, 28, channels)).astype("float32")
    kv = rng.normal(size=(3, 3, channels, outputs)).astype("float32")
    oh, top, _ = output_size(28, 3, stride, "same")
    geometry = (stride, top, top, 28, 28, 3, 3, oh, oh)
    dyv = rng.normal(size=(n, oh, oh, outputs)).astype("float32")
    np.testing.assert_allclose(reference("forward", geometry, xv, kv),
                               reference_conv(xv, kv, stride, "same"), rtol=1e-4, atol=1e-4)
    a, b = pt.tensor4("a", dtype="float32"), pt.tensor4("b", dtype="float32")
    python = pytensor.compile.mode.Mode(linker="py", optimizer=None)  # ConvOp.perform
    for kind, operands in zip(KINDS, [(xv, kv), (dyv, kv), (xv, dyv)]):
        want = reference(kind, geometry, *(v.astype("float64") for v in operands))
        for mode in (None, python):
            got = pytensor.function([a, b], ConvOp(kind, geometry)(a, b), mode=mode)(*operands)
            np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())


@needs_conv_ops
def test_a_convolution_op_refuses_inputs_of_another_geometry():
    from deeptutorial.fastpath.conv_ops import ConvOp

    a, b = pt.tensor4("a"), pt.tensor4("b")
    fn = pytensor.function([a, b], ConvOp("forward", (1, 1, 1, 6, 6, 3, 3, 6, 6))(a, b))
    fn(np.zeros((2, 6, 6, 2)), np.zeros((3, 3, 2, 4)))
    with pytest.raises(ValueError, match="geometry"):
        fn(np.zeros((2, 5, 6, 2)), np.zeros((3, 3, 2, 4)))


@pytest.mark.parametrize("build, word", [
    (lambda x, k: conv2d(x, k(5, 5, 1, 2), padding="valid"), "kernel 5 is larger"),
    (lambda x, k: conv2d(x, k(3, 3, 1, 2), stride=0), "stride"),
    (lambda x, k: conv2d(x, k(3, 3, 3, 2)), "3"),  # channels that do not match
    (lambda x, k: conv2d(x, k(3, 3, 1, 2), padding="full"), "'full'"),
    (lambda x, k: max_pool(x, 3), "pool size 3"),
    (lambda x, k: max_pool(x, 0), "0"),
    (lambda x, k: conv2d_max_pool(x, k(3, 3, 1, 2), 3), "pool size 3"),
    (lambda x, k: conv2d_transpose(conv2d(x, k(3, 3, 1, 2), stride=2, padding="same"),
                                   k(3, 3, 1, 2), stride=2, padding="same",
                                   output_shape=(7, 4)), "a height of 7"),
])
def test_bad_shapes_are_refused_when_the_graph_is_built(build, word):
    x = pt.tensor4("x", shape=(None, 4, 4, 1))

    def kernel(*shape):
        return pytensor.shared(np.zeros(shape))

    with pytest.raises(ValueError, match=None) as info:
        build(x, kernel)
    assert word in str(info.value)


def test_the_convolutional_autoencoder_has_the_framework_example_shape(float32):
    for upsampling in ("transpose", "nearest"):
        model = ConvAutoencoder(np.random.RandomState(0), upsampling=upsampling)
        assert sum(p.get_value().size for p in model.params) == 28353
    x = pt.matrix("x")
    code = pytensor.function([x], model.encode(x))(np.zeros((2, 784), dtype="float32"))
    assert code.shape == (2, 7, 7, 32)


@pytest.mark.slow
def test_convolutional_autoencoders_learn_on_the_sample(float32):
    """Costs fall; the denoising variant draws fresh noise at every step. (Broken by leaving
    the generator update out of cost_terms: the noisy inputs repeat.)"""
    from deeptutorial import load_data
    from deeptutorial.optimizers import adam
    from deeptutorial.training import compile_step

    train_x = load_data("sample")[0][0]
    for noise in (0.0, 0.4):
        model = ConvAutoencoder(np.random.RandomState(1), channels=4, noise_std=noise)
        terms, updates = model.cost_terms()
        assert len(updates) == (1 if noise else 0)
        step, _ = compile_step(terms["cost"], adam(terms["cost"], model.params, 0.003) + updates,
                               model.x, train_x, 50)
        costs = [float(step(np.int64(i % 10))) for i in range(40)]
        assert np.mean(costs[-10:]) < 0.8 * np.mean(costs[:3])


def test_a_stack_of_pooling_autoencoders_starts_the_classifier(float32):
    rng = np.random.RandomState(2)
    first = PoolingConvAutoencoder(rng, filters=4)
    second = PoolingConvAutoencoder(rng, side=14, in_channels=4, filters=6, first=False)
    h = pt.tensor4("h", shape=(None, 14, 14, 4))
    assert second.encode(h).type.shape == (None, 7, 7, 6)
    clf = ConvClassifier(rng, filters=(4, 6), n_hidden=16, pretrained=[first, second])
    for mine, theirs in zip(clf.W + clf.b, [first.W, second.W, first.b, second.b]):
        assert mine is not theirs
        np.testing.assert_array_equal(mine.get_value(), theirs.get_value())
    with pytest.raises(ValueError, match="pretrained layer 2"):
        ConvClassifier(rng, filters=(4, 8), pretrained=[first, second])


def run_script(tmp_path, script, *args):
    """``script`` on the sample, tiny, writing into ``tmp_path / script``."""
    import subprocess
    import sys

    from conftest import REPO

    return subprocess.run([sys.executable, str(REPO / "scripts" / script), "--dataset",
                           "sample", "--output-folder", str(tmp_path / script),
                           *map(str, args)], capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_the_stacked_convolutional_script_runs_on_the_sample(tmp_path, float32):
    """End to end, tiny: both classifiers well below chance, both layers pretrained."""
    import json

    proc = run_script(tmp_path, "stacked_convolutional_autoencoder.py", "--epochs", 2,
                      "--pretraining-epochs", 1, "--filters", 4, 8, "--n-hidden", 16,
                      "--batch-size", 100)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "stacked_convolutional_autoencoder.py" / "results.json")
                         .read_text())
    assert set(results["test_error_percent"]) == {"pretrained", "random"}
    assert all(error < 80 for error in results["test_error_percent"].values())  # chance: 90
    assert len(results["pretraining"]) == 2
