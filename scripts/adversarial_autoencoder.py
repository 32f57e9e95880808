"""Train an adversarial autoencoder on MNIST: a 2-D code pushed towards a chosen prior.

    python scripts/adversarial_autoencoder.py --prior mixture
    python scripts/adversarial_autoencoder.py --prior normal

alternates three compiled functions on every minibatch (reconstruction, discrimination,
generation), lowering their step sizes from epoch to epoch (over the last ``--decay-epochs``,
by default all of them), and prints each epoch's mean cost of each phase; then writes
``codes.png`` (the test digits' codes coloured by digit, over samples of the prior),
``manifold.png`` (digits decoded from a grid over the prior; both in the code's first two
dimensions), ``generated.png``, ``reconstructions.png`` and ``results.json`` (per-phase
costs, the discriminator's final accuracy and the test set's Parzen-window log-likelihood of
generated digits) into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng
from scipy.stats import norm

from deeptutorial import backends
from deeptutorial.adversarial_autoencoder import PRIORS, AdversarialAutoencoder
from deeptutorial.cli import SPLITS, add_training_flags, derived_seed, load_datasets, \
    make_parser, new_results, non_negative_int, open_fraction, parse_args, positive_float, \
    positive_int, run_script, training_figures
from deeptutorial.evaluation import check_samples_fit, parzen_evaluation
from deeptutorial.losses import cross_entropy
from deeptutorial.plotting import scatter_plot
from deeptutorial.results import save_image, write_results
from deeptutorial.training import compile_step, n_batches, train
from deeptutorial.utils import digits_image, in_chunks, side_by_side


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="adversarial_autoencoder_plots",
                         seed=2015)
    add_training_flags(parser, epochs=30, batch_size=100, learning_rate=0.001,
                       optimiser="Adam (reconstruction and generation phases)")
    parser.add_argument("--discriminator-lr", type=positive_float, default=0.0002,
                        help="Adam's step size in the discrimination phase")
    parser.add_argument("--prior", choices=PRIORS, default="mixture",
                        help="the distribution the codes are pushed towards: a mixture of 10 "
                             "Gaussians on a circle, or N(0, I)")
    parser.add_argument("--code-size", type=positive_int, default=2,
                        help="dimensions of the code (the images of codes and of the "
                             "manifold show the first two)")
    parser.add_argument("--hidden-sizes", type=positive_int, nargs="+", default=[1000, 1000],
                        help="encoder hidden layers (the decoder mirrors them)")
    parser.add_argument("--discriminator-sizes", type=positive_int, nargs="+",
                        default=[1000, 1000], help="the discriminator's hidden layers")
    parser.add_argument("--decay-epochs", type=non_negative_int, default=None,
                        help="the last epochs, over which every phase's step size falls "
                             "geometrically to --final-lr-fraction of its start (default: "
                             "all of --epochs; 0: constant step sizes)")
    parser.add_argument("--final-lr-fraction", type=open_fraction, default=0.1,
                        help="the step sizes in the last epoch, as a fraction of the first's")
    parser.add_argument("--n-parzen-samples", type=positive_int, default=10000,
                        help="generated digits the Parzen window is fitted to")
    return parser


def step_size_factor(epoch: int, args) -> float:
    """The fraction of every starting step size used in ``epoch`` (counted from 0): 1 before
    the last ``--decay-epochs``, then one geometric step down per epoch, reaching
    ``--final-lr-fraction`` in the last. When every epoch decays (the default), the first
    already takes one step down."""
    first_decayed = args.epochs - args.decay_epochs
    if args.decay_epochs == 0 or epoch < first_decayed:
        return 1.0
    steps = min(epoch - first_decayed + 1, args.decay_epochs)  # no further after the last
    return args.final_lr_fraction ** (steps / args.decay_epochs)


def manifold(aae: AdversarialAutoencoder, decode, n: int = 20) -> np.ndarray:
    """Digits decoded from an n x n grid over the prior's first two dimensions (any others
    at 0, where both priors centre them): the circle of means (and a margin) for the
    mixture, the 2.5%..97.5% quantiles of each coordinate for N(0, I)."""
    if aae.prior == "mixture":
        reach = aae.radius + 2 * aae.component_std
        axis = np.linspace(-reach, reach, n)
    else:
        axis = norm.ppf(np.linspace(0.025, 0.975, n))
    grid = np.zeros((n * n, aae.code_size), dtype=pytensor.config.floatX)
    grid[:, :2] = [[x, y] for y in axis[::-1] for x in axis]
    return digits_image(decode(grid), n)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    if args.prior == "mixture" and args.code_size < 2:
        raise ValueError(f"--prior mixture lies in two dimensions: --code-size must be >= 2, "
                         f"got {args.code_size}")
    if args.decay_epochs is None:
        args.decay_epochs = args.epochs
    if args.decay_epochs > args.epochs:
        raise ValueError(f"--decay-epochs {args.decay_epochs} is more than the "
                         f"{args.epochs} --epochs")
    (train_set_x, _), (valid_set_x, _), (test_set_x, test_set_y) = \
        load_datasets(args, uses=SPLITS, labels=True)
    n_train, n_visible = train_set_x.get_value(borrow=True).shape
    check_samples_fit((args.n_parzen_samples, n_visible))
    rng = np.random.RandomState(args.seed)

    x = pt.matrix("x")
    aae = AdversarialAutoencoder(
        numpy_rng=rng, input=x, n_visible=n_visible, hidden_sizes=tuple(args.hidden_sizes),
        code_size=args.code_size, prior=args.prior,
        discriminator_sizes=tuple(args.discriminator_sizes))
    floatX = pytensor.config.floatX
    # shared, so that the schedule can lower them between epochs without recompiling
    learning_rate = pytensor.shared(np.asarray(0.0, floatX), "learning_rate")
    discriminator_lr = pytensor.shared(np.asarray(0.0, floatX), "discriminator_lr")

    def set_step_sizes(epoch):
        factor = step_size_factor(epoch, args)
        learning_rate.set_value(np.asarray(args.learning_rate * factor, floatX))
        discriminator_lr.set_value(np.asarray(args.discriminator_lr * factor, floatX))

    set_step_sizes(0)
    phases = aae.phases(x, learning_rate=learning_rate,
                        discriminator_learning_rate=discriminator_lr)
    steps, compile_seconds = {}, 0.0
    for name, (cost, updates) in phases.items():
        steps[name], seconds = compile_step(cost, updates, x, train_set_x, args.batch_size,
                                            name=name)
        compile_seconds += seconds
    phase_costs: dict[str, list[float]] = {name: [] for name in phases}
    epoch_costs: dict[str, list[float]] = {name: [] for name in phases}

    def step(i):
        # the paper's order: reconstruct, then discriminate, then fool the discriminator
        for name, fn in steps.items():
            phase_costs[name].append(float(fn(i)))
        return phase_costs["reconstruction"][-1]

    def end_of_epoch(epoch, history):
        set_step_sizes(epoch + 1)
        for name, costs in phase_costs.items():
            epoch_costs[name].append(float(np.mean(costs)))
            costs.clear()
        print(f"    discriminator {epoch_costs['discrimination'][-1]:.4f}, "
              f"generator {epoch_costs['generation'][-1]:.4f}")

    history = train(step, n_batches(train_set_x, args.batch_size), args.epochs,
                    on_epoch_end=end_of_epoch,
                    log_format="Training epoch {epoch}, reconstruction {cost:.2f} nats")
    print(f"The adversarial autoencoder trained for {sum(history.epoch_seconds) / 60:.2f}m",
          file=sys.stderr)

    z = pt.matrix("z")
    encode = pytensor.function([x], aae.encode(x))
    decode = pytensor.function([z], aae.decode(z))
    discriminate = pytensor.function([z], aae.discriminate(z))
    # per digit, so that in_chunks can average a whole split
    reconstruction = pytensor.function([x], cross_entropy(x, aae.decoder_logits(aae.encode(x))))
    test_images = test_set_x.get_value(borrow=True)
    test_labels = np.asarray(test_set_y.eval())
    # a stream of its own: the training stream is left where training stopped
    prior_stream = shared_rng(seed=derived_seed(args.seed, 1))

    def draw(n: int) -> np.ndarray:
        """``n`` draws from the prior; ``n`` is fixed in the graph (JAX needs sizes it can see),
        so each ``n`` has its own graph on the one stream (which PyTensor would warn of)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*has already been used")
            samples, updates = aae.sample_prior(n, prior_stream)
        return backends.function([], samples, updates=updates)()

    codes = in_chunks(encode, test_images)
    prior_samples = draw(len(test_images))
    code_logits = discriminate(codes)
    prior_logits = discriminate(prior_samples)
    accuracy = 0.5 * (np.mean(prior_logits > 0) + np.mean(code_logits <= 0))
    test_cross_entropy = float(np.mean(in_chunks(reconstruction, test_images)))

    print("... Parzen-window log-likelihood of generated digits")
    generated = in_chunks(decode, draw(args.n_parzen_samples))
    parzen = parzen_evaluation(generated, valid_set_x.get_value(borrow=True), test_images)

    originals = test_images[:20]
    images = {
        "generated_image": ("generated.png", digits_image(generated[:100])),
        "reconstructions_image": ("reconstructions.png", side_by_side(
            [digits_image(originals, 5), digits_image(decode(encode(originals)), 5)])),
    }
    if args.code_size >= 2:  # the first two dimensions (all of them for a 2-D code)
        shown = slice(0, 5000)
        which = "" if args.code_size == 2 else f", first 2 of {args.code_size} dimensions"
        images["codes_image"] = ("codes.png", scatter_plot(
            codes[shown, :2], test_labels[shown], background=prior_samples[shown, :2],
            title=f"test codes by digit over the {args.prior} prior (grey){which}",
            xlabel="z1", ylabel="z2", size=(560, 560)))
        images["manifold_image"] = ("manifold.png", manifold(aae, decode))
    results = new_results(
        __file__, args, n_train=n_train, n_params=int(sum(p.get_value().size
                                                           for p in aae.params)),
        test_cross_entropy=test_cross_entropy, discriminator_accuracy=float(accuracy),
        epoch_reconstruction_costs=epoch_costs["reconstruction"],
        epoch_discriminator_costs=epoch_costs["discrimination"],
        epoch_generator_costs=epoch_costs["generation"],
        step_size_factors=[step_size_factor(e, args) for e in range(args.epochs)], **parzen,
        **training_figures(history, compile_seconds))
    for key, (name, pixels) in images.items():
        results[key] = save_image(args.output_folder, name, pixels)
    write_results(args.output_folder, results)
    print(f"test reconstruction cross-entropy {test_cross_entropy:.2f} nats, discriminator "
          f"accuracy {accuracy:.3f}")
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
