"""The dA tutorial's training step on Theano 1.0.5, timed per epoch: the baseline of the
performance issue ("the original Theano code"), measured on the machine at hand.

Runs in its own environment, since Theano needs NumPy 1 (and NumPy 1's old aliases):

    python -m venv .theano-venv
    .theano-venv/bin/pip install "numpy<1.27" "scipy<1.12" theano==1.0.5
    .theano-venv/bin/python benchmarks/theano_dA.py --epochs 15

It builds the tutorial's step as the tutorial's ``dA`` class and ``test_dA`` do, with nothing
of this project: 784-500 tied weights initialised from ``RandomState(123)`` after the noise
seed, the binomial corruption drawn even at level 0, the cross-entropy written as
``-sum(x log z + (1 - x) log(1 - z))``, SGD 0.1, minibatches of 20 sliced by ``givens``,
float32, Theano's default mode and flags. Prints one JSON line: seconds and mean cost per
epoch (the first should be the tutorial's 63.2892).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy

# Theano 1.0.5 still uses the aliases NumPy 1.24 removed.
for _name, _type in (("bool", bool), ("int", int), ("float", float), ("complex", complex),
                     ("object", object), ("str", str)):
    if _name not in numpy.__dict__:
        setattr(numpy, _name, _type)

import theano  # noqa: E402
import theano.tensor as T  # noqa: E402
from theano.tensor.shared_randomstreams import RandomStreams  # noqa: E402


def training_images(folder: Path) -> numpy.ndarray:
    """The first 50,000 training images as float32 rows, pixel / 256 (the tutorial's split)."""
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "rb") as f:
        raw = numpy.frombuffer(f.read(), dtype=numpy.uint8, offset=16)
    return (raw.reshape(-1, 784)[:50000] / numpy.float32(256)).astype("float32")


def build_step(train_x, batch: int, n_hidden: int, learning_rate: float):
    rng = numpy.random.RandomState(123)
    noise = RandomStreams(rng.randint(2 ** 30))  # drawn before W, as in test_dA
    bound = 4 * numpy.sqrt(6.0 / (n_hidden + 784))
    W = theano.shared(numpy.asarray(rng.uniform(-bound, bound, (784, n_hidden)), "float32"))
    b_hidden = theano.shared(numpy.zeros(n_hidden, "float32"))
    b_visible = theano.shared(numpy.zeros(784, "float32"))
    index, x = T.lscalar(), T.matrix()
    x_tilde = noise.binomial(size=x.shape, n=1, p=1.0, dtype="float32") * x  # 0% corruption
    h = T.nnet.sigmoid(T.dot(x_tilde, W) + b_hidden)
    z = T.nnet.sigmoid(T.dot(h, W.T) + b_visible)
    cost = T.mean(-T.sum(x * T.log(z) + (1 - x) * T.log(1 - z), axis=1))
    params = [W, b_hidden, b_visible]
    updates = [(p, p - learning_rate * g) for p, g in zip(params, T.grad(cost, params))]
    return theano.function([index], cost, updates=updates,
                           givens={x: train_x[index * batch:(index + 1) * batch]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=os.environ.get("DEEPTUTORIAL_DATA"),
                        help="folder of the MNIST IDX files (default: $DEEPTUTORIAL_DATA)")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    if not args.dataset:
        parser.error("name the MNIST folder with --dataset or $DEEPTUTORIAL_DATA")
    theano.config.floatX = "float32"
    train_x = theano.shared(training_images(Path(args.dataset)), borrow=True)
    start = time.perf_counter()
    step = build_step(train_x, batch=20, n_hidden=500, learning_rate=0.1)
    compile_s = time.perf_counter() - start
    seconds, costs = [], []
    for _ in range(args.epochs):
        start = time.perf_counter()
        epoch = [float(step(i)) for i in range(2500)]
        seconds.append(time.perf_counter() - start)
        costs.append(float(numpy.mean(epoch, dtype="float64")))
    print(json.dumps({"theano": theano.__version__, "numpy": numpy.__version__,
                      "blas__ldflags": theano.config.blas.ldflags, "compile_s": compile_s,
                      "epoch_seconds": seconds, "epoch_costs": costs}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
