"""One graph, several compilers: which PyTensor backend compiles the library's functions.

The symbolic graph of a model says what to compute; a PyTensor *linker* decides how. The
library builds every graph the same way and lets one switch pick the backend, as Theano's
``device`` flag did:

``c``
    PyTensor's C backend (``linker=cvm``), linked to BLAS by ``deeptutorial.fastpath``: the
    default, and the fastest on a CPU for these models.
``numba``
    PyTensor's Numba backend (its own default), compiled through LLVM.
``jax``
    JAX's XLA compiler, on the CPU or on a GPU (``pip install "deeptutorial[jax]"``, and
    ``jax[cuda12]`` or ``jax[cuda13]`` for an NVIDIA GPU).
``pytorch``
    PyTensor's PyTorch backend, for the graphs it can compile (in PyTensor 3.0 it has no
    random variables, so no graph with noise).

The switch is ``--backend`` on every script, ``DEEPTUTORIAL_BACKEND`` in the environment, or
``use(name)`` from Python (a notebook); ``training.compile_step`` also takes ``backend=``.

What differs between backends, and what the library does about it:

* **Minibatches.** The tutorial cut a minibatch as ``data[i * b:(i + 1) * b]``, a slice with a
  symbolic start, which JAX cannot compile (its shapes must be known when it traces).
  ``data.minibatch`` gathers the rows ``i * b + arange(b)`` instead on every backend but C: the
  same rows, a static number of them. The C backend keeps the slice, a view, with no copy.
* **Random generators.** On JAX a shared random generator is replaced, inside each compiled
  function, by a private copy of its state (PyTensor warns so): the copy advances from call
  to call, but ``set_value`` on the shared variable no longer reaches it, and two functions
  compiled from one generator would draw the same noise. ``function`` therefore seeds each
  function's copy with a number drawn from the shared generator when it compiles, so that
  every function has its own stream, and ``step_generators`` gives the copies that a
  checkpoint saves and restores. On C and Numba the shared generator itself advances.
* **The data on the device.** JAX copies every NumPy input to its device at every call,
  shared variables included: the 157 MB training set would cross to the device at each step.
  ``on_device`` keeps a shared dataset as a JAX array instead, so that only the index
  crosses.
* **Rewrites.** The fast path's own rewrites are tagged ``cxx_only``: only the C backend
  runs them (Numba and JAX exclude that tag, as they exclude PyTensor's in-place BLAS ops).
"""

from __future__ import annotations

import importlib.util
import os
import warnings

BACKENDS = ("c", "numba", "jax", "pytorch")
SWITCH = "DEEPTUTORIAL_BACKEND"
LINKERS = {"c": "cvm", "numba": "numba", "jax": "jax", "pytorch": "pytorch"}
# the module each backend compiles with, and how to install it
NEEDS = {"numba": ("numba", "pip install numba"),
         "jax": ("jax", 'pip install "deeptutorial[jax]"'),
         "pytorch": ("torch", "pip install torch")}
SHARED_RNG_WARNING = "The RandomType SharedVariables"
X64_WARNING = "Explicitly requested dtype"
ASSERT_WARNING = "Skipping Assert"


class BackendError(ValueError):
    """A backend that cannot be used here; the message is one line that says why."""


def check(name: str) -> str:
    """``name`` if it is a backend whose compiler is installed; else ``BackendError``."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if name in NEEDS:
        module, install = NEEDS[name]
        if importlib.util.find_spec(module) is None:
            raise BackendError(f"the {name} backend needs {module}, which is not installed: "
                               f"{install}")
    return name


def requested(flag: str | None = None) -> str | None:
    """The backend asked for: ``flag`` (``--backend``), else ``$DEEPTUTORIAL_BACKEND``, else
    None (PyTensor's linker as ``deeptutorial.fastpath`` or the user configured it)."""
    name = flag if flag is not None else os.environ.get(SWITCH, "").strip().lower() or None
    return None if name is None else check(name)


def use(name: str | None) -> str:
    """Compile every later function with backend ``name`` (None: leave the configured one);
    return the backend now in use."""
    import pytensor

    if name is not None:
        check(name)
        pytensor.config.linker = LINKERS[name]
    if current() == "jax":
        quiet_jax()
    return current()


def quiet_jax() -> None:
    """Silence the warnings PyTensor's JAX backend gives for what the library handles.

    PyTensor runs JAX in 32 bits when floatX is float32 (``jax_enable_x64`` off): a cost's
    float64 accumulator is then float32, an int64 draw int32, which JAX says at every compile
    (with 64 bits on, JAX would instead promote float32 weights to float64 after one update).
    JAX drops PyTensor's shape assertions, which it also says. And ``function`` gives each
    compiled function its own copy of a shared generator, which PyTensor warns of.
    """
    for message in (X64_WARNING, ASSERT_WARNING, SHARED_RNG_WARNING):
        warnings.filterwarnings("ignore", message=message, category=UserWarning)


def current() -> str:
    """The backend that ``pytensor.function`` compiles with now, by PyTensor's linker."""
    import pytensor

    linker = pytensor.config.linker
    if linker in ("numba", "jax", "pytorch"):
        return linker
    if linker == "auto":  # PyTensor's default: Numba where it is installed, else C
        return "numba" if importlib.util.find_spec("numba") else "c"
    return "c"  # cvm, cvm_nogc, c, c|py, vm, py: PyTensor's C or Python virtual machine


def mode(name: str | None = None):
    """The PyTensor mode that compiles with backend ``name`` (None: the current one), with
    PyTensor's default rewrites and the user's ``optimizer_excluding``."""
    import pytensor
    from pytensor.compile.mode import Mode, get_default_mode

    if name is None or check(name) == current():
        return get_default_mode()
    chosen = Mode(linker=LINKERS[name], optimizer=pytensor.config.optimizer)
    if pytensor.config.optimizer_excluding:
        chosen = chosen.excluding(*pytensor.config.optimizer_excluding.split(":"))
    return chosen


def function(inputs, outputs, backend: str | None = None, **kwargs):
    """``pytensor.function(inputs, outputs, **kwargs)`` compiled with ``backend`` (None: the
    current one). On JAX, each shared random generator's private copy inside the function is
    seeded from the shared generator (which advances), so no two functions draw alike."""
    import pytensor

    if backend is not None and "mode" not in kwargs:
        kwargs["mode"] = mode(backend)
    if (backend or current()) == "jax":
        quiet_jax()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SHARED_RNG_WARNING, category=UserWarning)
        fn = pytensor.function(inputs, outputs, **kwargs)
    for shared_variable, container in _generator_inputs(fn):
        if container.storage[0] is not shared_variable.container.storage[0]:  # a private copy
            seed = int(shared_variable.get_value(borrow=True).integers(2 ** 63))
            container.storage[0] = _jax_generator(seed)
    return fn


def function_of_rows(build, backend: str | None = None):
    """``fn(rows)``: the graph ``build(x)`` of a matrix ``x`` (one example per row), compiled.

    JAX must know every shape when it compiles, and some graphs (a convolution's padding)
    are shaped by the number of rows: on JAX one function is compiled per number of rows met
    (``utils.in_chunks`` meets at most two); every other backend compiles one for any number.
    """
    import pytensor.tensor as pt

    compiled = {}

    def fn(rows):
        rows_known = rows.shape[0] if (backend or current()) == "jax" else None
        if rows_known not in compiled:
            x = pt.matrix("x", shape=(rows_known, None))
            compiled[rows_known] = function([x], build(x), backend=backend)
        return compiled[rows_known](rows)

    return fn


def _generator_inputs(fn) -> list:
    """``(shared generator, the function's container for it)`` for each random generator the
    compiled ``fn`` reads."""
    from pytensor.tensor.random.type import RandomType

    return [(i.variable, container) for i, container in zip(fn.maker.inputs, fn.input_storage)
            if isinstance(i.variable.type, RandomType)]


def _jax_generator(seed: int) -> dict:
    """A random generator in the form PyTensor's JAX backend keeps one (its ``jax_state`` key
    is what the compiled function draws from)."""
    import numpy as np
    from pytensor.link.jax.dispatch import jax_typify

    return jax_typify(np.random.default_rng(seed))


class GeneratorCopy:
    """A compiled JAX function's private copy of a shared random generator, with the
    ``get_value``/``set_value`` of a shared variable, so that checkpoints save and restore it."""

    def __init__(self, container, name: str | None):
        self.container, self.name = container, name

    def get_value(self, borrow: bool = False) -> dict:
        return self.container.storage[0]

    def set_value(self, value, borrow: bool = False) -> None:
        self.container.storage[0] = value


def step_generators(fn, generators: list) -> list:
    """What a checkpoint saves of ``generators`` (shared random generators) for the compiled
    ``fn``: the generators themselves where ``fn`` advances them (C, Numba), ``fn``'s private
    copies where it keeps its own (JAX)."""
    copies = {id(shared): container for shared, container in _generator_inputs(fn)
              if container.storage[0] is not shared.container.storage[0]}
    return [GeneratorCopy(copies[id(g)], g.name) if id(g) in copies else g for g in generators]


def on_device(shared_variable, backend: str | None = None):
    """Keep ``shared_variable``'s value on the JAX device (as a ``jax.Array``) when ``backend``
    (None: the current one) is JAX, so that a compiled function reads it there instead of
    copying it from NumPy at every call; return the variable. Elsewhere nothing changes."""
    if (backend or current()) == "jax":
        import jax

        value = shared_variable.get_value(borrow=True)
        if not isinstance(value, jax.Array):
            shared_variable.container.storage[0] = jax.device_put(value)
    return shared_variable


def graph_problem(outputs: list, backend: str | None = None) -> str | None:
    """Why ``backend`` (None: the current one) cannot compile a graph with these outputs, in
    one line, or None: PyTensor 3.0's PyTorch backend has no random variables."""
    if (backend or current()) != "pytorch":
        return None
    from pytensor.graph.basic import Variable
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.random.op import RandomVariable

    def flat(items):
        for item in items:
            if isinstance(item, Variable):
                yield item
            elif isinstance(item, list | tuple):
                yield from flat(item)

    for variable in ancestors(list(flat(outputs))):
        if variable.owner is not None and isinstance(variable.owner.op, RandomVariable):
            return (f"the pytorch backend of PyTensor {_pytensor_version()} has no random "
                    f"variables ({variable.owner.op} in the graph): use --backend c, numba "
                    f"or jax")
    return None


def _pytensor_version() -> str:
    import pytensor

    return pytensor.__version__
