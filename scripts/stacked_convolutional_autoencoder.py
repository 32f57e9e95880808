"""Stacked convolutional autoencoders (Masci et al., 2011) as the start of a classifier.

    python scripts/stacked_convolutional_autoencoder.py

trains two convolutional autoencoders with max pooling greedily, the second on the first one's
codes; copies their encoders into a convolutional classifier (conv-pool-conv-pool, a hidden
layer, the tutorials' logistic regression) and fine-tunes it on the labels; trains the same
classifier from a random start beside it; and writes ``results.json`` (the test error of both,
at the epoch of their best validation error), ``filters_layer1.png`` (the first layer's filters
after pretraining) and ``validation_error.png`` into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.replace import clone_replace

from deeptutorial import backends
from deeptutorial.cli import SPLITS, add_training_flags, derived_seed, load_datasets, \
    make_parser, new_results, parse_args, positive_float, positive_int, run_script
from deeptutorial.conv_autoencoder import ConvClassifier, PoolingConvAutoencoder
from deeptutorial.nn import shared_floatX
from deeptutorial.optimizers import adam
from deeptutorial.plotting import line_plot
from deeptutorial.results import save_image, write_results
from deeptutorial.training import ErrorCurve, compile_step, n_batches, train
from deeptutorial.utils import filters_image, in_chunks

STARTS = ("pretrained", "random")


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0],
                         output_folder="stacked_convolutional_autoencoder_plots", seed=123)
    add_training_flags(parser, epochs=8, batch_size=128, learning_rate=0.001,
                       optimiser="Adam (fine-tuning)")
    parser.add_argument("--pretraining-epochs", type=positive_int, default=2,
                        help="epochs of each convolutional autoencoder")
    parser.add_argument("--pretrain-lr", type=positive_float, default=0.001,
                        help="Adam's step size for the autoencoders")
    parser.add_argument("--filters", type=positive_int, nargs=2, default=[32, 64],
                        metavar=("F1", "F2"), help="channels of the two convolutional layers")
    parser.add_argument("--n-hidden", type=positive_int, default=256,
                        help="units of the fully connected hidden layer")
    parser.add_argument("--starts", nargs="+", choices=STARTS, default=list(STARTS),
                        help="fine-tune from the pretrained encoders, from a random start, or both")
    return parser


def pretrain(args, train_x) -> tuple[list[PoolingConvAutoencoder], list[dict]]:
    """Greedy layer-wise training: the second autoencoder learns the first one's codes."""
    rng = np.random.RandomState(args.seed)
    first = PoolingConvAutoencoder(rng, filters=args.filters[0])
    # The second layer reads the first one's codes, (14, 14, F1) each, stored as rows.
    second = PoolingConvAutoencoder(rng, input=pt.matrix("codes"), side=14,
                                    in_channels=args.filters[0], filters=args.filters[1],
                                    first=False)
    logs = []
    data = train_x
    for k, layer in enumerate((first, second), start=1):
        cost, _ = layer.training_cost()
        step, seconds = compile_step(cost, adam(cost, layer.params, args.pretrain_lr), layer.x,
                                     data, args.batch_size, name=f"pretrain_{k}")
        history = train(step, n_batches(data, args.batch_size), args.pretraining_epochs,
                        log_format=f"Pre-training layer {k}, epoch {{epoch}}, cost {{cost:.5f}}")
        logs.append({"layer": k, "epoch_costs": history.epoch_costs,
                     "epoch_seconds": history.epoch_seconds, "compile_seconds": seconds})
        if k == 1:  # the second layer learns from the first one's codes, computed once
            encode = backends.function_of_rows(first.encode)
            codes = in_chunks(encode, train_x.get_value(borrow=True), 500)
            data = shared_floatX(codes.reshape(len(codes), -1), "layer_1_codes")
    return [first, second], logs


def fine_tune(start: str, layers, args, datasets) -> dict:
    """Train the classifier on the labels; the test error at the best validation error."""
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = datasets
    clf = ConvClassifier(np.random.RandomState(derived_seed(args.seed, 1)),
                         filters=tuple(args.filters), n_hidden=args.n_hidden,
                         pretrained=layers if start == "pretrained" else None)
    step, seconds = compile_step(clf.cost, adam(clf.cost, clf.params, args.learning_rate), clf.x,
                                 train_x, args.batch_size, y=clf.y, data_y=train_y,
                                 name=f"finetune_{start}")
    values = lambda split: tuple(v.get_value(borrow=True) for v in split)  # noqa: E731
    predict = backends.function_of_rows(
        lambda rows: clone_replace(clf.top.y_pred, {clf.x: rows}))
    curve = ErrorCurve(predict, values((valid_x, valid_y)),
                       values((test_x, test_y)), prefix=f"{start}: ")
    history = train(step, n_batches(train_x, args.batch_size), args.epochs,
                    on_epoch_end=curve.record,
                    log_format=f"{start}: epoch {{epoch}}, cost {{cost:.4f}}")
    best = curve.best()
    return {"best_epoch": best["epoch"],
            "best_validation_error_percent": best["validation_error_percent"],
            "test_error_percent": best["test_error_percent"], "curve": curve.points,
            "epoch_costs": history.epoch_costs, "epoch_seconds": history.epoch_seconds,
            "compile_seconds": seconds}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    datasets = load_datasets(args, uses=SPLITS, labels=True, side=28)
    layers, pretraining = pretrain(args, datasets[0][0])
    W = layers[0].W.get_value()[:, :, 0, :].reshape(9, -1)  # one column per 3x3 kernel
    filters = filters_image(W, tiles=(4, W.shape[1] // 4), scale=8)
    runs = {start: fine_tune(start, layers, args, datasets) for start in dict.fromkeys(args.starts)}
    epochs = [point["epoch"] for point in next(iter(runs.values()))["curve"]]
    chart = line_plot(epochs, {start: [p["validation_error_percent"] for p in run["curve"]]
                               for start, run in runs.items()},
                      title="validation error while fine-tuning", xlabel="epoch",
                      ylabel="error %")
    results = new_results(
        __file__, args, n_train=datasets[0][0].get_value(borrow=True).shape[0],
        test_error_percent={start: run["test_error_percent"] for start, run in runs.items()},
        pretraining=pretraining, finetuning=runs,
        filters_image=save_image(args.output_folder, "filters_layer1.png", filters),
        validation_image=save_image(args.output_folder, "validation_error.png", chart))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
