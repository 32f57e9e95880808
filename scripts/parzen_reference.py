"""Score real digits with the Parzen-window estimate the generators are compared by.

    python scripts/parzen_reference.py

takes ``--n-samples`` digits of the training split as if a generator had drawn them, blurred
by each ``--blur`` width (in pixels; 0 is the digits as they are), and writes the test set's
Parzen-window log-likelihood of each, sigma chosen on the validation set as for every
generator, into ``results.json`` in ``--output-folder``. Real digits are the reference a
generator's figure is read against, and the blurred ones show what else the estimate
rewards: smooth digits score higher than faithful ones.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys

import numpy as np
from scipy.ndimage import gaussian_filter

from deeptutorial.cli import SPLITS, load_datasets, make_parser, new_results, non_negative_float, \
    parse_args, positive_int, run_script
from deeptutorial.evaluation import parzen_evaluation
from deeptutorial.results import save_image, write_results
from deeptutorial.utils import digits_image, image_shape


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="parzen_reference_plots",
                         seed=None)
    parser.add_argument("--n-samples", type=positive_int, default=10000,
                        help="training digits the Parzen window is fitted to (the first ones)")
    parser.add_argument("--blur", type=non_negative_float, nargs="+", default=[0.0],
                        help="standard deviations, in pixels, of the Gaussian blurs scored "
                             "(0: the digits unchanged)")
    return parser


def blurred(images: np.ndarray, width: float, shape: tuple[int, int]) -> np.ndarray:
    """Each flattened image of ``shape`` blurred by a Gaussian of ``width`` pixels."""
    if width == 0:
        return images
    squares = images.reshape(-1, *shape)
    # no blur across the example axis: width 0 along it
    return gaussian_filter(squares, sigma=(0, width, width)).reshape(images.shape)


def main(argv: list[str] | None = None) -> dict:
    parser = flags()
    args = parse_args(parser, argv)
    (train_set_x, _), (valid_set_x, _), (test_set_x, _) = load_datasets(args, uses=SPLITS)
    digits = train_set_x.get_value(borrow=True)
    if args.n_samples > len(digits):
        parser.error(f"argument --n-samples: expected at most the {len(digits)} training "
                     f"digits, got {args.n_samples}")
    shape = image_shape(digits.shape[1])
    samples = digits[:args.n_samples]
    scores, shown_rows = [], []
    for width in args.blur:
        print(f"... training digits blurred by {width:g} pixels")
        shown = blurred(samples, width, shape)
        scores.append({"blur_pixels": width, **parzen_evaluation(
            shown, valid_set_x.get_value(borrow=True), test_set_x.get_value(borrow=True))})
        shown_rows.append(shown[:10])
    results = new_results(
        __file__, args, scores=scores,
        parzen_log_likelihood_nats=scores[0]["parzen_log_likelihood_nats"],
        samples_image=save_image(args.output_folder, "samples.png",
                                 digits_image(np.concatenate(shown_rows))))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
