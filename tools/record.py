"""Make a record under docs/results/: run a command, keep its log and what it was.

    python tools/record.py dA_tutorial --what "the dA tutorial, library defaults" \
        -- python scripts/test_dA.py --output-folder docs/results/dA_tutorial

runs the command from the repository root, writes everything it prints to
``docs/results/NAME/log.txt`` (and to the terminal), and ``docs/results/NAME/record.json``
with what the run is, the command, the date, the machine as hardware (CPU model, cores), the
wall-clock seconds, whether the machine was otherwise idle at the start (load average) and the
exit code. Where PyTorch is installed it also times, just before the command, PyTorch's whole
epoch of the dA tutorial's network (``benchmarks/epochs.py --reference``): the host's speed,
so that a reader can compare records made on machines, or at moments, of different speeds
(``--no-pytorch-reference`` skips it). The documentation's Records page is built from these
files.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"


def machine() -> dict:
    """The machine as hardware: CPU model and the cores this process may use."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model or "unknown", "cores": cores}


def pytorch_reference() -> dict | None:
    """PyTorch's dA tutorial epoch on this machine now (``benchmarks/epochs.py --reference``),
    or None without PyTorch or when it fails."""
    if importlib.util.find_spec("torch") is None:
        return None
    proc = subprocess.run([sys.executable, "benchmarks/epochs.py", "--reference"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        print(f"record: no PyTorch reference: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="folder under docs/results/, named by what the run is")
    parser.add_argument("--what", required=True, help="one line: what this record shows")
    parser.add_argument("--headline", default=None,
                        help="results.json key (dotted path) of the headline figure")
    parser.add_argument("--no-pytorch-reference", action="store_true",
                        help="do not time PyTorch's dA epoch before the command")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, command = parser.parse_args(argv[:split]), argv[split + 1:]
    if not command:
        parser.error("give the command after --")
    folder = RESULTS / args.name
    folder.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    reference = None if args.no_pytorch_reference else pytorch_reference()
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    with open(folder / "log.txt", "w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        code = proc.wait()
    record = {"what": args.what, "command": shlex.join(command),
              "date": started.strftime("%Y-%m-%d"), "machine": machine(),
              "load_average_at_start": load, "wall_seconds": round(time.perf_counter() - start, 1),
              "exit_code": code}
    if reference is not None:
        record["pytorch_reference"] = reference
    if args.headline:
        record["headline"] = args.headline
    (folder / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
