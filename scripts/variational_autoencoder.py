"""Train a variational autoencoder on MNIST and generate new digits from N(0, I).

    python scripts/variational_autoencoder.py --dataset ../shared/data/mnist

prints each epoch's mean training negative ELBO (nats per digit) and the test set's, and
writes ``generated.png`` (digits decoded from random codes), ``reconstructions.png``
(test digits beside their reconstructions), ``interpolation.png`` (a straight line in
code space between two test digits) and ``results.json`` into ``--output-folder``.
"""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial import load_data, tile_raster_images
from deeptutorial.cli import fraction_below_one, make_parser, positive_float, positive_int, \
    run_script, use_float32
from deeptutorial.optimizers import adam
from deeptutorial.results import save_image, write_results
from deeptutorial.training import train
from deeptutorial.utils import side_by_side
from deeptutorial.vae import VAE


class MovingAverage:
    """An exponential moving average of ``params`` (Polyak averaging), less noisy than the
    last Adam step: after every step ``a <- decay a + (1 - decay) p``, starting from ``a = 0``
    and divided by ``1 - decay^t`` when read, so that early averages are not biased to zero."""

    def __init__(self, params: list, decay: float):
        self.params, self.decay = params, decay
        self.averages = [pytensor.shared(np.zeros_like(p.get_value()), name=f"average_{p.name}")
                         for p in params]
        self.steps = 0  # counted in Python: one update per call of the training function
        self.updates = [(a, (decay * a + (1 - decay) * p).astype(a.dtype))
                        for a, p in zip(self.averages, params)]

    def values(self) -> list[np.ndarray]:
        correction = 1 - self.decay ** self.steps
        return [(a.get_value() / correction).astype(a.dtype) for a in self.averages]

    @contextlib.contextmanager
    def swapped_in(self):
        """Give the parameters their averaged values inside the block, then restore them."""
        saved = [p.get_value() for p in self.params]
        for p, value in zip(self.params, self.values()):
            p.set_value(value)
        try:
            yield
        finally:
            for p, value in zip(self.params, saved):
                p.set_value(value)


def parse_args(argv: list[str] | None):
    parser = make_parser(__doc__.splitlines()[0], output_folder="variational_autoencoder_plots",
                         seed=42)
    parser.add_argument("--epochs", type=positive_int, default=40)
    parser.add_argument("--batch-size", type=positive_int, default=100)
    parser.add_argument("--learning-rate", type=positive_float, default=0.001,
                        help="Adam's step size")
    parser.add_argument("--hidden-sizes", type=positive_int, nargs="+", default=[500, 500],
                        help="encoder hidden layers (the decoder mirrors them)")
    parser.add_argument("--n-latent", type=positive_int, default=20,
                        help="dimensions of the code z")
    parser.add_argument("--average-decay", type=fraction_below_one, default=0.999,
                        help="evaluate with an exponential moving average of the parameters, "
                             "a <- decay a + (1 - decay) p after every step (0: no averaging)")
    parser.add_argument("--n-generated", type=positive_int, default=60,
                        help="digits to generate from N(0, I) (10 per row)")
    parser.add_argument("--interpolation-steps", type=positive_int, default=10)
    return parser.parse_args(argv)


def digits_image(rows: np.ndarray, side: int, per_row: int = 10) -> np.ndarray:
    n_rows = -(-len(rows) // per_row)
    return tile_raster_images(rows, img_shape=(side, side), tile_shape=(n_rows, per_row),
                              tile_spacing=(1, 1), scale_rows_to_unit_interval=False)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    use_float32()
    (train_set_x, _), _, (test_set_x, _) = load_data(args.dataset)
    n_train, n_visible = train_set_x.get_value(borrow=True).shape
    n_test = test_set_x.get_value(borrow=True).shape[0]
    if args.batch_size > min(n_train, n_test):
        raise ValueError(f"--batch-size {args.batch_size} is larger than the "
                         f"{min(n_train, n_test)} images of the smallest split")
    side = int(round(np.sqrt(n_visible)))
    settings = {k: v for k, v in vars(args).items() if k != "debug"}
    rng = np.random.RandomState(args.seed)

    index, x = pt.lscalar("index"), pt.matrix("x")
    vae = VAE(numpy_rng=rng, input=x, n_visible=n_visible, hidden_sizes=tuple(args.hidden_sizes),
              n_latent=args.n_latent)
    cost, rng_updates = vae.cost()
    updates = adam(cost, vae.params, learning_rate=args.learning_rate) + rng_updates
    average = MovingAverage(vae.params, args.average_decay) if args.average_decay > 0 else None
    if average is not None:
        updates += average.updates
    batch = slice(index * args.batch_size, (index + 1) * args.batch_size)
    start = time.perf_counter()
    train_step = pytensor.function([index], cost, updates=updates,
                                   givens={x: train_set_x[batch]})

    def train_vae(i: int):
        if average is not None:
            average.steps += 1
        return train_step(i)

    # The test bound uses the same one-draw estimate; the generator still has to advance.
    test_vae = pytensor.function([index], cost, updates=rng_updates,
                                 givens={x: test_set_x[batch]})
    compile_seconds = time.perf_counter() - start
    n_test_batches = n_test // args.batch_size
    test_curve: list[float] = []

    def evaluate(epoch, history):
        with average.swapped_in() if average is not None else contextlib.nullcontext():
            test_curve.append(float(np.mean([test_vae(i) for i in range(n_test_batches)])))
        print(f"    test negative ELBO {test_curve[-1]:.2f} nats")

    history = train(train_vae, n_train // args.batch_size, args.epochs, on_epoch_end=evaluate,
                    log_format="Training epoch {epoch}, negative ELBO {cost:.2f} nats")
    print(f"The VAE trained for {sum(history.epoch_seconds) / 60:.2f}m", file=sys.stderr)
    # From here on the model is the averaged one (if any): images and the final figures.
    if average is not None:
        for p, value in zip(vae.params, average.values()):
            p.set_value(value)

    z = pt.matrix("z")
    decode = pytensor.function([z], vae.decode(z))
    encode_mean = pytensor.function([x], vae.encode(x)[0])
    reconstruct = pytensor.function([x], vae.reconstruct(x))
    codes = rng.normal(size=(args.n_generated, args.n_latent)).astype(pytensor.config.floatX)
    test_images = test_set_x.get_value(borrow=True)
    originals = test_images[:20]
    ends = encode_mean(test_images[:2])
    weights = np.linspace(0, 1, args.interpolation_steps)[:, None].astype(ends.dtype)
    path = (1 - weights) * ends[0] + weights * ends[1]
    images = {
        "generated_image": ("generated.png", digits_image(decode(codes), side)),
        "reconstructions_image": ("reconstructions.png", side_by_side(
            [digits_image(originals, side, 5), digits_image(reconstruct(originals), side, 5)])),
        "interpolation_image": ("interpolation.png", digits_image(
            np.concatenate([test_images[:1], decode(path), test_images[1:2]]), side,
            args.interpolation_steps + 2)),
    }
    results = {"script": "variational_autoencoder.py", "settings": settings,
               "floatX": pytensor.config.floatX, "n_train": n_train, "n_test": n_test,
               "test_neg_elbo_nats": test_curve[-1],
               "test_neg_elbo_note": "one reparameterised draw per test digit, averaged over "
                                     f"{n_test_batches * args.batch_size} digits, with the "
                                     "moving-average parameters when --average-decay > 0",
               "epoch_train_neg_elbo_nats": history.epoch_costs,
               "epoch_test_neg_elbo_nats": test_curve,
               "epoch_seconds": history.epoch_seconds, "compile_seconds": compile_seconds}
    for key, (name, pixels) in images.items():
        results[key] = save_image(args.output_folder, name, pixels)
    write_results(args.output_folder, results)
    print(f"test negative ELBO: {test_curve[-1]:.2f} nats per digit")
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
