"""Print the graphs the documentation's "symbolic graph" page shows, from the code that runs.

    python docs/graphs.py docs/_generated

writes ``dA_cost_graph.txt`` (the dA's symbolic cost, as built), ``dA_train_function.txt``
(the compiled training step after PyTensor's rewrites; ``_numba`` as Numba compiles it, and
``dA_train_jaxpr.txt`` as JAX traces it), ``dA_gradient_graph.txt`` (the
gradient of the cost with respect to the hidden bias, as built) and ``conv_as_matmul.txt``.
Run by the documentation build (``docs/conf.py``).
"""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial import backends, dA
from deeptutorial.training import compile_step


def printed(graph) -> str:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        pytensor.dprint(graph)
    return buffer.getvalue()


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    pytensor.config.floatX = "float32"
    x = pt.matrix("x")
    da = dA(numpy_rng=np.random.RandomState(123), input=x, n_visible=784, n_hidden=500)
    cost, updates = da.get_cost_updates(corruption_level=0.3, learning_rate=0.1)
    (out / "dA_cost_graph.txt").write_text(printed(cost))
    (out / "dA_gradient_graph.txt").write_text(printed(pytensor.grad(cost, da.b)))
    data = pytensor.shared(np.zeros((40, 784), dtype="float32"), name="train_set_x")
    step, _ = compile_step(cost, updates, x, data, batch_size=20, name="train_dA")
    (out / "dA_train_function.txt").write_text(printed(step))
    # the same graph compiled by the other backends (deeptutorial.backends)
    numba_step, _ = compile_step(cost, updates, x, data, batch_size=20, name="train_dA",
                                 backend="numba")
    (out / "dA_train_function_numba.txt").write_text(printed(numba_step))
    (out / "dA_train_jaxpr.txt").write_text(jaxpr_of_step(cost, updates, x))


def jaxpr_of_step(cost, updates, x) -> str:
    """The dA step as JAX traces it (its jaxpr), or a line saying that JAX is not installed."""
    try:
        import jax
    except ImportError:
        return 'JAX is not installed here: pip install -e ".[jax]" shows this graph.\n'
    data = backends.on_device(pytensor.shared(np.zeros((40, 784), dtype="float32"),
                                              name="train_set_x"), "jax")
    step, _ = compile_step(cost, updates, x, data, batch_size=20, name="train_dA",
                           backend="jax")
    # the jitted function takes the index, then the shared values in the function's order
    values = [np.asarray(0, dtype=np.int64)] + [c.storage[0] for c in step.input_storage[1:]]
    return str(jax.make_jaxpr(step.vm.jit_fn)(*values)) + "\n"


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/_generated")
