import json
import subprocess
import sys

import pytest

from conftest import FULL_MNIST, REPO, needs_full_mnist


def run(script, *args, cwd=REPO):
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def test_dA_script_writes_images_and_results(tmp_path):
    out = tmp_path / "plots"
    proc = run("test_dA.py", "--dataset", "sample", "--epochs", 2, "--n-hidden", 30,
               "--output-folder", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Training epoch") == 4
    assert "corruption code ran for" in proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["corruption_levels"] == [0.0, 0.3]
    assert [r["corruption_level"] for r in results["runs"]] == [0.0, 0.3]
    for run_ in results["runs"]:
        assert len(run_["epoch_costs"]) == len(run_["epoch_seconds"]) == 2
        assert run_["epoch_costs"][1] < run_["epoch_costs"][0]
        assert (out / run_["filters_image"]).stat().st_size > 0
    assert sorted(p.name for p in out.glob("*.png")) == [
        "filters_corruption_0.png", "filters_corruption_30.png", "filters_side_by_side.png"]


def test_dA_script_prints_the_graph(tmp_path):
    proc = run("test_dA.py", "--dataset", "sample", "--epochs", 1, "--n-hidden", 10,
               "--corruption-levels", 0.3, "--print-graph", "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "symbolic cost graph" in proc.stdout and "compiled training function" in proc.stdout
    assert "Sigmoid" in proc.stdout or "sigmoid" in proc.stdout


@pytest.mark.parametrize("args, word", [
    (["--corruption-levels", "1.5"], "1.5"),
    (["--batch-size", "0"], "--batch-size"),
    (["--learning-rate", "-1"], "-1"),
    (["--epochs", "two"], "two"),
    (["--dataset", "/no/such/folder"], "/no/such/folder"),
    (["--batch-size", "5000"], "5000"),
])
def test_dA_script_bad_input_is_one_line(tmp_path, args, word):
    assert_one_line_error(run("test_dA.py", "--dataset", "sample", "--output-folder", tmp_path,
                              *args), word)


def assert_one_line_error(proc, word):
    """The script failed with a single line of stderr that names ``word``."""
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], proc.stderr


@needs_full_mnist
def test_first_epoch_reproduces_the_tutorial(tmp_path):
    """The original Theano tutorial printed 63.2892 for the first 0%-corruption epoch."""
    proc = run("test_dA.py", "--dataset", FULL_MNIST, "--epochs", 1, "--corruption-levels", 0,
               "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Training epoch 0, cost 63.2892" in proc.stdout
    cost = json.loads((tmp_path / "results.json").read_text())["runs"][0]["epoch_costs"][0]
    assert cost == pytest.approx(63.2892, rel=1e-4)


def test_the_four_bad_cases_each_end_in_one_line_before_training(tmp_path):
    """A truncated checkpoint, an output folder that is a file, a PNG as the dataset, a model
    too large for the machine: one line each, nothing trained, nothing of an earlier run lost.
    (Broken by checking the output folder only when results are written: the second case
    trains first.)"""
    ckpt = tmp_path / "ckpt"
    args = ["--dataset", "sample", "--epochs", 1, "--n-hidden", 20, "--corruption-levels", 0.3]
    assert run("test_dA.py", *args, "--output-folder", tmp_path / "a",
               "--checkpoint-dir", ckpt).returncode == 0
    checkpoint = ckpt / "dA_corruption_30.npz"
    checkpoint.write_bytes(checkpoint.read_bytes()[:2000])
    earlier = (tmp_path / "a" / "results.json").read_bytes()
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    png = tmp_path / "digits.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    for extra, word in (([ "--output-folder", tmp_path / "a", "--checkpoint-dir", ckpt,
                          "--resume"], "truncated"),
                        (["--output-folder", a_file], "not a folder"),
                        (["--output-folder", tmp_path / "b", "--dataset", png], "PNG image"),
                        (["--output-folder", tmp_path / "c", "--n-hidden", 10 ** 7],
                         "choose fewer units")):
        proc = run("test_dA.py", *args, *extra)
        assert proc.returncode != 0 and "Training epoch" not in proc.stdout
        assert_one_line_error(proc, word)
    assert (tmp_path / "a" / "results.json").read_bytes() == earlier
    assert a_file.read_text() == "keep me"
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
