import pytensor

from deeptutorial.fastpath import threaded_blas
from deeptutorial.info import backend_info, main, slow_path_reason


def test_info_reports_backend_blas_and_floatX(capsys):
    info = backend_info()
    assert info["backend"] in ("numba", "cvm", "c", "c|py", "jax", "vm", "py")
    assert {"blas", "floatX", "compiledir"} <= set(info)
    main()
    out = capsys.readouterr().out
    assert "backend" in out and "fast path" in out


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
