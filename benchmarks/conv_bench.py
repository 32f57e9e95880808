"""The convolutional autoencoder's training step against the same network in PyTorch.

    python benchmarks/conv_bench.py --rounds 5 --backends c c-graph numba jax

Builds ``ConvAutoencoder``'s default network (28,353 parameters: two 3x3 convolutions with
max pooling, two stride-2 transposed convolutions, a 3x3 convolution to one channel) in this
library and in PyTorch (``Conv2d``, ``MaxPool2d``, ``ConvTranspose2d(stride=2)`` cropped to
the adjoint of a 'same' convolution, the same per-pixel cross-entropy and Adam), checks that
both start from the same weights and give the same first cost, then times blocks of
``--steps`` training steps
at batch size ``--batch-size``, alternating the two, for ``--rounds`` rounds. Reports each
block's seconds scaled to a 50,000-image epoch: medians, and the median of each round's ratio
("paired"). ``--backends c c-graph numba jax`` times the library's step as each backend
compiles it (``deeptutorial.backends``; ``c`` is reported as ``deeptutorial``; ``c-graph`` is
the C backend compiling the ordinary graph, without the fast path's convolution ops, to show
what they buy), each checked against
PyTorch's first cost. Each library uses its default threads. Run it on an otherwise idle
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytensor  # noqa: E402

from deeptutorial import backends, load_mnist  # noqa: E402
from deeptutorial.conv_autoencoder import ConvAutoencoder  # noqa: E402
from deeptutorial.optimizers import adam  # noqa: E402
from deeptutorial.training import compile_step  # noqa: E402


def library_step(train_x: np.ndarray, batch: int, backend: str = "c", seed: int = 0):
    """The library's step compiled by ``backend`` (``deeptutorial.backends``; ``c-graph``: the
    C backend without the fast path's convolution ops, compiling the ordinary graph), the
    training set held where that backend reads it, as the script holds it; the weights drawn
    from ``seed``."""
    pytensor.config.floatX = "float32"
    model = ConvAutoencoder(np.random.RandomState(seed))
    terms, _ = model.cost_terms()
    graph_only = backend == "c-graph"
    backend = "c" if graph_only else backend
    data = backends.on_device(pytensor.shared(train_x, borrow=True), backend)
    step, _ = compile_step(terms["cost"], adam(terms["cost"], model.params, 0.001), model.x, data,
                           batch, name="conv_autoencoder", backend=backend,
                           excluding=("use_conv_ops",) if graph_only else ())
    weights = {p.name: p.get_value().copy() for p in model.params}
    return step, weights


def torch_step(train_x: np.ndarray, batch: int, weights: dict, noise_std: float = 0.0):
    """The same network's step in PyTorch, from the same ``weights``; with ``noise_std > 0``
    the denoising variant (the input ``clip(x + noise_std * e, 0, 1)``, the target clean)."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(32, 32, 3, padding=1)
            # 'same' padding puts a stride-2 convolution's one padding row at the bottom, so its
            # adjoint is PyTorch's unpadded transposed convolution less the last row and column
            self.t1 = nn.ConvTranspose2d(32, 32, 3, stride=2)
            self.t2 = nn.ConvTranspose2d(32, 32, 3, stride=2)
            self.c3 = nn.Conv2d(32, 1, 3, padding=1)

        def forward(self, x):
            h = nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
            h = nn.functional.max_pool2d(torch.relu(self.c2(h)), 2)
            g = torch.relu(self.t1(h)[:, :, :-1, :-1])
            g = torch.relu(self.t2(g)[:, :, :-1, :-1])
            return self.c3(g)

    net = Net()
    with torch.no_grad():  # this library's kernels are (kh, kw, in, out), cross-correlations
        for conv, name in ((net.c1, "1"), (net.c2, "2")):
            conv.weight.copy_(torch.from_numpy(weights[f"W{name}"].transpose(3, 2, 0, 1)))
            conv.bias.copy_(torch.from_numpy(weights[f"b{name}"]))
        for conv, name in ((net.t1, "1"), (net.t2, "2")):
            # the adjoint of a correlation with K (kh, kw, C, F): ConvTranspose2d's (in=F, out=C)
            conv.weight.copy_(torch.from_numpy(weights[f"W_prime{name}"].transpose(3, 2, 0, 1)))
            conv.bias.copy_(torch.from_numpy(weights[f"b_prime{name}"]))
        net.c3.weight.copy_(torch.from_numpy(weights["W_prime3"].transpose(3, 2, 0, 1)))
        net.c3.bias.copy_(torch.from_numpy(weights["b_prime3"]))
    optimiser = torch.optim.Adam(net.parameters(), lr=0.001)
    loss = nn.BCEWithLogitsLoss()
    images = torch.from_numpy(train_x.reshape(-1, 1, 28, 28))

    def step(i: int) -> float:
        x = images[i * batch:(i + 1) * batch]
        optimiser.zero_grad()
        seen = torch.clamp(x + noise_std * torch.randn_like(x), 0, 1) if noise_std else x
        cost = loss(net(seen), x)
        cost.backward()
        optimiser.step()
        return float(cost.detach())

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="MNIST (default: $DEEPTUTORIAL_DATA)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=["c"],
                        choices=("c", "c-graph", "numba", "jax"),
                        help="the library's backends to time (c is reported as deeptutorial; "
                             "c-graph: C without the convolution ops)")
    parser.add_argument("--output", default=None, help="write the numbers as JSON here")
    args = parser.parse_args()
    train_x = load_mnist(args.dataset)[0][0]
    n_blocks = len(train_x) // args.batch_size
    ours, weights = library_step(train_x, args.batch_size)
    theirs = torch_step(train_x, args.batch_size, weights)
    first = float(ours(np.asarray(0, dtype=np.int64))), theirs(0)
    print(f"first cost: deeptutorial {first[0]:.6f}, torch {first[1]:.6f}")
    if abs(first[0] - first[1]) > 1e-4 * abs(first[1]):
        raise SystemExit("the two networks do not compute the same cost")
    steps = {"deeptutorial": ours} if "c" in args.backends else {}
    if "jax" in args.backends:
        backends.quiet_jax()
    for backend in [b for b in args.backends if b != "c"]:
        steps[backend], _ = library_step(train_x, args.batch_size, backend)
        cost = float(steps[backend](np.asarray(0, dtype=np.int64)))
        print(f"first cost: {backend} {cost:.6f}")
        if abs(cost - first[1]) > 1e-4 * abs(first[1]):
            raise SystemExit(f"the {backend} backend does not compute the same cost")
    steps["torch"] = theirs
    epoch = {name: [] for name in steps}
    for rnd in range(args.rounds):
        for name, step in steps.items():
            indices = [np.asarray(i % n_blocks, dtype=np.int64) for i in range(args.steps)]
            start = time.perf_counter()
            for i in indices:  # float() waits for JAX, which returns before it computes
                float(step(i if name == "deeptutorial" else int(i)))
            seconds = (time.perf_counter() - start) / args.steps * (50000 // args.batch_size)
            epoch[name].append(seconds)
        print(f"round {rnd}: " + ", ".join(f"{name} {seconds[-1]:.1f}"
                                           for name, seconds in epoch.items()) + " s/epoch")
    medians = {name: statistics.median(v) for name, v in epoch.items()}
    paired = {name: statistics.median(a / b for a, b in zip(epoch[name], epoch["torch"]))
              for name in epoch if name != "torch"}
    for name in paired:
        print(f"median: {name} {medians[name]:.1f} s, torch {medians['torch']:.1f} s per epoch; "
              f"ratio {medians[name] / medians['torch']:.2f} (paired {paired[name]:.2f})")
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        ours_name = "deeptutorial" if "deeptutorial" in paired else next(iter(paired))
        Path(args.output).write_text(json.dumps({
            "first_costs": first, "epoch_seconds": epoch, "median_epoch_seconds": medians,
            "ratio": medians[ours_name] / medians["torch"], "paired_ratio": paired[ours_name],
            "paired_ratios": paired,
            "batch_size": args.batch_size, "steps_per_block": args.steps,
            "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
