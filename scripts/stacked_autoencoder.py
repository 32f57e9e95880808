"""Stacked autoencoder 784-300-150-300-784 on MNIST, trained four ways.

    python scripts/stacked_autoencoder.py

The variants (``--variants``, all by default) are
  all_at_once          the whole network trained as one, untied weights
  tied                 decoder weights are the encoder's transposes (biases untied)
  separate_graphs      one shallow autoencoder at a time, each in its own graph, then stacked
  single_graph_phases  one autoencoder at a time in the stacked graph itself: phase 1 trains
                       the outer layers, phase 2 the inner ones from cached hidden-layer-1 outputs
Every variant uses ELU, He initialisation, an L2 penalty on the trained weights and Adam.
It writes ``results.json`` (``test_mse`` per variant), ``reconstructions.png``,
``features_layer1_<variant>.png``, ``top_activating_images.png`` and
``activation_maximisation.png`` into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys
import time

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.cli import load_datasets, make_parser, new_results, non_negative_float, \
    non_negative_int, parse_args, positive_float, positive_int, run_script
from deeptutorial.optimizers import adam
from deeptutorial.results import save_image, write_results
from deeptutorial.stacked_autoencoder import StackedAutoencoder, activation_maximisation
from deeptutorial.training import compile_step, n_batches, train
from deeptutorial.utils import filters_image, image_shape, tile_raster_images

VARIANTS = ("all_at_once", "tied", "separate_graphs", "single_graph_phases")


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="stacked_autoencoder_plots",
                         seed=42)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="which ways of training to run")
    parser.add_argument("--hidden-sizes", type=positive_int, nargs=2, default=[300, 150],
                        metavar=("N_HIDDEN1", "N_CODINGS"), help="hidden and coding units")
    parser.add_argument("--epochs", type=positive_int, default=4,
                        help="epochs for the variants trained all at once")
    parser.add_argument("--phase-epochs", type=positive_int, default=4,
                        help="epochs of each phase for the one-at-a-time variants")
    parser.add_argument("--batch-size", type=positive_int, default=150, help="minibatch size")
    parser.add_argument("--learning-rate", type=positive_float, default=0.002,
                        help="Adam's step size")
    parser.add_argument("--l2-reg", type=non_negative_float, default=0.00001,
                        help="weight of the L2 penalty on the trained weights")
    parser.add_argument("--units", type=non_negative_int, nargs="+",
                        default=[0, 1, 2, 3, 4, 5, 6, 7],
                        help="coding units whose most exciting images are shown")
    parser.add_argument("--top-images", type=positive_int, default=10,
                        help="training images shown per chosen coding unit")
    parser.add_argument("--ascent-steps", type=positive_int, default=300,
                        help="gradient-ascent steps of the activation maximisation")
    return parser


def fit(cost, params: list, x, data, args, name: str) -> dict:
    """Train ``params`` on ``cost`` by Adam over minibatches of the shared ``data``."""
    step, compile_seconds = compile_step(cost, adam(cost, params, args.learning_rate), x, data,
                                         args.batch_size, name=name)
    epochs = args.epochs if name in ("all_at_once", "tied") else args.phase_epochs
    history = train(step, n_batches(data, args.batch_size), epochs,
                    log_format=f"{name}: epoch {{epoch}}, cost {{cost:.5f}}")
    return {"epoch_costs": history.epoch_costs, "epoch_seconds": history.epoch_seconds,
            "compile_seconds": compile_seconds}


def enlarge(pixels: np.ndarray, factor: int = 2) -> np.ndarray:
    """Each pixel repeated ``factor`` times both ways (small mosaics become readable)."""
    return np.kron(pixels, np.ones((factor, factor), dtype=np.uint8))


def hidden_values(model: StackedAutoencoder, data) -> np.ndarray:
    """The first hidden layer's outputs for all rows of the shared ``data`` (computed once)."""
    return pytensor.function([], model.hidden[0], givens={model.x: data})()


def train_variant(variant: str, args, train_x, rng: np.random.RandomState) -> tuple:
    sizes = (train_x.get_value(borrow=True).shape[1], *args.hidden_sizes)
    x = pt.matrix("x")
    log = {}
    if variant in ("all_at_once", "tied"):
        model = StackedAutoencoder(rng, input=x, layer_sizes=sizes, tied=variant == "tied",
                                   l2_reg=args.l2_reg)
        log["training"] = fit(model.training_cost()[0], model.params, x, train_x, args, variant)
    elif variant == "separate_graphs":
        # Phase 1: a 784-300-784 autoencoder in its own graph, linear output.
        outer = StackedAutoencoder(rng, input=x, layer_sizes=sizes[:2], l2_reg=args.l2_reg)
        log["phase1"] = fit(outer.training_cost()[0], outer.params, x, train_x, args,
                            f"{variant} phase 1")
        # Phase 2: a 300-150-300 autoencoder trained on phase 1's hidden outputs, ELU output
        # (in the stacked network that layer feeds the next one, so it keeps its ELU).
        h1 = pytensor.shared(hidden_values(outer, train_x), borrow=True)
        x2 = pt.matrix("h1")
        inner = StackedAutoencoder(rng, input=x2, layer_sizes=sizes[1:], l2_reg=args.l2_reg,
                                   output_activation="elu")
        log["phase2"] = fit(inner.training_cost()[0], inner.params, x2, h1, args,
                            f"{variant} phase 2")
        model = StackedAutoencoder(rng, input=x, layer_sizes=sizes, l2_reg=args.l2_reg)
        model.copy_layer_from(1, outer)
        model.copy_layer_from(2, inner)
    else:  # single_graph_phases
        model = StackedAutoencoder(rng, input=x, layer_sizes=sizes, l2_reg=args.l2_reg)
        cost1, params1 = model.phase_cost(1)
        log["phase1"] = fit(cost1, params1, x, train_x, args, f"{variant} phase 1")
        # Hidden layer 1 is frozen from now on: compute its outputs once and train phase 2
        # from that cache instead of recomputing them every minibatch.
        h1 = pytensor.shared(hidden_values(model, train_x), borrow=True)
        h1_in = pt.matrix("h1")
        cost2, params2 = model.phase_cost(2, input=h1_in)
        log["phase2"] = fit(cost2, params2, h1_in, h1, args, f"{variant} phase 2")
    return model, log


def main(argv: list[str] | None = None) -> dict:
    parser = flags()
    args = parse_args(parser, argv)
    bad = [u for u in args.units if not 0 <= u < args.hidden_sizes[1]]
    if bad:
        parser.error(f"argument --units: expected indices in 0..{args.hidden_sizes[1] - 1}, "
                     f"got {bad[0]}")
    (train_x, _), _, (test_x, _) = load_datasets(args, uses=("training", "test"))
    n_train, n_visible = train_x.get_value(borrow=True).shape
    results = new_results(__file__, args, n_train=n_train, test_mse={}, variants={}, images={})
    digits = test_x.get_value(borrow=True)[:10]
    rows = [digits]
    models = {}
    for variant in args.variants:
        rng = np.random.RandomState(args.seed)
        start = time.perf_counter()
        model, log = train_variant(variant, args, train_x, rng)
        log["seconds"] = time.perf_counter() - start
        models[variant] = model
        test_mse = float(pytensor.function([], model.cost_terms()[0]["reconstruction"],
                                           givens={model.x: test_x})())
        print(f"{variant}: test MSE {test_mse:.5f} ({log['seconds']:.0f} s)")
        results["test_mse"][variant] = test_mse
        results["variants"][variant] = log
        rows.append(pytensor.function([model.x], model.reconstruct())(digits))
        results["images"][f"features_layer1_{variant}"] = save_image(
            args.output_folder, f"features_layer1_{variant}.png",
            filters_image(model.W[0].get_value()))

    # Originals (first row) above each variant's reconstructions, in --variants order.
    results["reconstruction_rows"] = ["original"] + list(args.variants)
    results["images"]["reconstructions"] = save_image(
        args.output_folder, "reconstructions.png",
        tile_raster_images(np.concatenate(rows), img_shape=image_shape(n_visible),
                           tile_shape=(len(rows), 10), tile_spacing=(2, 2)))

    # Features of chosen coding units, for the first variant trained.
    model = models[args.variants[0]]
    results["feature_variant"] = args.variants[0]
    codings = pytensor.function([], model.encode(model.x), givens={model.x: train_x})()
    images = train_x.get_value(borrow=True)
    top = np.argsort(-codings[:, args.units], axis=0)[:args.top_images].T  # (units, top)
    results["images"]["top_activating"] = save_image(
        args.output_folder, "top_activating_images.png",
        enlarge(tile_raster_images(images[top.ravel()], img_shape=image_shape(n_visible),
                                   tile_shape=(len(args.units), args.top_images),
                                   tile_spacing=(2, 2))))
    start = np.random.RandomState(args.seed).uniform(0.0, 0.2, (len(args.units), n_visible))
    dreamt = activation_maximisation(model, model.n_layers, list(args.units), start,
                                     n_steps=args.ascent_steps)
    results["images"]["activation_maximisation"] = save_image(
        args.output_folder, "activation_maximisation.png",
        enlarge(tile_raster_images(dreamt, img_shape=image_shape(n_visible),
                                   tile_shape=(1, len(args.units)), tile_spacing=(2, 2)), 3))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
