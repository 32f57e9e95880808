import pytensor

from deeptutorial import fastpath
from deeptutorial.fastpath import threaded_blas
from deeptutorial.info import backend_info, main, slow_path_reason


def test_info_reports_the_backend_the_fast_path_chose(capsys):
    """With the fast path on, the C backend and the BLAS it links; otherwise PyTensor's own
    choice. (Broken by reporting pytensor.config.mode instead of the linker: "Mode".)"""
    info = backend_info()
    if fastpath.enabled:
        assert info["backend"] == "cvm" and info["fast_path"] == "on"
        assert "set by deeptutorial" in info["blas"]["pytensor_c"]
    else:
        assert info["backend"] == "numba" and info["fast_path"].startswith("off")
    assert info["floatX"].startswith(pytensor.config.floatX)
    assert info["compiledir"] == pytensor.config.compiledir
    main()
    out = capsys.readouterr().out
    assert f"backend          {info['backend']}" in out and "fast path" in out


def test_info_reports_who_threads_blas():
    info = backend_info()
    if info["backend"] in ("numba", "jax"):
        assert "blas_threads" not in info
    elif threaded_blas.registered:
        assert info["blas_threads"].startswith(f"{threaded_blas.threads} (OpenMP")
    else:
        assert info["blas_threads"] == "the BLAS's own"


def test_python_linker_is_reported_as_slow():
    with pytensor.config.change_flags(linker="py"):
        assert "Python" in slow_path_reason()
