"""Train a denoising autoencoder with walkback and sample digits from its Markov chain.

    python scripts/gsn_sampling.py

trains a generative denoising autoencoder (salt-and-pepper corruption, walkback training),
prints each epoch's mean walkback cost, runs its chain (corrupt, reconstruct, sample, repeat)
from noise and from test digits, and writes ``chains_from_noise.png``,
``chains_from_digits.png`` (one chain a row, one step a column), ``samples.png`` and
``results.json`` (costs, and the test set's Parzen-window log-likelihood of samples of the
chain, sigma chosen on the validation set) into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng

from deeptutorial.cli import SPLITS, add_training_flags, check_batch_size, derived_seed, \
    load_datasets, make_parser, new_results, non_negative_int, open_fraction, parse_args, \
    positive_int, run_script, training_figures
from deeptutorial.evaluation import check_samples_fit, parzen_evaluation
from deeptutorial.gsn import GenerativeDenoisingAutoencoder, run_chain
from deeptutorial.losses import cross_entropy
from deeptutorial.optimizers import adam
from deeptutorial.results import save_image, write_results
from deeptutorial.training import compile_step, n_batches, train
from deeptutorial.utils import digits_image, in_chunks


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="gsn_sampling_plots", seed=2013)
    add_training_flags(parser, epochs=30, batch_size=100, learning_rate=0.001, optimiser="Adam",
                       n_hidden=1000)
    parser.add_argument("--walkback", type=positive_int, default=3,
                        help="chain steps from each training digit whose reconstructions are "
                             "trained to give back that digit (1: a plain denoising autoencoder)")
    parser.add_argument("--noise-level", type=open_fraction, default=0.4,
                        help="probability that salt-and-pepper noise sets a pixel to 0 or 1")
    parser.add_argument("--n-chains", type=positive_int, default=100,
                        help="chains run side by side for the Parzen samples")
    parser.add_argument("--burn-in", type=non_negative_int, default=100,
                        help="chain steps discarded before the Parzen samples are kept")
    parser.add_argument("--n-parzen-samples", type=positive_int, default=10000,
                        help="chain states (their means) the Parzen window is fitted to")
    parser.add_argument("--chain-length", type=positive_int, default=20,
                        help="steps of each chain shown in the images")
    parser.add_argument("--n-shown", type=positive_int, default=10,
                        help="chains shown in each image")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    (train_set_x, _), (valid_set_x, _), (test_set_x, _) = load_datasets(args, uses=SPLITS)
    test_images = test_set_x.get_value(borrow=True)
    check_batch_size(args.n_shown, len(test_images), "--n-shown", "test images")
    n_train, n_visible = train_set_x.get_value(borrow=True).shape
    n_steps = args.burn_in + -(-args.n_parzen_samples // args.n_chains)
    check_samples_fit((n_steps, args.n_chains, n_visible),
                      "the chains' steps (steps x chains x pixels)",
                      "--burn-in, --n-parzen-samples or --n-chains")
    rng = np.random.RandomState(args.seed)

    x = pt.matrix("x")
    gsn = GenerativeDenoisingAutoencoder(numpy_rng=rng, input=x, n_visible=n_visible,
                                         n_hidden=args.n_hidden, noise_level=args.noise_level,
                                         walkback=args.walkback)
    terms, rng_updates = gsn.cost_terms(x)
    cost = terms["cost"]
    step, compile_seconds = compile_step(
        cost, adam(cost, gsn.params, args.learning_rate) + rng_updates, x, train_set_x,
        args.batch_size, name="train_gsn")
    history = train(step, n_batches(train_set_x, args.batch_size), args.epochs,
                    log_format="Training epoch {epoch}, walkback cost {cost:.2f} nats")
    print(f"The generative denoising autoencoder trained for "
          f"{sum(history.epoch_seconds) / 60:.2f}m", file=sys.stderr)

    # The chain draws from a stream of its own; the training stream stays where it stopped.
    means, state, chain_updates = gsn.transition(x, shared_rng(seed=derived_seed(args.seed, 1)))
    transition = pytensor.function([x], [means, state], updates=chain_updates)
    # per digit, clean input, no noise: in_chunks averages it over the test set
    reconstruction = pytensor.function([x], cross_entropy(x, gsn.decoder_logits(gsn.encode(x))))
    floatX = pytensor.config.floatX
    noise = rng.uniform(size=(args.n_shown, n_visible)).astype(floatX)
    from_noise = run_chain(transition, noise, args.chain_length)
    from_digits = run_chain(transition, test_images[:args.n_shown], args.chain_length)

    def chains_image(start, steps):  # one chain a row: its start, then its steps
        frames = np.concatenate([start[None], steps]).transpose(1, 0, 2)
        return digits_image(frames.reshape(-1, n_visible), per_row=len(steps) + 1)

    print("... Parzen-window log-likelihood of the chain's samples")
    start = rng.uniform(size=(args.n_chains, n_visible)).astype(floatX)
    kept = run_chain(transition, start, n_steps)[args.burn_in:]
    samples = kept.reshape(-1, n_visible)[:args.n_parzen_samples]
    parzen = parzen_evaluation(samples, valid_set_x.get_value(borrow=True), test_images)

    results = new_results(
        __file__, args, n_train=n_train,
        test_cross_entropy=float(np.mean(in_chunks(reconstruction, test_images))),
        test_cross_entropy_note="nats per digit reconstructing clean test digits, no noise",
        **parzen, **training_figures(history, compile_seconds))
    # the samples image: the first 10 chains, every 10th kept step
    shown = kept[::10, :10].transpose(1, 0, 2).reshape(-1, n_visible)[:100]
    for key, name, pixels in (
            ("chains_from_noise_image", "chains_from_noise.png", chains_image(noise, from_noise)),
            ("chains_from_digits_image", "chains_from_digits.png",
             chains_image(test_images[:args.n_shown], from_digits)),
            ("samples_image", "samples.png", digits_image(shown))):
        results[key] = save_image(args.output_folder, name, pixels)
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
