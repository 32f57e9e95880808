"""The k-sparse autoencoder (Makhzani & Frey, 2013): only the k largest code units are kept."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.autoencoder import TiedAutoencoder
from deeptutorial.checks import check_positive
from deeptutorial.losses import mse
from deeptutorial.nn import identity, shared_floatX


def keep_k_largest(h, k):
    """``h`` with all but the ``k`` largest values of each row set to zero.

    The threshold is each row's k-th largest value (``sort``); the mask compares with it and
    has no gradient, so the gradient flows through the kept units only. Ties at the threshold
    keep every tied unit (measure zero for real-valued codes)."""
    threshold = pt.sort(h, axis=1)[:, h.shape[1] - k]
    return h * pt.ge(h, threshold[:, None])


# A restarted unit's filter length, as a fraction of the living ones' mean: a full-length
# copy of a digit outvotes every living unit on most digits and the reconstruction overshoots.
REVIVED_LENGTH = 0.2


class KSparseAutoencoder(TiedAutoencoder):
    """A linear autoencoder with tied weights whose code keeps only its k largest units::

        z = (x - m) W + b                 (all n_hidden units; m = 0 or the mean digit)
        h = keep_k_largest(z, k)          (the support: k units per example)
        r = h W^T + b'                    (linear, or sigmoid with output="sigmoid")

    trained on the squared error ``mean_x ||r - x||^2``. Sparsity is enforced exactly rather
    than encouraged by a penalty; each example is rebuilt from k of the filters, which pushes
    them towards local strokes.

    ``input_mean`` (the training digits' mean ``m``, or None) centres the input: the code is
    ``(x - m) W + b`` and the linear decoder's bias starts at ``m``. Uncentred, every ``x W``
    carries the projection of the mean digit, which is large and alike for all digits, so the
    same filters win the competition for every digit and the rest never win and never learn;
    centred, units compete on how a digit differs from the average one. (With the linear
    output this is the same model as one trained on centred data.)

    ``k`` is a shared variable, so training can start with a large k and lower it (the
    paper's annealing: with a small k from the start, units that lose early are never
    selected again and die). To encode for a classifier, the paper keeps ``alpha * k`` units
    (``encode_for_features``). Units that lose every competition even so can be restarted
    from training examples (``selection_count_update``, ``revive_dead_units``).
    """

    activation = staticmethod(identity)

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, n_hidden: int = 1000, k: int = 25,
                 output: str = "linear", input_mean: np.ndarray | None = None):
        check_positive("n_hidden", n_hidden, integer=True)
        self.check_k(k, n_hidden)
        if output not in ("linear", "sigmoid"):
            raise ValueError(f"output must be 'linear' or 'sigmoid', got {output!r}")
        if input_mean is not None and np.shape(input_mean) != (n_visible,):
            raise ValueError(f"input_mean must have one value per visible unit ({n_visible}), "
                             f"got shape {np.shape(input_mean)}")
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden,
                         encoder_scale=0.25)
        centre = np.zeros(n_visible) if input_mean is None else np.asarray(input_mean)
        self.input_mean = shared_floatX(centre, "input_mean")
        if output == "linear":
            self.b_prime.set_value(centre.astype(self.b_prime.dtype))
        self.output = output
        self.output_activation = pt.sigmoid if output == "sigmoid" else identity
        self.k = pytensor.shared(np.asarray(k, dtype="int64"), name="k")
        # how many examples kept each unit since the last revive_dead_units
        self.selected = pytensor.shared(np.zeros(n_hidden, dtype="int64"), name="selected")

    @staticmethod
    def check_k(k, n_hidden: int) -> None:
        if not (isinstance(k, (int, np.integer)) and not isinstance(k, bool)
                and 1 <= k <= n_hidden):
            raise ValueError(f"k must be an integer in [1, {n_hidden}] (the hidden units), "
                             f"got {k!r}")

    def set_k(self, k: int) -> None:
        """The number of units kept from now on (annealing)."""
        self.check_k(k, self.n_hidden)
        self.k.set_value(np.asarray(k, dtype="int64"))

    def pre_activation(self, x):
        """``(x - m) W + b`` for every unit, before the competition."""
        return pt.dot(x - self.input_mean, self.W) + self.b

    def encode(self, x):
        """The sparse code: the k largest of ``(x - m) W + b`` per example, the rest zero."""
        return keep_k_largest(self.pre_activation(x), self.k)

    def encode_for_features(self, x, alpha: int = 3):
        """The code with ``alpha * k`` units kept, as the paper encodes for a classifier."""
        return keep_k_largest(self.pre_activation(x), pt.minimum(alpha * self.k, self.n_hidden))

    def selection_count_update(self, x=None) -> list:
        """``[(selected, selected + ...)]``: an update that counts, per unit, the examples of
        the minibatch that keep it. Carried by a training step, it tells
        ``revive_dead_units`` which units no example selected."""
        kept = pt.neq(self.encode(self.input_or_default(x)), 0)
        return [(self.selected, self.selected + pt.sum(kept, axis=0, dtype="int64"))]

    def revive_dead_units(self, data: np.ndarray, numpy_rng: np.random.RandomState) -> int:
        """Restart every unit that no example selected since the last call; returns how many.

        A unit that loses every competition gets no gradient and stays dead, however long
        training lasts. Each is given the direction of a random training example in ``data``,
        at ``REVIVED_LENGTH`` times the mean length of the living units' filters, and a zero
        bias, so that it can win for that example and its likes and start learning again (as
        k-means restarts an empty cluster). The counts then start again from zero. With no
        unit counted at all (a step without ``selection_count_update``) nothing changes. With a
        centred input the direction is the example's difference from the mean."""
        counts = self.selected.get_value()
        dead = np.flatnonzero(counts == 0)
        alive = np.flatnonzero(counts > 0)
        if len(dead) and len(alive):
            W, b = self.W.get_value(), self.b.get_value()
            picks = numpy_rng.choice(len(data), size=len(dead), replace=len(dead) > len(data))
            rows = data[picks] - self.input_mean.get_value()
            lengths = np.linalg.norm(rows, axis=1, keepdims=True)
            length = REVIVED_LENGTH * np.linalg.norm(W[:, alive], axis=0).mean()
            W[:, dead] = (rows / np.maximum(lengths, 1e-12)).T * length
            b[dead] = 0
            self.W.set_value(W.astype(self.W.dtype))
            self.b.set_value(b.astype(self.b.dtype))
        self.selected.set_value(np.zeros_like(counts))
        return len(dead) if len(alive) else 0

    def cost_terms(self, x=None) -> tuple[dict, list]:
        """``cost``: the squared reconstruction error per example (summed over pixels,
        averaged over examples); ``mse``: the same per pixel."""
        x = self.input_or_default(x)
        r = self.reconstruct(x)
        return {"cost": pt.mean(pt.sum((r - x) ** 2, axis=1)), "mse": mse(r, x)}, []
