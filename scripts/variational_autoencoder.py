"""Train a variational autoencoder on MNIST and generate new digits from N(0, I).

    python scripts/variational_autoencoder.py

prints each epoch's mean training negative ELBO (nats per digit) and the test set's, and
writes ``generated.png`` (digits decoded from random codes), ``reconstructions.png``
(test digits beside their reconstructions), ``interpolation.png`` (a straight line in
code space between two test digits) and ``results.json`` (with the test set's Parzen-window
log-likelihood of generated digits, the figure the family's other generators are compared
by) into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import contextlib
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.cli import SPLITS, add_training_flags, check_batch_size, fraction_below_one, \
    load_datasets, make_parser, new_results, parse_args, positive_int, run_script
from deeptutorial.evaluation import check_samples_fit, parzen_evaluation
from deeptutorial.optimizers import MovingAverage, adam
from deeptutorial.results import save_image, write_results
from deeptutorial.training import compile_step, n_batches, train
from deeptutorial.utils import digits_image, in_chunks, side_by_side
from deeptutorial.vae import VAE


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="variational_autoencoder_plots",
                         seed=42)
    add_training_flags(parser, epochs=40, batch_size=100, learning_rate=0.001, optimiser="Adam")
    parser.add_argument("--hidden-sizes", type=positive_int, nargs="+", default=[500, 500],
                        help="encoder hidden layers (the decoder mirrors them)")
    parser.add_argument("--n-latent", type=positive_int, default=20,
                        help="dimensions of the code z")
    parser.add_argument("--average-decay", type=fraction_below_one, default=0.999,
                        help="evaluate with an exponential moving average of the parameters, "
                             "a <- decay a + (1 - decay) p after every step (0: no averaging)")
    parser.add_argument("--n-generated", type=positive_int, default=60,
                        help="digits to generate from N(0, I) (10 per row)")
    parser.add_argument("--interpolation-steps", type=positive_int, default=10,
                        help="codes on the line between two test digits")
    parser.add_argument("--n-parzen-samples", type=positive_int, default=10000,
                        help="generated digits (decoder means) the Parzen window is fitted to")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    (train_set_x, _), (valid_set_x, _), (test_set_x, _) = \
        load_datasets(args, uses=SPLITS, batched=("training", "test"))
    n_train, n_visible = train_set_x.get_value(borrow=True).shape
    check_samples_fit((args.n_parzen_samples, n_visible))
    n_test = test_set_x.get_value(borrow=True).shape[0]
    check_batch_size(args.batch_size, n_test, what="test images")
    rng = np.random.RandomState(args.seed)

    x = pt.matrix("x")
    vae = VAE(numpy_rng=rng, input=x, n_visible=n_visible, hidden_sizes=tuple(args.hidden_sizes),
              n_latent=args.n_latent)
    cost, rng_updates = vae.training_cost()
    updates = adam(cost, vae.params, learning_rate=args.learning_rate) + rng_updates
    average = MovingAverage(vae.params, args.average_decay) if args.average_decay > 0 else None
    if average is not None:
        updates += average.updates
    train_step, compile_seconds = compile_step(cost, updates, x, train_set_x, args.batch_size,
                                               name="train_vae")

    def train_vae(i):
        if average is not None:
            average.step()
        return train_step(i)

    # The test bound uses the same one-draw estimate; the generator still has to advance.
    test_vae, _ = compile_step(cost, rng_updates, x, test_set_x, args.batch_size,
                               name="test_vae")
    n_test_batches = n_batches(test_set_x, args.batch_size)
    test_curve: list[float] = []

    def evaluate(epoch, history):
        with average.swapped_in() if average is not None else contextlib.nullcontext():
            test_curve.append(float(np.mean([test_vae(i) for i in range(n_test_batches)])))
        print(f"    test negative ELBO {test_curve[-1]:.2f} nats")

    history = train(train_vae, n_batches(train_set_x, args.batch_size), args.epochs,
                    on_epoch_end=evaluate,
                    log_format="Training epoch {epoch}, negative ELBO {cost:.2f} nats")
    print(f"The VAE trained for {sum(history.epoch_seconds) / 60:.2f}m", file=sys.stderr)
    # From here on the model is the averaged one (if any): images and the final figures.
    if average is not None:
        average.assign()

    z = pt.matrix("z")
    decode = pytensor.function([z], vae.decode(z))
    encode = pytensor.function([x], vae.encode(x))
    reconstruct = pytensor.function([x], vae.reconstruct(x))
    codes = rng.normal(size=(args.n_generated, args.n_latent)).astype(pytensor.config.floatX)
    test_images = test_set_x.get_value(borrow=True)
    originals = test_images[:20]
    ends = encode(test_images[:2])
    weights = np.linspace(0, 1, args.interpolation_steps)[:, None].astype(ends.dtype)
    path = (1 - weights) * ends[0] + weights * ends[1]
    images = {
        "generated_image": ("generated.png", digits_image(decode(codes))),
        "reconstructions_image": ("reconstructions.png", side_by_side(
            [digits_image(originals, 5), digits_image(reconstruct(originals), 5)])),
        "interpolation_image": ("interpolation.png", digits_image(
            np.concatenate([test_images[:1], decode(path), test_images[1:2]]),
            args.interpolation_steps + 2)),
    }
    print("... Parzen-window log-likelihood of generated digits")
    generated = in_chunks(decode, rng.normal(size=(args.n_parzen_samples, args.n_latent))
                          .astype(pytensor.config.floatX))
    parzen = parzen_evaluation(generated, valid_set_x.get_value(borrow=True), test_images)
    results = new_results(
        __file__, args, n_train=n_train, n_test=n_test, test_neg_elbo_nats=test_curve[-1],
        test_neg_elbo_note="one reparameterised draw per test digit, averaged over "
                           f"{n_test_batches * args.batch_size} digits, with the "
                           "moving-average parameters when --average-decay > 0",
        epoch_train_neg_elbo_nats=history.epoch_costs, epoch_test_neg_elbo_nats=test_curve,
        epoch_seconds=history.epoch_seconds, compile_seconds=compile_seconds, **parzen)
    for key, (name, pixels) in images.items():
        results[key] = save_image(args.output_folder, name, pixels)
    write_results(args.output_folder, results)
    print(f"test negative ELBO: {test_curve[-1]:.2f} nats per digit")
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
