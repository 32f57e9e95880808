"""One graph, every backend (``deeptutorial.backends``): C, Numba and JAX compile the same graphs
to the same numbers; what differs between them (minibatches, random generators, the data on
the device, the C-only rewrites) is handled; a backend that cannot be used is one line."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.tensor.random import shared_rng

from deeptutorial import SdA, backends, dA
from deeptutorial.backends import BackendError, step_generators
from deeptutorial.data import as_shared, load_mnist
from deeptutorial.persistence import load_checkpoint, save_checkpoint
from deeptutorial.training import TrainingLog, compile_step, n_batches, train

from conftest import FULL_MNIST, REPO, needs_full_mnist
from test_every_script import DIVERGING, OWN_DATA

HAS = {name: importlib.util.find_spec(module) is not None
       for name, (module, _) in backends.NEEDS.items()}
OTHERS = [pytest.param(name, marks=pytest.mark.skipif(not HAS[name], reason=f"{name} missing"))
          for name in ("numba", "jax")]
needs_jax = pytest.mark.skipif(not HAS["jax"], reason='JAX missing: pip install -e ".[jax]"')


@pytest.fixture
def use_backend(float32):
    """``use_backend(name)`` switches the backend for the rest of the test, then back."""
    before = pytensor.config.linker
    yield backends.use
    pytensor.config.linker = before


def sample_split(rows=None):
    (x, y), *_ = load_mnist("sample")
    return (x, y) if rows is None else (x[:rows], y[:rows])


def dA_epoch_costs(backend, level=0.0, epochs=2, seed=123, n_hidden=50, history=None,
                   checkpoint=None, resume=None):
    """The dA tutorial's training (batch 20, SGD 0.1) on the sample, compiled by ``backend``;
    the data are made shared after the switch, as a script does."""
    backends.use(backend)
    train_x = as_shared([sample_split()])[0][0]
    x = pt.matrix("x")
    rng = np.random.RandomState(seed)
    noise = shared_rng(seed=rng.randint(2 ** 30))
    da = dA(numpy_rng=rng, pytensor_rng=noise, input=x, n_visible=784, n_hidden=n_hidden)
    cost, updates = da.get_cost_updates(corruption_level=level, learning_rate=0.1)
    step, _ = compile_step(cost, updates, x, train_x, 20)
    generators = step_generators(step, [noise])
    if resume is not None:
        state = load_checkpoint(resume, da.named_params(), generators)
        history = TrainingLog(**state["history"])
    history = train(step, n_batches(train_x, 20), epochs, log=lambda line: None,
                    history=history)
    if checkpoint is not None:
        save_checkpoint(checkpoint, da.named_params(), generators,
                        {"history": {"epoch_costs": history.epoch_costs,
                                     "epoch_seconds": history.epoch_seconds,
                                     "start_cost": history.start_cost}})
    return history.epoch_costs


@pytest.mark.parametrize("backend", OTHERS)
def test_the_dA_costs_are_the_C_backends_to_float32_rounding(use_backend, backend):
    """Without noise every backend computes the same numbers. (Broken by a backend that cuts
    other minibatches, e.g. a gather of ``index + arange(batch)``: the costs part at once.)"""
    reference = dA_epoch_costs("c")
    costs = dA_epoch_costs(backend)
    assert costs[1] < costs[0]
    np.testing.assert_allclose(costs, reference, rtol=2e-5)


def test_numba_draws_the_C_backends_noise(use_backend):
    """Numba runs NumPy's own generator, so even with 30% corruption its run is the C
    backend's. (Broken by reseeding Numba's generators as JAX's are.)"""
    if not HAS["numba"]:
        pytest.skip("numba missing")
    np.testing.assert_allclose(dA_epoch_costs("numba", 0.3), dA_epoch_costs("c", 0.3),
                               rtol=2e-5)


def corrupted_costs(backend, draws=300):
    """The 30%-corruption cost of one minibatch under the same weights, ``draws`` times, each
    with fresh noise from the compiled function's generator (no weight update)."""
    backends.use(backend)
    x = pt.matrix("x")
    noise = shared_rng(seed=7)
    da = dA(numpy_rng=np.random.RandomState(123), pytensor_rng=noise, input=x, n_visible=784,
            n_hidden=50)
    cost, updates = da.get_cost_updates(corruption_level=0.3, learning_rate=0.1)
    rng_update = [(var, value) for var, value in updates if var is noise]
    fn = backends.function([x], cost, updates=rng_update)
    batch = sample_split(20)[0].astype(np.float32)
    return np.array([float(fn(batch)) for _ in range(draws)])


@needs_jax
def test_jax_noise_agrees_with_C_in_distribution(use_backend):
    """JAX draws its own random numbers, so its noisy costs are not the C backend's, but they
    must be drawn from the same distribution: over 300 draws each, the means differ by less
    than 4 standard errors and the spreads by less than 25%. (Broken by a corruption level
    read wrongly on one backend: at 20% instead of 30% the means part by dozens of errors.)"""
    c, j = corrupted_costs("c"), corrupted_costs("jax")
    assert len(set(j)) > 250  # the noise changes at every call
    standard_error = np.sqrt(c.var(ddof=1) / len(c) + j.var(ddof=1) / len(j))
    assert abs(c.mean() - j.mean()) < 4 * standard_error
    assert 0.8 < j.std() / c.std() < 1.25


@needs_jax
def test_jax_functions_compiled_from_one_generator_draw_differently(use_backend):
    """(Broken by leaving PyTensor's private copies as they are: both start from the shared
    generator's state and draw the same numbers.)"""
    backends.use("jax")
    noise = shared_rng(seed=3)
    next_noise, u = noise.uniform(size=(5,))
    first = backends.function([], u, updates=[(noise, next_noise)])
    second = backends.function([], u, updates=[(noise, next_noise)])
    a, b = np.asarray(first()), np.asarray(second())
    assert not np.allclose(a, b)
    assert not np.allclose(a, np.asarray(first()))  # and each one's stream advances


@needs_jax
def test_a_jax_run_resumed_from_its_checkpoint_is_the_uninterrupted_run(use_backend, tmp_path):
    """The checkpoint keeps the JAX step's own generator (``step_generators``). (Broken by
    saving the shared generator instead: JAX never advances it, so the resumed run draws the
    first epoch's noise again and its second epoch's cost differs.)"""
    whole = dA_epoch_costs("jax", 0.3, epochs=2)
    first = dA_epoch_costs("jax", 0.3, epochs=1, checkpoint=tmp_path / "dA.npz")
    resumed = dA_epoch_costs("jax", 0.3, epochs=2, resume=tmp_path / "dA.npz")
    assert first == whole[:1]
    np.testing.assert_allclose(resumed, whole, rtol=1e-6)
    with pytest.raises(ValueError, match="resume with the same --backend"):
        dA_epoch_costs("c", 0.3, epochs=2, resume=tmp_path / "dA.npz")


@needs_jax
def test_the_data_stay_on_the_jax_device_between_steps(use_backend):
    """``as_shared`` keeps a split as a JAX array, and the steps read that same buffer: no
    copy of the dataset crosses to the device per step. (Broken by leaving the NumPy array
    in the shared variable: JAX copies all of it at every call.)"""
    import jax

    backends.use("jax")
    train_x = as_shared([sample_split()])[0][0]
    held = train_x.get_value(borrow=True)
    assert isinstance(held, jax.Array)
    x = pt.matrix("x")
    da = dA(numpy_rng=np.random.RandomState(1), input=x, n_visible=784, n_hidden=20)
    step, _ = compile_step(*da.get_cost_updates(0.0, 0.1), x, train_x, 20)
    for i in range(3):
        step(np.asarray(i))
    assert train_x.get_value(borrow=True) is held
    assert isinstance(da.W.get_value(borrow=True), jax.Array)  # the weights stay there too


@pytest.mark.parametrize("backend", OTHERS)
def test_the_SdA_fine_tunes_to_the_same_errors_from_the_same_weights(use_backend, backend):
    """(Broken by a scorer that cuts its chunks differently on one backend.)"""
    def finetune(name):
        backends.use(name)
        datasets = as_shared(load_mnist("sample"))
        sda = SdA(np.random.RandomState(89677), n_ins=784, hidden_layers_sizes=[50],
                  corruption_levels=[0.1])
        train_fn, valid_score, test_score = sda.build_finetune_functions(datasets, 10, 0.1)
        costs = [float(train_fn(np.asarray(i))) for i in range(100)]
        return costs, valid_score(), test_score()

    costs, valid, test = finetune("c")
    other_costs, other_valid, other_test = finetune(backend)
    np.testing.assert_allclose(other_costs, costs, rtol=1e-4)
    # error rates: one example more or less moves one by at least 1/1000 (JAX's in float32)
    np.testing.assert_allclose(other_valid, valid, atol=1e-6)
    np.testing.assert_allclose(other_test, test, atol=1e-6)


def fastpath_ops(fn) -> set[str]:
    return {type(node.op).__name__ for node in fn.maker.fgraph.apply_nodes
            if type(node.op).__module__.startswith("deeptutorial")}


@pytest.mark.parametrize("backend", OTHERS)
def test_only_the_C_backend_runs_the_fast_paths_rewrites(use_backend, backend):
    """The batch-size-1 SdA step gets the fast path's own ops on C, none elsewhere.
    (Broken by registering a rewrite without the ``cxx_only`` tag: its C op lands in a
    Numba or JAX graph, which cannot run it.)"""
    from deeptutorial import fastpath

    def pretraining_step(name):
        backends.use(name)
        train_x = as_shared([sample_split(100)])[0][0]
        sda = SdA(np.random.RandomState(1), n_ins=784, hidden_layers_sizes=[30],
                  corruption_levels=[0.1])
        return sda.pretraining_functions(train_x, 1)[0]

    if fastpath.enabled and pytensor.config.cxx:
        assert fastpath_ops(pretraining_step("c"))
    assert not fastpath_ops(pretraining_step(backend))


def test_an_unknown_or_missing_backend_is_one_line_that_says_what_to_do(monkeypatch):
    with pytest.raises(BackendError, match="unknown backend 'cuda': choose one of c, numba, "):
        backends.check("cuda")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jax" else real(name, *a))
    with pytest.raises(BackendError, match=r'needs jax, .*pip install "deeptutorial\[jax\]"'):
        backends.check("jax")
    monkeypatch.setenv(backends.SWITCH, "JAX")
    with pytest.raises(BackendError, match="needs jax"):
        backends.requested(None)
    assert backends.requested("c") == "c"  # the flag wins over the environment


def test_the_pytorch_backend_refuses_a_graph_with_noise_before_training():
    """PyTensor 3.0's PyTorch backend has no random variables: named in one line."""
    x = pt.matrix("x")
    da = dA(numpy_rng=np.random.RandomState(1), input=x, n_visible=784, n_hidden=20)
    cost, updates = da.get_cost_updates(0.3, 0.1)
    problem = backends.graph_problem([cost, updates], "pytorch")
    assert "no random variables" in problem and "\n" not in problem
    assert backends.graph_problem([cost, updates], "jax") is None
    clean_cost, clean_updates = da.get_cost_updates(0.0, 0.1)
    assert backends.graph_problem([clean_cost, clean_updates], "pytorch") is None


def script(name, *args, env=None):
    return subprocess.run([sys.executable, str(REPO / "scripts" / name), *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args, env, word", [
    (["--backend", "cuda"], {}, "unknown backend 'cuda'"),
    ([], {backends.SWITCH: "cuda"}, "unknown backend 'cuda'"),
    pytest.param(["--backend", "pytorch"], {}, "pip install torch", marks=pytest.mark.skipif(
        importlib.util.find_spec("torch") is not None, reason="torch is installed")),
])
def test_a_script_refuses_a_backend_it_cannot_use_in_one_line(tmp_path, args, env, word):
    proc = script("test_dA.py", "--dataset", "sample", *args, "--output-folder", tmp_path,
                  env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], proc.stderr


def small_flags(name: str) -> list[str]:
    """The script's flags for a short run: test_every_script's, without its huge step size."""
    flags, small = DIVERGING[name], []
    for i, flag in enumerate(flags):
        if flag in ("--learning-rate", "--pretrain-lr") or (i and flags[i - 1] in (
                "--learning-rate", "--pretrain-lr")):
            continue
        small.append(flag)
    return small + ([] if name in OWN_DATA else ["--dataset", "sample"])


# Numba takes minutes to compile these scripts' graphs from an empty cache (the WTA one over
# two on the sample); the convolutional autoencoder's script runs the same convolution on
# Numba.
NUMBA_TOO_SLOW = {"stacked_convolutional_autoencoder.py", "conv_wta_autoencoder.py"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("name", sorted(DIVERGING))
def test_every_training_script_trains_on_the_backend(tmp_path, name, backend):
    if backend == "numba" and name in NUMBA_TOO_SLOW:
        pytest.skip("Numba compiles this script's graphs in minutes; the convolution is tested "
                    "through convolutional_autoencoder.py")
    proc = script(name, *small_flags(name), "--backend", backend, "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["settings"]["backend"] == backend


@needs_full_mnist
@pytest.mark.parametrize("backend", OTHERS)
def test_the_first_epoch_on_full_MNIST_is_the_tutorials_on_every_backend(tmp_path, backend):
    """63.2892, the first 0%-corruption epoch the Theano tutorial printed."""
    proc = script("test_dA.py", "--dataset", FULL_MNIST, "--epochs", 1, "--corruption-levels",
                  0, "--backend", backend, "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Training epoch 0, cost 63.2892" in proc.stdout


@needs_jax
def test_the_gpu_record_is_never_made_without_a_gpu(tmp_path):
    """benchmarks/gpu.py stops in one line, writing nothing, where JAX sees no GPU."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--output",
                           str(tmp_path / "gpu")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "gpu.py: error: JAX sees no GPU here (jax.devices('gpu') is empty); the record is made "
        "only on a GPU"]
    assert not (tmp_path / "gpu").exists()
