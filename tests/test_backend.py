import json
import os
import re
import subprocess
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from pytensor.tensor.blas import Gemm

import deeptutorial  # noqa: F401  (configures the backend)
from deeptutorial.fastpath import blas, compiler
from deeptutorial.fastpath.blas import blas_choice, mkl_ldflags, openblas_ldflags
from deeptutorial.fastpath.compiler import vector_math_flags
from deeptutorial.info import slow_path_reason
from deeptutorial.losses import cross_entropy, reconstruction_loss

SHOW_CONFIG = ("import json, pytensor, deeptutorial; "
               "print(json.dumps([pytensor.config.linker, pytensor.config.blas__ldflags, "
               "pytensor.config.gcc__cxxflags]))")


def config_in_subprocess(pytensor_flags: str | None, **env_changes) -> tuple[str, str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTENSOR_FLAGS", "DEEPTUTORIAL_BLAS", "DEEPTUTORIAL_FASTPATH")}
    if pytensor_flags is not None:
        env["PYTENSOR_FLAGS"] = pytensor_flags
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-c", SHOW_CONFIG], env=env, capture_output=True,
                         text=True, check=True).stdout
    return tuple(json.loads(out.strip().splitlines()[-1]))


def chosen_ldflags() -> str:
    return {"mkl": mkl_ldflags, "openblas": openblas_ldflags}[blas_choice()]()


@pytest.mark.skipif(openblas_ldflags() is None, reason="scipy-openblas32 is not installed")
def test_import_chooses_c_with_a_blas_unless_the_user_chose():
    assert config_in_subprocess(None) == ("cvm", chosen_ldflags(), vector_math_flags() or "")
    linker, flags, _ = config_in_subprocess("linker=numba")
    assert linker == "numba" and flags == chosen_ldflags()
    linker, _, _ = config_in_subprocess("mode=NUMBA")
    assert linker != "cvm"
    assert config_in_subprocess("gcc__cxxflags=-O2")[2] == "-O2"


def test_blas_choice_prefers_mkl_on_intel_and_follows_the_variable(monkeypatch):
    monkeypatch.setattr(blas, "mkl_ldflags", lambda: "-lmkl")
    monkeypatch.setattr(blas, "openblas_ldflags", lambda: "-lopenblas")
    monkeypatch.delenv("DEEPTUTORIAL_BLAS", raising=False)
    for vendor, choice in [("GenuineIntel", "mkl"), ("AuthenticAMD", "openblas"), ("", "openblas")]:
        monkeypatch.setattr(blas, "cpu_vendor", lambda vendor=vendor: vendor)
        assert blas_choice() == choice
    monkeypatch.setenv("DEEPTUTORIAL_BLAS", "mkl")
    assert blas_choice() == "mkl"
    monkeypatch.setattr(blas, "cpu_vendor", lambda: "GenuineIntel")
    monkeypatch.setenv("DEEPTUTORIAL_BLAS", "OpenBLAS")
    assert blas_choice() == "openblas"
    # a BLAS that is not installed is not chosen, even when asked for
    monkeypatch.setattr(blas, "mkl_ldflags", lambda: None)
    monkeypatch.setenv("DEEPTUTORIAL_BLAS", "mkl")
    assert blas_choice() == "openblas"
    monkeypatch.setattr(blas, "openblas_ldflags", lambda: None)
    assert blas_choice() is None


@pytest.mark.skipif(mkl_ldflags() is None or openblas_ldflags() is None,
                    reason="needs both the mkl extra and scipy-openblas32")
def test_the_variable_picks_the_blas_in_a_new_process():
    assert config_in_subprocess(None, DEEPTUTORIAL_BLAS="openblas")[1] == openblas_ldflags()
    flags = config_in_subprocess(None, DEEPTUTORIAL_BLAS="mkl")[1]
    assert flags == mkl_ldflags() and "-l:libmkl_sequential.so" in flags


@pytest.mark.skipif(mkl_ldflags() is None or not pytensor.config.cxx,
                    reason="needs the mkl extra and a C++ compiler")
def test_mkl_linked_products_are_right(float32):
    """gemm, gemv and ger linked to MKL (threaded split included), against NumPy in float64:
    in a new process, so that MKL is linked whatever this one chose."""
    script = (
        "import numpy as np, pytensor, pytensor.tensor as pt, deeptutorial\n"
        "pytensor.config.floatX = 'float32'\n"
        "assert 'mkl' in pytensor.config.blas__ldflags\n"
        "rng = np.random.default_rng(0)\n"
        "W0 = rng.normal(size=(784, 500)).astype('float32')\n"
        "X = rng.normal(size=(20, 784)).astype('float32')\n"
        "v = rng.normal(size=784).astype('float32'); u = rng.normal(size=500).astype('float32')\n"
        "W = pytensor.shared(W0.copy())\n"
        "x, a, b = pt.matrix('x'), pt.vector('a'), pt.vector('b')\n"
        "f = pytensor.function([x, a], [pt.dot(x, W), pt.dot(a, W)])\n"
        "g = pytensor.function([a, b], [], updates=[(W, W - 0.5 * pt.outer(a, b))])\n"
        "got_xw, got_vw = f(X, v); g(v, u)\n"
        "W64 = W0.astype('float64')\n"
        "np.testing.assert_allclose(got_xw, X.astype('float64') @ W64, rtol=1e-4, atol=1e-3)\n"
        "np.testing.assert_allclose(got_vw, v.astype('float64') @ W64, rtol=1e-4, atol=1e-3)\n"
        "want = W64 - 0.5 * np.outer(v, u)\n"
        "np.testing.assert_allclose(W.get_value(), want, rtol=1e-5, atol=1e-5)\n"
        "print('ok')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    env["DEEPTUTORIAL_BLAS"] = "mkl"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "ok"
    assert "did not find a dynamic library" not in done.stderr


@pytest.mark.skipif(not pytensor.config.cxx, reason="needs a C++ compiler")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vectorised_maths_stays_accurate_and_ieee(dtype):
    """exp, log1p, softplus and sigmoid as compiled with the library's flags (libmvec on
    x86-64 glibc): within a few ulp of NumPy in float64, infinities and NaN as IEEE says."""
    special = [-np.inf, -800.0, -88.0, -37.5, -20.0, -1e-8, -0.0, 0.0, 1e-30, 1e-8, 0.5, 17.9,
               18.1, 33.2, 33.4, 88.0, 800.0, np.inf, np.nan]
    values = np.concatenate([special, np.random.default_rng(2).normal(scale=30, size=1001)])
    values = values.astype(dtype)
    a = pt.vector("a", dtype=dtype)
    f = pytensor.function([a], [pt.exp(a), pt.log1p(pt.abs(a)), pt.softplus(a), pt.sigmoid(a)],
                          mode=Mode(linker="cvm", optimizer="fast_run"))
    wide = values.astype("float64")
    with np.errstate(all="ignore"):
        expected = [np.exp(wide), np.log1p(np.abs(wide)), np.logaddexp(0, wide),
                    1 / (1 + np.exp(-wide))]
    tiny = np.finfo(dtype).tiny
    rtol = 8 * np.finfo(dtype).eps
    for name, got, want in zip(["exp", "log1p", "softplus", "sigmoid"], f(values), expected):
        assert got.dtype == dtype
        nan = np.isnan(want)
        np.testing.assert_array_equal(np.isnan(got), nan, err_msg=name)
        with np.errstate(over="ignore"):
            want = want.astype(dtype)  # overflow to inf where the dtype overflows
        np.testing.assert_allclose(got[~nan], want[~nan], rtol=rtol, atol=tiny, err_msg=name)


@pytest.mark.skipif(openblas_ldflags() is None or not pytensor.config.cxx,
                    reason="needs scipy-openblas32 and a C++ compiler")
def test_c_backend_updates_weights_in_place_with_blas(float32):
    """The update is one Gemm that destroys (overwrites) W's own buffer: after the step the
    shared variable still holds the very same array object. (Broken by excluding PyTensor's
    in-place rewrites, ``mode.excluding("inplace")``: a copying Gemm, a new array.)"""
    rng = np.random.default_rng(0)
    W0 = rng.normal(size=(7, 5)).astype("float32")
    W = pytensor.shared(W0.copy())
    buffer = W.get_value(borrow=True)
    x, d = pt.matrix("x"), pt.matrix("d")
    step = pytensor.function([x, d], [], updates=[(W, W - 0.1 * pt.dot(x.T, d))],
                             mode=Mode(linker="cvm", optimizer="fast_run"))
    gemms = [node for node in step.maker.fgraph.toposort() if isinstance(node.op, Gemm)]
    assert len(gemms) == 1 and gemms[0].op.destroy_map == {0: [0]}
    assert gemms[0].inputs[0] is step.maker.fgraph.inputs[-1]  # it writes into W's input
    xv, dv = rng.normal(size=(3, 7)).astype("float32"), rng.normal(size=(3, 5)).astype("float32")
    step(xv, dv)
    np.testing.assert_allclose(W.get_value(), W0 - 0.1 * xv.T @ dv, rtol=1e-5, atol=1e-6)
    assert W.get_value(borrow=True) is buffer
    np.testing.assert_allclose(buffer, W0 - 0.1 * xv.T @ dv, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(openblas_ldflags() is None or not pytensor.config.cxx,
                    reason="scipy-openblas32 or a C compiler is missing")
def test_the_c_backend_with_a_blas_is_no_slow_path():
    """(Broken by an empty blas__ldflags: slow_path_reason names it.)"""
    assert pytensor.config.linker == "cvm" and pytensor.config.blas__ldflags
    assert slow_path_reason() is None
    with pytensor.config.change_flags(blas__ldflags=""):
        assert "no BLAS" in slow_path_reason()


def test_cross_entropy_from_logits_equals_the_log_form(float64):
    rng = np.random.default_rng(1)
    x_value = rng.uniform(size=(4, 9))
    a_value = rng.normal(scale=5, size=(4, 9))
    x, a = pt.matrix("x"), pt.matrix("a")
    got = pytensor.function([x, a], cross_entropy(x, a))(x_value, a_value)
    z = 1 / (1 + np.exp(-a_value))
    expected = -np.sum(x_value * np.log(z) + (1 - x_value) * np.log(1 - z), axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # far into saturation the log form gives inf; the logits form stays finite
    far = pytensor.function([x, a], cross_entropy(x, a))(np.ones((1, 1)), np.full((1, 1), -800.0))
    np.testing.assert_allclose(far, [800.0])


def test_squared_error_reads_the_sigmoid_of_the_logits(float64):
    x, a = pt.matrix("x"), pt.matrix("a")
    f = pytensor.function([x, a], reconstruction_loss("squared_error", x, a))
    np.testing.assert_allclose(f(np.array([[1.0, 0.0]]), np.zeros((1, 2))), [0.5])
    with pytest.raises(ValueError, match="hinge"):
        reconstruction_loss("hinge", x, a)


MARCH = ("import json, sys, deeptutorial; from pytensor.link.c.cmodule import GCC_compiler; "
         "print(json.dumps(GCC_compiler.march_flags)); "
         "GCC_compiler.march_flags = GCC_compiler.march_flags or json.loads(sys.argv[1])")


@pytest.mark.skipif(not pytensor.config.cxx, reason="needs a C++ compiler")
def test_march_flags_found_once_are_reused_by_later_processes(tmp_path):
    """A process that found PyTensor's -march flags leaves them in the compiledir; the next
    one starts with them (no compiler runs); an unreadable file is ignored and replaced."""
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    env["PYTENSOR_FLAGS"] = f"base_compiledir={tmp_path}"

    def run(found_flags):  # what the process started with; it then "finds" found_flags
        out = subprocess.run([sys.executable, "-c", MARCH, json.dumps(found_flags)], env=env,
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    assert run(None) is None  # nothing found: nothing written
    assert not list(tmp_path.rglob(compiler.MARCH_FILE))
    assert run(["-march=testcpu"]) is None
    assert run(["-march=other"]) == ["-march=testcpu"]
    [saved] = tmp_path.rglob(compiler.MARCH_FILE)
    saved.write_text("{not json")
    assert run(["-march=again"]) is None
    assert run(None) == ["-march=again"]
    # the user's own -march: PyTensor adds none, so none is given
    env["PYTENSOR_FLAGS"] += ",gcc__cxxflags=-march=x86-64"
    assert run(None) is None


def test_march_key_follows_the_cpu_and_the_compiler(monkeypatch):
    monkeypatch.setattr(compiler, "_cpuinfo_lines", lambda: ["model name : A", "flags : avx2"])
    key = compiler.march_key()
    assert key == compiler.march_key()
    monkeypatch.setattr(compiler, "_cpuinfo_lines", lambda: ["model name : A", "flags : avx512f"])
    assert compiler.march_key() != key
    other_compiler = compiler.march_key()
    with pytensor.config.change_flags(cxx="clang++-that-is-not-there"):
        assert compiler.march_key() != other_compiler


WHOLE_CONFIG = ("import sys, pytensor; {before}; print(str(pytensor.config), file=sys.stderr); "
                "print(pytensor.config.linker, pytensor.config.gcc__cxxflags, "
                "sorted(pytensor.compile.optdb.__db__))")


def python_with(code: str, **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTENSOR_FLAGS", "DEEPTUTORIAL_BLAS", "DEEPTUTORIAL_FASTPATH")}
    env.update(env_changes, PYTHONHASHSEED="0")  # PyTensor prints sets of options
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)


def test_the_switch_leaves_pytensor_untouched():
    """DEEPTUTORIAL_FASTPATH=0: the same config and rewrites as without deeptutorial.
    (Broken by deleting the switch's check in fastpath.enable: the linker becomes cvm.)"""
    plain = python_with(WHOLE_CONFIG.format(before="pass"))
    switched_off = python_with(WHOLE_CONFIG.format(before="import deeptutorial"),
                               DEEPTUTORIAL_FASTPATH="0")
    assert switched_off.stdout == plain.stdout
    # every config value, as PyTensor prints them (less the objects' addresses)
    assert re.sub(r" at 0x[0-9a-f]+", "", switched_off.stderr) == \
        re.sub(r" at 0x[0-9a-f]+", "", plain.stderr)
    switched_on = python_with(WHOLE_CONFIG.format(before="import deeptutorial"))
    assert switched_on.stdout != plain.stdout


def test_a_pytensor_without_an_internal_turns_the_fast_path_off_in_one_line():
    """A PyTensor lacking an op the fast path subclasses: import works, one warning line,
    PyTensor as it comes. (Broken by letting the ImportError through in fastpath.enable.)"""
    code = ("import pytensor.tensor.blas_c as m; del m.CGer; import deeptutorial, pytensor; "
            "print(deeptutorial.fastpath.enabled, pytensor.config.linker)")
    done = python_with(code)
    assert done.stdout.split() == ["False", "auto"]
    warning = [line for line in done.stderr.splitlines() if "deeptutorial" in line]
    assert len(warning) == 1 and "fast path off" in warning[0] and "CGer" in warning[0]


STEP_KEEPS = ("import numpy as np, pytensor, pytensor.tensor as pt, deeptutorial; "
              "from deeptutorial.training import compile_step; "
              "x = pt.matrix('x'); w = pytensor.shared(np.ones(3), name='w'); "
              "cost = pt.sum(pt.dot(x, w)); "
              "step, _ = compile_step(cost, [(w, w - 0.1 * pytensor.grad(cost, w))], x, "
              "pytensor.shared(np.ones((4, 3))), 2); "
              "print(step.maker.linker.allow_gc, round(float(step(np.asarray(0))), 9), "
              "round(float(step(np.asarray(1))), 9))")


def test_a_training_step_keeps_its_buffers_unless_the_user_says():
    """``compile_step`` keeps a step's intermediate arrays between calls (no fresh allocation
    at every step); the steps compute the same; ``allow_gc`` set by the user wins."""
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    kept = subprocess.run([sys.executable, "-c", STEP_KEEPS], env=env, capture_output=True,
                          text=True, check=True).stdout.split()
    assert kept == ["False", "6.0", "4.8"]  # x W with W = 1, then W = 1 - 0.1 * 2
    env["PYTENSOR_FLAGS"] = "allow_gc=True"
    chosen = subprocess.run([sys.executable, "-c", STEP_KEEPS], env=env, capture_output=True,
                            text=True, check=True).stdout.split()
    assert chosen == ["True", "6.0", "4.8"]
