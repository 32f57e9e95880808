import json

import numpy as np
import pytensor
import pytest
from pytensor.tensor.blas import Dot22, Gemm
from pytensor.tensor.blas_c import CGemv, CGer

from deeptutorial import SdA, load_data
from deeptutorial.fastpath.row_pass import RowPass
from deeptutorial.training import EarlyStopping, train_with_early_stopping

from test_scripts import assert_one_line_error, run


def small_sda(seed=1, sizes=(40, 30), levels=(0.1, 0.2)):
    return SdA(numpy_rng=np.random.RandomState(seed), n_ins=784, hidden_layers_sizes=list(sizes),
               n_outs=10, corruption_levels=list(levels))


def test_dA_layers_share_the_mlp_weights_themselves():
    sda = small_sda()
    assert len(sda.dA_layers) == len(sda.sigmoid_layers) == 2
    for layer, da in zip(sda.sigmoid_layers, sda.dA_layers):
        assert da.W is layer.W and da.b is layer.b
    assert sda.dA_layers[1].x is sda.sigmoid_layers[0].output
    assert sda.params == [sda.sigmoid_layers[0].W, sda.sigmoid_layers[0].b,
                          sda.sigmoid_layers[1].W, sda.sigmoid_layers[1].b,
                          sda.logLayer.W, sda.logLayer.b]
    W = sda.sigmoid_layers[0].W.get_value()
    assert abs(W).max() <= 4 * np.sqrt(6 / (784 + 40))  # sigmoid: 4x Glorot's range


def pretrain(sda, train_set_x, epochs, cached, batch_size=20, lr=0.05, levels=(0.0, 0.0)):
    fns = sda.pretraining_functions(train_set_x, batch_size, cached=cached)
    n_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    costs = []
    for k, fn in enumerate(fns):
        if cached and k > 0:
            sda.cache_layer_input(k, train_set_x)
        costs.append([np.mean([fn(i, corruption=levels[k], lr=lr) for i in range(n_batches)])
                      for _ in range(epochs)])
    return costs


def test_each_pretraining_function_lowers_its_layers_cost(float32):
    train_set_x = load_data("sample")[0][0]
    costs = pretrain(small_sda(), train_set_x, epochs=3, cached=False, levels=(0.1, 0.2))
    for layer_costs in costs:
        assert layer_costs[-1] < 0.97 * layer_costs[0]


def test_cached_pretraining_gives_the_same_costs(float32):
    """At the tutorial's corruption levels, with noise drawn: the cached path must read the
    same inputs and draw the same noise. (Broken by caching layer k's own outputs instead of
    layer k-1's, ``self.sigmoid_layers[k].output`` in cache_layer_input: the costs differ.)"""
    train_set_x = load_data("sample")[0][0]
    levels = (0.1, 0.2, 0.3)
    sizes = (40, 40, 40)  # equal, so that a wrong layer's outputs would fit too
    default = pretrain(small_sda(seed=5, sizes=sizes, levels=levels), train_set_x, epochs=1,
                       cached=False, levels=levels)
    cached = pretrain(small_sda(seed=5, sizes=sizes, levels=levels), train_set_x, epochs=1,
                      cached=True, levels=levels)
    np.testing.assert_allclose(cached, default, rtol=1e-5)
    clean = pretrain(small_sda(seed=5, sizes=sizes, levels=levels), train_set_x, epochs=1,
                     cached=True, levels=(0.0, 0.0, 0.0))
    assert not np.allclose(clean, default, rtol=1e-3)  # the noise was drawn


def test_finetuning_lowers_validation_error_well_below_chance(float32):
    datasets = load_data("sample")
    sda = small_sda()
    pretrain(sda, datasets[0][0], epochs=1, cached=True)
    train_fn, valid_score, test_score = sda.build_finetune_functions(datasets, 10, 0.1)
    before = np.mean(valid_score())
    for _ in range(2):
        for i in range(250):
            train_fn(i)
    after = np.mean(valid_score())
    assert before > 0.8 and after < 0.25
    assert 0 <= np.mean(test_score()) < 0.4  # the sample's test digits are harder


def scripted_run(losses_at_validation, n_batches=10, max_epochs=100):
    """Fine-tune with a step that does nothing and a scripted validation curve."""
    curve = iter(losses_at_validation)
    steps = []
    history = train_with_early_stopping(
        lambda i: steps.append(i) or 1.0, n_batches, max_epochs,
        valid_score=lambda: [next(curve)], test_score=lambda: [0.5],
        log=lambda line: None)
    return history, len(steps)


def test_early_stopping_without_late_improvement_stops_at_initial_patience():
    # patience = 10 epochs x 10 batches = 100; validation every 10 minibatches
    history, n_steps = scripted_run([0.5, 0.4, 0.3] + [0.3] * 100)
    assert n_steps == 101  # iterations 0..100: stops once patience (100) <= iteration
    assert history.epochs == 11 and history.best_iter == 29
    assert len(history.validation_curve) == 10


def test_early_stopping_extends_patience_on_clear_improvement():
    losses = [0.9 ** k for k in range(9)] + [0.9 ** 8] * 100  # last gain at iteration 89
    history, n_steps = scripted_run(losses)
    assert history.best_iter == 89
    assert n_steps == 179  # patience = 2 x 89 = 178
    assert history.epochs == 18 and len(history.validation_curve) == 17
    assert history.validation_curve[-1] == {"epoch": 17, "minibatch": 10,
                                            "error_percent": pytest.approx(100 * 0.9 ** 8)}


def test_early_stopping_small_gains_count_as_best_but_do_not_extend():
    stopper = EarlyStopping(10)
    assert stopper.record(95, 0.5) and stopper.patience == 190
    assert stopper.record(150, 0.499) and stopper.patience == 190  # < 0.5% better
    assert stopper.best_iter == 150 and not stopper.record(160, 0.6)


@pytest.mark.parametrize("kwargs, word", [
    (dict(hidden_layers_sizes=[10, 10], corruption_levels=[0.1]), "same length"),
    (dict(hidden_layers_sizes=[], corruption_levels=[]), "empty"),
    (dict(hidden_layers_sizes=[10, 0], corruption_levels=[0.1, 0.1]), "got 0"),
    (dict(n_outs=1), "n_outs"),
    (dict(corruption_levels=[0.1, 1.5]), "1.5"),
])
def test_bad_arguments_are_named(kwargs, word):
    args = dict(hidden_layers_sizes=[10, 10], corruption_levels=[0.1, 0.1], n_outs=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=word):
        SdA(numpy_rng=np.random.RandomState(0), n_ins=784, **args)


def test_labels_outside_the_classes_are_refused(float32):
    datasets = load_data("sample")
    sda = SdA(numpy_rng=np.random.RandomState(0), n_ins=784, hidden_layers_sizes=[10],
              n_outs=5, corruption_levels=[0.1])
    with pytest.raises(ValueError, match=r"label 9 is outside \[0, 5\)"):
        sda.build_finetune_functions(datasets, 10, 0.1)


def test_SdA_script_end_to_end(tmp_path):
    proc = run("test_SdA.py", "--dataset", "sample", "--pretraining-epochs", 1,
               "--training-epochs", 2, "--batch-size", 10, "--hidden-layers", 30, 20,
               "--corruption-levels", 0.1, 0.2, "--pretrain-lr", 0.01, "--cached-pretraining",
               "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Pre-training layer 1, epoch 0, cost" in proc.stdout
    assert "test error of best model" in proc.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    for key in ("settings", "pretraining", "validation_curve", "best_validation_error_percent",
                "test_error_percent", "finetune_epochs", "pretraining_seconds",
                "finetuning_seconds", "filters_image"):
        assert key in results
    assert [p["layer"] for p in results["pretraining"]] == [0, 1]
    assert len(results["pretraining"][1]["epoch_costs"]) == 1
    assert results["finetune_epochs"] == 2 and len(results["validation_curve"]) == 2
    assert results["test_error_percent"] < 60
    assert (tmp_path / results["filters_image"]).stat().st_size > 0


@pytest.mark.parametrize("args, word", [
    (["--hidden-layers", "10", "10", "--corruption-levels", "0.1"], "one value per layer"),
    (["--hidden-layers", "0"], "got 0"),
    (["--finetune-lr", "0"], "got 0"),
])
def test_SdA_script_bad_input_is_one_line(tmp_path, args, word):
    assert_one_line_error(run("test_SdA.py", "--dataset", "sample", "--output-folder", tmp_path,
                              *args), word)


@pytest.mark.skipif(pytensor.config.linker != "cvm" or not pytensor.config.blas__ldflags,
                    reason="the C backend with a BLAS is not in use (DEEPTUTORIAL_FASTPATH=0?)")
def test_batch_size_one_uses_matrix_vector_blas_and_checks_the_index(float32):
    """minibatch() gives the slice a static batch size: at 1, the pretraining step's
    products become matrix-vector products and rank-1 updates (gemv/ger calls, or the fast
    path's row passes that replace them), not one-row matrix products; and an index past the
    end of the data raises instead of silently training on nothing."""
    rng = np.random.default_rng(0)
    train_set_x = pytensor.shared(rng.random((5, 784), dtype="float32"))
    labels = pytensor.shared(np.arange(5, dtype="int32"))
    sda = small_sda(sizes=(40, 30))
    fn = sda.pretraining_functions(train_set_x, batch_size=1)[0]
    train_fn, _, _ = sda.build_finetune_functions([(train_set_x, labels)] * 3, 1, 0.1)
    for compiled in (fn, train_fn):
        ops = [node.op for node in compiled.maker.fgraph.toposort()]
        assert not any(isinstance(op, (Dot22, Gemm)) for op in ops)
        assert all(any(isinstance(op, kinds) for op in ops)
                   for kinds in ((CGemv, RowPass), (CGer, RowPass)))
        assert any(isinstance(op, (CGer, RowPass)) and op.destroy_map for op in ops)
    assert np.isfinite(train_fn(4))
    assert np.isfinite(fn(4, corruption=0.1, lr=0.01))
    with pytest.raises(Exception, match="shape"):
        fn(5, corruption=0.1, lr=0.01)


def test_no_pretraining_fine_tunes_the_random_start(tmp_path):
    """With --no-pretraining nothing is pretrained: at a vanishing fine-tuning step size the
    saved first layer is still the seed's random initialisation (a run that pretrains moves it
    by the pretraining steps, checked alongside so the comparison can fail)."""
    common = ["--dataset", "sample", "--training-epochs", 1, "--batch-size", 10,
              "--hidden-layers", 30, 20, "--corruption-levels", 0.1, 0.2, "--pretrain-lr", 0.1,
              "--finetune-lr", 1e-12, "--save-model", "--seed", 7]
    bare = run("test_SdA.py", *common, "--no-pretraining", "--output-folder", tmp_path / "bare")
    assert bare.returncode == 0, bare.stderr
    assert "Pre-training" not in bare.stdout and "test error of best model" in bare.stdout
    pre = run("test_SdA.py", *common, "--pretraining-epochs", 1, "--output-folder",
              tmp_path / "pre")
    assert pre.returncode == 0, pre.stderr
    results = json.loads((tmp_path / "bare" / "results.json").read_text())
    assert results["pretraining"] == [] and results["pretraining_seconds"] == 0
    assert results["settings"]["no_pretraining"] is True
    assert "filters_image_pretrained" not in results
    start = SdA(numpy_rng=np.random.RandomState(7), n_ins=784, hidden_layers_sizes=[30, 20],
                n_outs=10, corruption_levels=[0.1, 0.2])
    W0 = start.sigmoid_layers[0].W.get_value()
    bare_W = np.load(tmp_path / "bare" / "model.npz")["layer0.W"]
    pre_W = np.load(tmp_path / "pre" / "model.npz")["layer0.W"]
    np.testing.assert_allclose(bare_W, W0, atol=1e-6)
    assert np.abs(pre_W - W0).max() > 1e-3


def test_unchecked_step_checks_once_then_trusts(float32):
    """The pretraining loop's step skips PyTensor's per-call input checks, so it checks the
    fixed inputs itself, once: a Python float or a float64 array is refused, a right one
    gives the same cost as the checked call."""
    from deeptutorial.training import unchecked_step

    train_set_x = load_data("sample")[0][0]
    costs = []
    for trusted in (False, True):
        sda = small_sda(seed=3)
        fn = sda.pretraining_functions(train_set_x, batch_size=1)[0]
        fixed = [np.asarray(v, dtype="float32") for v in (0.0, 0.01)]
        if trusted:
            for bad in ([0.0, fixed[1]], [fixed[0], np.asarray(0.01)], [fixed[0]]):
                with pytest.raises(TypeError):
                    unchecked_step(fn, *bad)
            step = unchecked_step(fn, *fixed)
            assert fn.trust_input
        else:
            step = lambda i: fn(i, corruption=fixed[0], lr=fixed[1])  # noqa: E731
        costs.append([float(step(np.asarray(i, dtype=np.int64))) for i in range(5)])
    np.testing.assert_allclose(costs[0], costs[1], rtol=1e-6)
    assert costs[0][0] != costs[0][-1]  # the steps trained
