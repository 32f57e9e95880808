"""The SdA tutorial: greedy layer-wise pretraining, then fine-tuning with early stopping.

    python scripts/test_SdA.py --dataset ../shared/data/mnist

pretrains three denoising autoencoders (1000-1000-1000 units, corruption 0.1/0.2/0.3) one
after the other, fine-tunes the stack as an MLP classifier, and writes ``results.json`` and
the first layer's filters into ``--output-folder``. The tutorial reached 1.30% test error.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytensor

from deeptutorial import SdA, load_data, tile_raster_images
from deeptutorial.cli import fraction, make_parser, positive_float, positive_int, run_script, \
    use_float32
from deeptutorial.results import save_image, write_results
from deeptutorial.training import EarlyStopping, train, train_with_early_stopping


def parse_args(argv: list[str] | None):
    parser = make_parser(__doc__.splitlines()[0], output_folder="SdA_plots", seed=89677)
    parser.add_argument("--pretraining-epochs", type=positive_int, default=15)
    parser.add_argument("--training-epochs", type=positive_int, default=1000,
                        help="most fine-tuning epochs (early stopping usually ends sooner)")
    parser.add_argument("--batch-size", type=positive_int, default=1)
    parser.add_argument("--pretrain-lr", type=positive_float, default=0.001)
    parser.add_argument("--finetune-lr", type=positive_float, default=0.1)
    parser.add_argument("--hidden-layers", type=positive_int, nargs="+", default=[1000, 1000, 1000])
    parser.add_argument("--corruption-levels", type=fraction, nargs="+", default=[0.1, 0.2, 0.3])
    parser.add_argument("--patience-epochs", type=positive_float, default=10,
                        help="initial patience, in epochs of minibatches")
    parser.add_argument("--cached-pretraining", action="store_true",
                        help="pretrain each layer on a stored array of the clean outputs of the "
                             "layer below instead of recomputing them at every step")
    args = parser.parse_args(argv)
    if len(args.hidden_layers) != len(args.corruption_levels):
        parser.error(f"--hidden-layers {args.hidden_layers} and --corruption-levels "
                     f"{args.corruption_levels} need one value per layer")
    return args


def filters_image(sda: SdA, side: int) -> np.ndarray:
    return tile_raster_images(sda.sigmoid_layers[0].W.get_value(borrow=True).T,
                              img_shape=(side, side), tile_shape=(10, 10), tile_spacing=(1, 1))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    use_float32()
    datasets = load_data(args.dataset)
    train_set_x = datasets[0][0]
    n_train, n_ins = train_set_x.get_value(borrow=True).shape
    if args.batch_size > n_train:
        raise ValueError(f"--batch-size {args.batch_size} is larger than the {n_train} "
                         f"training images")
    n_train_batches = n_train // args.batch_size
    side = int(round(np.sqrt(n_ins)))

    print("... building the model")
    numpy_rng = np.random.RandomState(args.seed)
    sda = SdA(numpy_rng=numpy_rng, n_ins=n_ins, hidden_layers_sizes=args.hidden_layers,
              n_outs=10, corruption_levels=args.corruption_levels)

    print("... getting the pretraining functions")
    pretraining_fns = sda.pretraining_functions(train_set_x, args.batch_size,
                                                cached=args.cached_pretraining)
    print("... pre-training the model")
    start = time.perf_counter()
    pretraining = []
    for k, (fn, level) in enumerate(zip(pretraining_fns, args.corruption_levels)):
        if args.cached_pretraining and k > 0:
            sda.cache_layer_input(k, train_set_x)

        def step(i, fn=fn, level=level):
            return fn(i, corruption=level, lr=args.pretrain_lr)

        log = train(step, n_train_batches, args.pretraining_epochs,
                    log_format=f"Pre-training layer {k}, epoch {{epoch}}, cost {{cost:f}}")
        pretraining.append({"layer": k, "corruption_level": level,
                            "epoch_costs": log.epoch_costs, "epoch_seconds": log.epoch_seconds})
    pretraining_seconds = time.perf_counter() - start
    print(f"The pretraining code ran for {pretraining_seconds / 60:.2f}m", file=sys.stderr)
    pretrained_image = save_image(args.output_folder, "filters_layer0_pretrained.png",
                                  filters_image(sda, side))

    print("... getting the finetuning functions")
    train_fn, valid_score, test_score = sda.build_finetune_functions(
        datasets, batch_size=args.batch_size, learning_rate=args.finetune_lr)
    print("... finetuning the model")
    start = time.perf_counter()
    history = train_with_early_stopping(
        train_fn, n_train_batches, args.training_epochs, valid_score, test_score,
        EarlyStopping(n_train_batches, patience_epochs=args.patience_epochs))
    finetuning_seconds = time.perf_counter() - start
    print(f"Optimization complete with best validation score of "
          f"{100 * history.best_validation_error:f} %, on iteration {history.best_iter + 1}, "
          f"with test performance {100 * history.test_error:f} %")
    print(f"The training code ran for {finetuning_seconds / 60:.2f}m", file=sys.stderr)

    results = {
        "script": "test_SdA.py",
        "settings": {k: v for k, v in vars(args).items() if k != "debug"},
        "floatX": pytensor.config.floatX,
        "n_train": n_train,
        "pretraining": pretraining,
        "pretraining_seconds": pretraining_seconds,
        "validation_curve": history.validation_curve,
        "finetune_epoch_costs": history.epoch_costs,
        "best_validation_error_percent": 100 * history.best_validation_error,
        "test_error_percent": 100 * history.test_error,
        "finetune_epochs": history.epochs,
        "finetuning_seconds": finetuning_seconds,
        "filters_image_pretrained": pretrained_image,
        "filters_image": save_image(args.output_folder, "filters_layer0.png",
                                    filters_image(sda, side)),
    }
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
