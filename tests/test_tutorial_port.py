"""The original tutorial drivers, ported the way a reader would port them.

Each function below is the original ``test_dA`` / ``test_SdA`` driver with only the changes
the README's porting table names (``theano`` -> ``pytensor``, ``T`` -> ``pt``,
``RandomStreams(seed)`` -> ``shared_rng(seed=seed)``, the tutorial's modules ->
``deeptutorial``); every call keeps the original's keyword arguments. They run on the bundled
sample with fewer epochs, which the drivers take as arguments.
"""

import os
import timeit

import numpy
import pytensor
import pytensor.tensor as pt
import pytest
from PIL import Image
from pytensor.tensor.random import shared_rng

from deeptutorial import SdA, dA, load_data, tile_raster_images


def ported_test_dA(learning_rate=0.1, training_epochs=15, dataset="mnist.pkl.gz",
                   batch_size=20, output_folder="dA_plots"):
    datasets = load_data(dataset)
    train_set_x, train_set_y = datasets[0]
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    index = pt.lscalar()
    x = pt.matrix("x")
    if not os.path.isdir(output_folder):
        os.makedirs(output_folder)
    os.chdir(output_folder)
    costs = {}
    for corruption_level, name in ((0.0, "filters_corruption_0.png"),
                                   (0.3, "filters_corruption_30.png")):
        rng = numpy.random.RandomState(123)
        pytensor_rng = shared_rng(seed=rng.randint(2 ** 30))
        da = dA(numpy_rng=rng, pytensor_rng=pytensor_rng, input=x, n_visible=28 * 28,
                n_hidden=500)
        cost, updates = da.get_cost_updates(corruption_level=corruption_level,
                                            learning_rate=learning_rate)
        train_da = pytensor.function(
            [index], cost, updates=updates,
            givens={x: train_set_x[index * batch_size: (index + 1) * batch_size]})
        start_time = timeit.default_timer()
        costs[corruption_level] = []
        for epoch in range(training_epochs):
            c = []
            for batch_index in range(n_train_batches):
                c.append(train_da(batch_index))
            print("Training epoch %d, cost " % epoch, numpy.mean(c, dtype="float64"))
            costs[corruption_level].append(numpy.mean(c, dtype="float64"))
        training_time = timeit.default_timer() - start_time
        print("The %d%% corruption code ran for %.2fm" % (corruption_level * 100,
                                                           training_time / 60.0))
        image = Image.fromarray(tile_raster_images(
            X=da.W.get_value(borrow=True).T, img_shape=(28, 28), tile_shape=(10, 10),
            tile_spacing=(1, 1)))
        image.save(name)
    os.chdir("../")
    return costs


def ported_test_SdA(finetune_lr=0.1, pretraining_epochs=15, pretrain_lr=0.001,
                    training_epochs=1000, dataset="mnist.pkl.gz", batch_size=1):
    datasets = load_data(dataset)
    train_set_x, train_set_y = datasets[0]
    n_train_batches = train_set_x.get_value(borrow=True).shape[0]
    n_train_batches //= batch_size
    numpy_rng = numpy.random.RandomState(89677)
    print("... building the model")
    sda = SdA(numpy_rng=numpy_rng, n_ins=28 * 28, hidden_layers_sizes=[1000, 1000, 1000],
              n_outs=10)
    print("... getting the pretraining functions")
    pretraining_fns = sda.pretraining_functions(train_set_x=train_set_x, batch_size=batch_size)
    print("... pre-training the model")
    corruption_levels = [.1, .2, .3]
    pretraining_costs = []
    for i in range(sda.n_layers):
        for epoch in range(pretraining_epochs):
            c = []
            for batch_index in range(n_train_batches):
                c.append(pretraining_fns[i](index=batch_index, corruption=corruption_levels[i],
                                            lr=pretrain_lr))
            print("Pre-training layer %i, epoch %d, cost %f" % (i, epoch, numpy.mean(c)))
            pretraining_costs.append(numpy.mean(c))
    print("... getting the finetuning functions")
    train_fn, validate_model, test_model = sda.build_finetune_functions(
        datasets=datasets, batch_size=batch_size, learning_rate=finetune_lr)
    print("... finetunning the model")
    patience = 10 * n_train_batches
    patience_increase = 2.
    improvement_threshold = 0.995
    validation_frequency = min(n_train_batches, patience // 2)
    best_validation_loss = numpy.inf
    test_score = 0.
    done_looping = False
    epoch = 0
    while (epoch < training_epochs) and (not done_looping):
        epoch = epoch + 1
        for minibatch_index in range(n_train_batches):
            train_fn(minibatch_index)
            iter = (epoch - 1) * n_train_batches + minibatch_index
            if (iter + 1) % validation_frequency == 0:
                validation_losses = validate_model()
                this_validation_loss = numpy.mean(validation_losses)
                print("epoch %i, minibatch %i/%i, validation error %f %%" % (
                    epoch, minibatch_index + 1, n_train_batches, this_validation_loss * 100.))
                if this_validation_loss < best_validation_loss:
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iter * patience_increase)
                    best_validation_loss = this_validation_loss
                    test_losses = test_model()
                    test_score = numpy.mean(test_losses)
            if patience <= iter:
                done_looping = True
                break
    return pretraining_costs, best_validation_loss, test_score, validate_model, test_model


def test_ported_dA_driver_runs_on_the_sample(tmp_path, monkeypatch, float32):
    monkeypatch.chdir(tmp_path)
    costs = ported_test_dA(training_epochs=2, dataset="sample", output_folder="dA_plots")
    for level in (0.0, 0.3):
        assert costs[level][1] < costs[level][0]
        assert (tmp_path / "dA_plots" / f"filters_corruption_{round(level * 100)}.png").is_file()
    assert costs[0.0] != costs[0.3]  # the corruption reached the graph


def test_ported_SdA_driver_runs_on_the_sample(float32):
    pretraining_costs, best_valid, test_score, validate_model, test_model = ported_test_SdA(
        pretraining_epochs=1, training_epochs=1, dataset="sample", batch_size=5)
    assert len(pretraining_costs) == 3 and all(numpy.isfinite(pretraining_costs))
    assert best_valid < 0.3 and 0 < test_score < 0.4  # chance is 0.9
    # the tutorial's scorers return one error rate per minibatch of the set
    losses = validate_model()
    assert isinstance(losses, list) and len(losses) >= 1
    assert numpy.mean(losses) == pytest.approx(best_valid)
