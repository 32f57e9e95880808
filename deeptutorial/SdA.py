"""The stacked denoising autoencoder of the SdA tutorial."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial import backends
from deeptutorial.checks import check_fraction, check_positive, random_state
from deeptutorial.dA import dA
from deeptutorial.data import minibatch
from deeptutorial.layers import HiddenLayer, LogisticRegression
from deeptutorial.optimizers import sgd
from deeptutorial.persistence import SavesParams


class SdA(SavesParams):
    """Stacked denoising autoencoder (Vincent et al., 2010).

    An MLP of sigmoid layers ``h_k = sigmoid(h_{k-1} W_k + b_k)`` (``h_0 = x``) topped by
    logistic regression. Each layer ``k`` also belongs to a dA that shares its very
    ``W_k`` and ``b_k`` and reads ``h_{k-1}``; training happens in two stages:

    1. *pretraining*, greedy and unsupervised: layer by layer, the dA of layer ``k``
       learns to reconstruct its (corrupted) input ``h_{k-1}``;
    2. *fine-tuning*, supervised: the whole MLP, initialised by stage 1, minimises the
       negative log-likelihood of the labels by SGD.

    The pretraining functions take each layer's corruption level as an input, as in the
    tutorial; ``corruption_levels`` (one per layer, 0 by default) are only what each dA uses
    when its ``cost_terms`` is asked without one. ``pytensor_rng`` (the tutorial's
    ``theano_rng``) is shared by every layer when given; by default each layer gets its own
    generator, all seeded from one number drawn from ``numpy_rng`` before any weight.
    """

    def __init__(self, numpy_rng: np.random.RandomState,
                 pytensor_rng: RandomGeneratorSharedVariable | None = None, n_ins: int = 784,
                 hidden_layers_sizes: list[int] = (500, 500), n_outs: int = 10,
                 corruption_levels: list[float] | None = None):
        numpy_rng = random_state(numpy_rng)
        hidden_layers_sizes = list(hidden_layers_sizes)
        if not hidden_layers_sizes:
            raise ValueError("hidden_layers_sizes is empty: the stack needs at least one layer")
        corruption_levels = list(corruption_levels if corruption_levels is not None
                                 else [0.0] * len(hidden_layers_sizes))
        if len(hidden_layers_sizes) != len(corruption_levels):
            raise ValueError(f"hidden_layers_sizes {hidden_layers_sizes} and corruption_levels "
                             f"{corruption_levels} must have the same length")
        check_positive("n_ins", n_ins, integer=True)
        for size in hidden_layers_sizes:
            check_positive("a hidden layer size", size, integer=True)
        for level in corruption_levels:
            check_fraction("a corruption level", level)
        if not (isinstance(n_outs, int) and n_outs >= 2):
            raise ValueError(f"n_outs must be an integer >= 2, got {n_outs!r}")

        self.n_layers = len(hidden_layers_sizes)
        self.n_outs = n_outs
        self.corruption_levels = corruption_levels
        if pytensor_rng is None:
            # One noise generator per layer, all from one seed drawn before any weight.
            seed = numpy_rng.randint(2 ** 30)
            rngs = [shared_rng(g, name=f"noise_rng_{k}")
                    for k, g in enumerate(np.random.default_rng(seed).spawn(self.n_layers))]
        else:
            rngs = [pytensor_rng] * self.n_layers
        self.x = pt.matrix("x")  # the images, one per row
        self.y = pt.ivector("y")  # their labels
        self.sigmoid_layers: list[HiddenLayer] = []
        self.dA_layers: list[dA] = []
        self.params = []
        for i, n_out in enumerate(hidden_layers_sizes):
            n_in = n_ins if i == 0 else hidden_layers_sizes[i - 1]
            layer_input = self.x if i == 0 else self.sigmoid_layers[-1].output
            layer = HiddenLayer(numpy_rng, layer_input, n_in, n_out, activation="sigmoid")
            self.sigmoid_layers.append(layer)
            self.params.extend(layer.params)
            # Its dA trains the same W and b; only the visible bias is its own.
            self.dA_layers.append(dA(numpy_rng=numpy_rng, pytensor_rng=rngs[i],
                                     input=layer_input, n_visible=n_in, n_hidden=n_out,
                                     W=layer.W, bhid=layer.b,
                                     corruption_level=corruption_levels[i]))
        self.logLayer = LogisticRegression(self.sigmoid_layers[-1].output,
                                           hidden_layers_sizes[-1], n_outs)
        self.params.extend(self.logLayer.params)
        self.finetune_cost = self.logLayer.negative_log_likelihood(self.y)
        self.errors = self.logLayer.errors(self.y)

    def named_params(self) -> dict:
        """Every trained variable: the MLP's and each dA's own visible bias."""
        named = {}
        for k, layer_dA in enumerate(self.dA_layers):
            named.update({f"layer{k}.{name}": v for name, v in layer_dA.named_params().items()})
        named.update({"logistic.W": self.logLayer.W, "logistic.b": self.logLayer.b})
        return named

    def noise_generators(self, functions: list | None = None) -> list:
        """The distinct random generators of the dA layers, in layer order; given the compiled
        ``pretraining_functions``, what a checkpoint saves of them for those functions (on JAX
        each function's private copy: ``backends.step_generators``)."""
        unique = []
        for k, layer_dA in enumerate(self.dA_layers):
            held = [layer_dA.pytensor_rng] if functions is None else \
                backends.step_generators(functions[k], [layer_dA.pytensor_rng])
            unique.extend(g for g in held if all(g is not u for u in unique))
        return unique

    def pretraining_functions(self, train_set_x, batch_size: int, cached: bool = False) -> list:
        """One compiled SGD step per layer, ``fn(index, corruption=..., lr=...)`` -> cost
        (PyTensor 3 has no input defaults: pass both, by name or position).

        Layer ``k``'s step runs minibatch ``index`` through layers ``0..k-1`` and trains
        the dA of layer ``k``. With ``cached=True`` a layer's input is instead read from
        a shared array that ``cache_layer_input(k, train_set_x)`` fills once, after the
        layers below have been trained (the tutorial's "Tips and Tricks"): the same
        maths, without recomputing the frozen lower layers at every step.
        """
        check_positive("batch_size", batch_size, integer=True)
        n_rows = train_set_x.get_value(borrow=True).shape[0]
        if batch_size > n_rows:
            raise ValueError(f"batch_size {batch_size} is larger than the {n_rows} training rows")
        index = pt.lscalar("index")
        corruption = pt.scalar("corruption")
        lr = pt.scalar("lr")
        self.layer_inputs = []
        fns = []
        for k, layer_dA in enumerate(self.dA_layers):
            cost, updates = layer_dA.get_cost_updates(corruption, lr)
            if cached and k > 0:
                cache = pytensor.shared(np.zeros((1, layer_dA.n_visible), pytensor.config.floatX),
                                        name=f"layer_{k}_input", borrow=True)
                self.layer_inputs.append(cache)
                givens = {layer_dA.x: minibatch(cache, index, batch_size)}
            else:
                self.layer_inputs.append(None)
                givens = {self.x: minibatch(train_set_x, index, batch_size)}
            fns.append(backends.function(
                [index, corruption, lr], cost, updates=updates, givens=givens,
                rebuild_strict=False, name=f"pretrain_layer_{k}"))
        return fns

    def cache_layer_input(self, k: int, train_set_x, batch_size: int = 1000) -> None:
        """Fill layer ``k``'s input cache with the clean outputs of layer ``k - 1``."""
        if not 0 < k < self.n_layers or self.layer_inputs[k] is None:
            raise ValueError(f"layer {k} has no input cache (call pretraining_functions with "
                             f"cached=True; layer 0 reads the data itself)")
        below = self.sigmoid_layers[k - 1].output
        encode = pytensor.function([self.x], below, name=f"encode_to_layer_{k}")
        data = train_set_x.get_value(borrow=True)
        out = np.concatenate([encode(data[i:i + batch_size])
                              for i in range(0, len(data), batch_size)])
        self.layer_inputs[k].set_value(out, borrow=True)
        backends.on_device(self.layer_inputs[k])

    def build_finetune_functions(self, datasets, batch_size: int, learning_rate: float):
        """``(train_fn, valid_score, test_score)``: one SGD step on minibatch ``index``,
        and two functions returning the list of per-minibatch error rates of the
        validation and test sets."""
        check_positive("batch_size", batch_size, integer=True)
        check_positive("learning_rate", learning_rate)
        (train_set_x, train_set_y), (valid_set_x, valid_set_y), (test_set_x, test_set_y) = datasets
        for name, labels in (("training", train_set_y), ("validation", valid_set_y),
                             ("test", test_set_y)):
            values = labels.get_value(borrow=True)
            if values.size and (values.min() < 0 or values.max() >= self.n_outs):
                bad = values.min() if values.min() < 0 else values.max()
                raise ValueError(f"{name} label {bad} is outside [0, {self.n_outs})")
        index = pt.lscalar("index")
        train_fn = pytensor.function(
            [index], self.finetune_cost, updates=sgd(self.finetune_cost, self.params, learning_rate),
            givens={self.x: minibatch(train_set_x, index, batch_size),
                    self.y: minibatch(train_set_y, index, batch_size)},
            rebuild_strict=False, name="train")

        def scorer(set_x, set_y, name):
            # Scored in equal chunks of up to 1000 rows, whatever the training batch size:
            # the mean of the list is then the error over every example, in few calls.
            n_rows = set_x.get_value(borrow=True).shape[0]
            chunk = max(d for d in range(1, min(n_rows, 1000) + 1) if n_rows % d == 0)
            score_i = pytensor.function([index], self.errors, name=name, rebuild_strict=False,
                                        givens={self.x: minibatch(set_x, index, chunk),
                                                self.y: minibatch(set_y, index, chunk)})
            return lambda: [float(score_i(i)) for i in range(n_rows // chunk)]

        return (train_fn, scorer(valid_set_x, valid_set_y, "valid"),
                scorer(test_set_x, test_set_y, "test"))
