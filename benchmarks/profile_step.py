"""Where the time of one training step goes: PyTensor's profiler, node by node.

    python benchmarks/profile_step.py > docs/results/profile_steps/profile.txt
    python benchmarks/profile_step.py --conv --steps 40 > profile_conv.txt

Profiles, on the library's default backend, the dA tutorial step (784-500, batch 20, 0%
corruption) and the SdA tutorial's steps at batch size 1 (pretraining layer 0, 784-1000;
fine-tuning 784-1000-1000-1000-10), each over ``--steps`` steps, and prints PyTensor's
per-node summary (time per call of every Apply node, largest first). With ``--conv``, the
convolutional autoencoder's step instead (the default network, Adam, batch 128), with the
summary by op class too: which kinds of node the time goes to.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

from deeptutorial import SdA, dA, load_data  # noqa: E402
from deeptutorial.info import backend_info  # noqa: E402


def profile_conv(train_x, args) -> None:
    from deeptutorial.conv_autoencoder import ConvAutoencoder
    from deeptutorial.optimizers import adam
    from deeptutorial.training import compile_step

    model = ConvAutoencoder(np.random.RandomState(0))
    cost, _ = model.training_cost()
    with pytensor.config.change_flags(profile=True):
        step, _ = compile_step(cost, adam(cost, model.params, 0.001), model.x, train_x, 128,
                               name="conv autoencoder b=128")
    n_batches = train_x.get_value(borrow=True).shape[0] // 128
    for i in range(args.steps):
        step(np.asarray(i % n_batches, dtype="int64"))
    print(f"\n===== {step.name}: {args.steps} steps =====")
    step.profile.summary(n_ops_to_print=args.nodes, n_apply_to_print=args.nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=12, help="nodes listed per function")
    parser.add_argument("--conv", action="store_true",
                        help="profile the convolutional autoencoder's step instead")
    args = parser.parse_args()
    pytensor.config.floatX = "float32"
    info = backend_info()
    print(f"backend {info['backend']}, BLAS {info['blas']}, PyTensor {info['pytensor']}")
    datasets = load_data(args.dataset)
    train_x = datasets[0][0]
    if args.conv:
        profile_conv(train_x, args)
        return

    index, x = pt.lscalar("index"), pt.matrix("x")
    da = dA(numpy_rng=np.random.RandomState(123), input=x, n_visible=784, n_hidden=500)
    cost, updates = da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)
    da_step = pytensor.function([index], cost, updates=updates, profile=True, name="dA b=20",
                                givens={x: train_x[index * 20:(index + 1) * 20]})
    sda = SdA(np.random.RandomState(89677), n_ins=784, hidden_layers_sizes=[1000] * 3,
              corruption_levels=[0.1, 0.2, 0.3])
    with pytensor.config.change_flags(profile=True):
        pretrain = sda.pretraining_functions(train_x, batch_size=1)[0]
        finetune = sda.build_finetune_functions(datasets, batch_size=1, learning_rate=0.1)[0]

    steps = [(da_step, lambda i: da_step(i % 2500)),
             (pretrain, lambda i: pretrain(i, corruption=0.1, lr=0.001)),
             (finetune, finetune)]
    for fn, step in steps:
        for i in range(args.steps):
            step(i)
        print(f"\n===== {fn.name}: {args.steps} steps =====")
        fn.profile.summary(n_ops_to_print=0, n_apply_to_print=args.nodes)


if __name__ == "__main__":
    main()
