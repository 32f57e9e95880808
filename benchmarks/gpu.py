"""The tutorials on an NVIDIA GPU through JAX, timed, and written as a record.

    pip install -e ".[jax]" "jax[cuda12]"      # or the CUDA 13 plugin
    python benchmarks/gpu.py --output docs/results/gpu_jax

Checks that JAX sees a GPU (without one it stops, and writes nothing: a GPU figure is only
ever measured), then runs on it, each as its script runs for a learner with ``--backend jax``:
the dA tutorial (both corruption levels, 15 epochs), the SdA tutorial's defaults and the
convolutional autoencoder's 10 epochs. Writes ``record.json`` (the device, the figures, the
minutes of each run) and each run's own folder into ``--output``. ``--runs`` picks some.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = {
    "dA": ["scripts/test_dA.py"],
    "SdA": ["scripts/test_SdA.py"],
    "convolutional": ["scripts/convolutional_autoencoder.py", "--epochs", "10"],
}


def gpu_name() -> str | None:
    """The first GPU JAX sees, by name, or None."""
    import jax

    try:
        gpus = jax.devices("gpu")
    except RuntimeError:  # no GPU platform at all
        return None
    return gpus[0].device_kind if gpus else None


def figures(name: str, results: dict) -> dict:
    """The headline figures of one run's results.json."""
    if name == "dA":
        return {f"corruption_{round(run['corruption_level'] * 100)}_epoch_costs":
                run["epoch_costs"] for run in results["runs"]} | {
            "training_seconds": sum(sum(run["epoch_seconds"]) for run in results["runs"])}
    if name == "SdA":
        return {key: results[key] for key in ("test_error_percent",
                                              "best_validation_error_percent",
                                              "pretraining_seconds", "finetuning_seconds")}
    return {variant: {key: run[key] for key in ("test_mse", "epoch_seconds") if key in run}
            for variant, run in results["runs"].items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="the record's folder")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument("--dataset", default=None, help="MNIST (default: $DEEPTUTORIAL_DATA)")
    args = parser.parse_args()
    try:
        device = gpu_name()
    except ImportError:
        print('gpu.py: error: JAX is not installed: pip install -e ".[jax]" "jax[cuda12]"',
              file=sys.stderr)
        return 1
    if device is None:
        print("gpu.py: error: JAX sees no GPU here (jax.devices('gpu') is empty); the record is "
              "made only on a GPU", file=sys.stderr)
        return 1
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    record = {"what": "The tutorials trained on a GPU through JAX (--backend jax)",
              "command": "python benchmarks/gpu.py " + " ".join(sys.argv[1:]),
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
              "machine": {"gpu": device, "cpu": platform.processor() or platform.machine(),
                          "cores": os.cpu_count()},
              "runs": {}}
    for name in args.runs:
        command = [sys.executable, *RUNS[name], "--backend", "jax",
                   "--output-folder", str(out / name)]
        if args.dataset:
            command += ["--dataset", args.dataset]
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        minutes = (time.perf_counter() - start) / 60
        (out / f"{name}.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            print(f"gpu.py: error: {name} failed: {proc.stderr.strip().splitlines()[-1]}",
                  file=sys.stderr)
            return 1
        results = json.loads((out / name / "results.json").read_text())
        record["runs"][name] = {"minutes": round(minutes, 2), **figures(name, results)}
        print(f"{name}: {minutes:.2f} minutes", flush=True)
    (out / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
