"""The SdA tutorial: greedy layer-wise pretraining, then fine-tuning with early stopping.

    python scripts/test_SdA.py

pretrains three denoising autoencoders (1000-1000-1000 units, corruption 0.1/0.2/0.3) one
after the other, fine-tunes the stack as an MLP classifier, and writes ``results.json`` and
the first layer's filters into ``--output-folder``. The tutorial reached 1.30% test error.
With ``--no-pretraining`` the same network is fine-tuned from its random start, with the same
early stopping: the comparison that shows what pretraining changes.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytensor

from deeptutorial import SdA
from deeptutorial.cli import SPLITS, DataError, add_persistence_flags, check_same_settings, \
    fraction, load_datasets, make_parser, new_results, parse_args, positive_float, positive_int, \
    run_script, settings_of
from deeptutorial.persistence import load_checkpoint, restore_log, save_checkpoint
from deeptutorial.results import save_image, write_results
from deeptutorial.training import EarlyStopping, FinetuneLog, TrainingInterrupted, TrainingLog, \
    n_batches, stop_on_interrupt, train, train_with_early_stopping, unchecked_step
from deeptutorial.utils import filters_image


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="SdA_plots", seed=89677)
    parser.add_argument("--pretraining-epochs", type=positive_int, default=15,
                        help="pretraining epochs of each layer")
    parser.add_argument("--training-epochs", type=positive_int, default=1000,
                        help="most fine-tuning epochs (early stopping usually ends sooner)")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="minibatch size")
    parser.add_argument("--pretrain-lr", type=positive_float, default=0.001,
                        help="SGD step size of pretraining")
    parser.add_argument("--finetune-lr", type=positive_float, default=0.1,
                        help="SGD step size of fine-tuning")
    parser.add_argument("--hidden-layers", type=positive_int, nargs="+", default=[1000, 1000, 1000],
                        help="units of each hidden layer")
    parser.add_argument("--corruption-levels", type=fraction, nargs="+", default=[0.1, 0.2, 0.3],
                        help="pretraining corruption of each layer")
    parser.add_argument("--patience-epochs", type=positive_float, default=10,
                        help="initial patience, in epochs of minibatches")
    parser.add_argument("--no-pretraining", action="store_true",
                        help="skip pretraining: fine-tune the network from its random start "
                             "(the baseline that shows what pretraining changes)")
    parser.add_argument("--cached-pretraining", action="store_true",
                        help="pretrain each layer on a stored array of the clean outputs of the "
                             "layer below instead of recomputing them at every step")
    add_persistence_flags(parser)
    return parser


def first_layer_filters(sda: SdA) -> np.ndarray:
    return filters_image(sda.sigmoid_layers[0].W.get_value(borrow=True))


def pretrain(sda: SdA, fns: list, args, train_set_x, histories: list[TrainingLog], save,
             stop) -> None:
    """Greedy layer-wise pretraining with the compiled steps ``fns``, resuming the layers
    ``histories`` say are unfinished."""
    n_train_batches = n_batches(train_set_x, args.batch_size)
    print("... pre-training the model")
    for k, (fn, level, history) in enumerate(zip(fns, args.corruption_levels, histories)):
        if history.epochs_done == args.pretraining_epochs:
            continue
        if args.cached_pretraining and k > 0:
            sda.cache_layer_input(k, train_set_x)

        # 0-d arrays of floatX: the compiled function takes them without converting
        corruption, lr = (np.asarray(v, dtype=pytensor.config.floatX)
                          for v in (level, args.pretrain_lr))
        step = unchecked_step(fn, corruption, lr)
        train(step, n_train_batches, args.pretraining_epochs, history=history,
              on_epoch_end=save, stop=stop,
              log_format=f"Pre-training layer {k}, epoch {{epoch}}, cost {{cost:f}}")


def main(argv: list[str] | None = None) -> dict:
    parser = flags()
    args = parse_args(parser, argv)
    if len(args.hidden_layers) != len(args.corruption_levels):
        parser.error(f"--hidden-layers {args.hidden_layers} and --corruption-levels "
                     f"{args.corruption_levels} need one value per layer")
    datasets = load_datasets(args, uses=SPLITS, batched=SPLITS, labels=True)
    train_set_x = datasets[0][0]
    n_train, n_ins = train_set_x.get_value(borrow=True).shape
    n_train_batches = n_batches(train_set_x, args.batch_size)
    settings = settings_of(args)

    print("... building the model")
    numpy_rng = np.random.RandomState(args.seed)
    sda = SdA(numpy_rng=numpy_rng, n_ins=n_ins, hidden_layers_sizes=args.hidden_layers,
              n_outs=10, corruption_levels=args.corruption_levels)
    train_fn, valid_score, test_score = sda.build_finetune_functions(
        datasets, batch_size=args.batch_size, learning_rate=args.finetune_lr)
    results = new_results(__file__, args, n_train=n_train)
    if args.load_model:
        sda.load_params(Path(args.load_model) / "model.npz")
        print(f"Loaded {Path(args.load_model) / 'model.npz'}: no training")
        results.update(validation_error_percent=100 * float(np.mean(valid_score())),
                       test_error_percent=100 * float(np.mean(test_score())),
                       filters_image=save_image(args.output_folder, "filters_layer0.png",
                                                first_layer_filters(sda)))
        print(f"validation error {results['validation_error_percent']:f} %, "
              f"test error {results['test_error_percent']:f} %")
        write_results(args.output_folder, results)
        return results

    histories = [] if args.no_pretraining else [TrainingLog() for _ in args.hidden_layers]
    fns = None
    if not args.no_pretraining:
        print("... getting the pretraining functions")
        fns = sda.pretraining_functions(train_set_x, args.batch_size,
                                        cached=args.cached_pretraining)
    # compiled first: on JAX the functions hold the generators a checkpoint restores
    generators = sda.noise_generators(fns)
    finetune = FinetuneLog()
    checkpoint = Path(args.checkpoint_dir) / "SdA.npz" if args.checkpoint_dir else None
    if args.resume and checkpoint.is_file():
        state = load_checkpoint(checkpoint, sda.named_params(), generators,
                                fields={"settings": dict, "pretraining": list, "finetune": dict})
        check_same_settings(state["settings"], settings, str(checkpoint))
        if len(state["pretraining"]) != len(histories):
            raise DataError(f"{checkpoint}: holds {len(state['pretraining'])} pretraining "
                            f"histories, this run has {len(histories)} layers to pretrain")
        histories = [restore_log(TrainingLog, h, str(checkpoint), "pretraining history")
                     for h in state["pretraining"]]
        finetune = restore_log(FinetuneLog, state["finetune"], str(checkpoint), "finetune")
        print(f"Resuming from {checkpoint}")

    def save(*_):
        if checkpoint is not None:
            save_checkpoint(checkpoint, sda.named_params(), generators,
                            {"settings": settings, "pretraining": [asdict(h) for h in histories],
                             "finetune": asdict(finetune)})

    def record():
        results["pretraining"] = [
            {"layer": k, "corruption_level": level, "epoch_costs": h.epoch_costs,
             "epoch_seconds": h.epoch_seconds}
            for k, (level, h) in enumerate(zip(args.corruption_levels, histories))]
        results["pretraining_seconds"] = sum(sum(h.epoch_seconds) for h in histories)
        results.update(
            validation_curve=finetune.validation_curve, finetune_epoch_costs=finetune.epoch_costs,
            best_validation_error_percent=100 * finetune.best_validation_error,
            test_error_percent=100 * finetune.test_error, finetune_epochs=finetune.epochs,
            finetuning_seconds=sum(finetune.epoch_seconds))

    with stop_on_interrupt() as stop:
        try:
            if not args.no_pretraining:
                pretrain(sda, fns, args, train_set_x, histories, save, stop)
                if not finetune.epochs and not finetune.minibatch:
                    results["filters_image_pretrained"] = save_image(
                        args.output_folder, "filters_layer0_pretrained.png",
                        first_layer_filters(sda))
                print(f"The pretraining code ran for "
                      f"{sum(sum(h.epoch_seconds) for h in histories) / 60:.2f}m", file=sys.stderr)
            print("... finetuning the model")
            train_with_early_stopping(
                unchecked_step(train_fn), n_train_batches, args.training_epochs, valid_score, test_score,
                EarlyStopping(n_train_batches, patience_epochs=args.patience_epochs),
                history=finetune, on_epoch_end=save, stop=stop)
        except TrainingInterrupted:
            save()
            record()
            results["interrupted"] = True
            write_results(args.output_folder, results)
            raise
    record()
    print(f"Optimization complete with best validation score of "
          f"{100 * finetune.best_validation_error:f} %, on iteration {finetune.best_iter + 1}, "
          f"with test performance {100 * finetune.test_error:f} %")
    print(f"The training code ran for {results['finetuning_seconds'] / 60:.2f}m", file=sys.stderr)
    results["filters_image"] = save_image(args.output_folder, "filters_layer0.png",
                                          first_layer_filters(sda))
    if args.save_model:
        results["model"] = sda.save_params(Path(args.output_folder) / "model.npz").name
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
