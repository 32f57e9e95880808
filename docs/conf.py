"""Sphinx configuration of the deeptutorial documentation (MyST Markdown, PyData theme).

Build with ``sphinx-build -W -b html docs docs/_build`` (warnings are errors). The maths is
rendered by a MathJax copy served from the site itself, so pages work without a network.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import jupyter_server_mathjax

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

project = "deeptutorial"
author = "the deeptutorial authors"
copyright = "the deeptutorial authors"

# myst_nb: MyST Markdown, and the notebooks in notebooks/ (MyST Markdown notebooks, read by
# jupytext too), executed at every build on the bundled sample with small settings
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx.ext.viewcode"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "attrs_inline"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "_generated", "results", "jupyter_execute", "Thumbs.db",
                    ".DS_Store"]
suppress_warnings = ["myst.header"]
nb_execution_mode = "cache"  # executed when its source changed (jupyter-cache in _build)
nb_execution_cache_path = str(Path(__file__).resolve().parent / "_build" / ".jupyter_cache")
nb_execution_raise_on_error = True  # a notebook that raises fails the build
nb_execution_timeout = 900
# the notebooks read this and run on the bundled sample with small settings
os.environ.setdefault("DEEPTUTORIAL_NOTEBOOK_SMALL", "1")
# no progress bars in the executed pages: a static page cannot draw tqdm's notebook widget
os.environ.setdefault("TQDM_DISABLE", "1")

html_theme = "pydata_sphinx_theme"
html_title = "deeptutorial"
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False,
                      "secondary_sidebar_items": ["page-toc"]}
# no left sidebar: the top bar holds the navigation, and an empty "Section Navigation" column
# would only narrow the tables and equations
html_sidebars = {"**": []}

# MathJax 2 from the jupyter-server-mathjax package, copied into _static/ with the site.
html_static_path = [str(Path(jupyter_server_mathjax.__file__).parent / "static")]
mathjax_path = "MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
# That package ships MathJax 2 with the STIX-Web fonts only (as Jupyter uses it). MyST marks
# the page to be skipped and its maths to be processed, with classes MathJax 2 must be told.
myst_update_mathjax = False
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                "processClass": "tex2jax_process|mathjax_process|math|output_area",
                "ignoreClass": "tex2jax_ignore|mathjax_ignore"},
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web",
                 "imageFont": None},
    "SVG": {"font": "STIX-Web"},
}

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"


def _cores(machine: dict) -> str:
    return f"{machine['cores']} core{'' if machine['cores'] == 1 else 's'}"


def _host(record: dict) -> str:
    """The record's machine, with its speed where the record measured it: PyTorch's whole
    epoch of the dA tutorial's network just before the run."""
    machine, reference = record["machine"], record.get("pytorch_reference")
    text = f"{_cores(machine)}, {machine['cpu']}"
    if reference:
        text += f"; PyTorch's dA epoch {reference['torch_dA_epoch_seconds']:.2f} s"
    return text


def headline(record_file: Path, record: dict) -> str | None:
    """``key = value`` of a record's headline figure (a dotted path into its results.json)."""
    key, results_file = record.get("headline"), record_file.parent / "results.json"
    if not key or not results_file.is_file():
        return None
    value = json.loads(results_file.read_text())
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return f"`{key}` = {_short(value)}"


def write_records() -> None:
    """From the record.json of every record under docs/results/: the Records page's table
    (docs/_generated/records.md) and, per record, the line the pages show below its figures
    (docs/_generated/record_NAME.md), so that neither can go stale."""
    out = DOCS / "_generated"
    out.mkdir(exist_ok=True)
    rows = []
    for record_file in sorted((DOCS / "results").glob("*/record.json")):
        record = json.loads(record_file.read_text())
        name = record_file.parent.name
        figure = headline(record_file, record)
        rows.append(f"| `{name}` | {record['what']} | `{record['command']}` | "
                    f"{record['date']} | {_host(record)} | "
                    f"{figure or ''} |")
        line = (f"Recorded by `{record['command']}` on {record['date']} "
                f"({_host(record)}); record: `docs/results/{name}/`.")
        if figure:
            line = f"Headline: {figure}. " + line
        (out / f"record_{name}.md").write_text(line + "\n")
    (out / "records.md").write_text(
        "| record | what | command | date | machine | headline |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict) and "mean" in value:
        return f"{_short(value['mean'])} (mean of {len(value.get('runs', []))} runs)"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_short(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def write_dA_trajectory() -> None:
    """docs/_generated/dA_trajectory.md: the recorded dA run's epoch costs, both levels."""
    results = json.loads((DOCS / "results" / "dA_tutorial" / "results.json").read_text())
    runs = results["runs"]
    theano_log = DOCS / "results" / "theano_original_dA_trajectory" / "log.txt"
    theano = next(json.loads(line) for line in theano_log.read_text().splitlines()
                  if line.startswith("{"))["epoch_costs"]
    header = " | ".join(f"cost at {run['corruption_level']:.0%}" for run in runs)
    lines = [f"| epoch | original Theano code at 0% | {header} |",
             "|---" * (len(runs) + 2) + "|"]
    for epoch in range(max(len(run["epoch_costs"]) for run in runs)):
        costs = " | ".join(f"{run['epoch_costs'][epoch]:.4f}" for run in runs)
        original = f"{theano[epoch]:.4f}" if epoch < len(theano) else ""
        lines.append(f"| {epoch} | {original} | {costs} |")
    record = json.loads((DOCS / "results" / "dA_tutorial" / "record.json").read_text())
    minutes = [sum(run["epoch_seconds"]) / 60 for run in runs]
    lines.append("")
    lines.append(f"Recorded by `{record['command']}` on {record['date']} "
                 f"({_cores(record['machine'])}, {record['machine']['cpu']}): "
                 + ", ".join(f"{m:.2f} minutes of training at {run['corruption_level']:.0%}"
                             for m, run in zip(minutes, runs))
                 + " (`docs/results/dA_tutorial/`).")
    (DOCS / "_generated" / "dA_trajectory.md").write_text("\n".join(lines) + "\n")


def sda_records():
    """``(record_file, record, results)`` of every SdA run under docs/results/ with both."""
    for record_file in sorted((DOCS / "results").glob("SdA_*/record.json")):
        results_file = record_file.parent / "results.json"
        if results_file.is_file():
            yield record_file, json.loads(record_file.read_text()), json.loads(
                results_file.read_text())


def write_SdA_runs() -> None:
    """docs/_generated/SdA_runs.md: every recorded SdA run beside the tutorial's figures."""
    lines = ["| record | pretrained | batch size | fine-tuning epochs | validation error | "
             "test error | minutes (pretraining + fine-tuning) | machine |",
             "|---|---|---|---|---|---|---|---|",
             "| the original tutorial | yes | 1 | 36 | 1.39% | 1.30% | 1029 (2008 Xeon) | |"]
    for record_file, record, results in sda_records():
        minutes = (results["pretraining_seconds"] / 60, results["finetuning_seconds"] / 60)
        lines.append(
            f"| `{record_file.parent.name}` | "
            f"{'no' if results['settings'].get('no_pretraining') else 'yes'} | "
            f"{results['settings']['batch_size']} | "
            f"{results['finetune_epochs']} | {results['best_validation_error_percent']:.2f}% | "
            f"{results['test_error_percent']:.2f}% | {minutes[0]:.1f} + {minutes[1]:.1f} | "
            f"{_cores(record['machine'])}, {record['machine']['cpu']} |")
    (DOCS / "_generated" / "SdA_runs.md").write_text("\n".join(lines) + "\n")


def write_conv_records() -> None:
    """docs/_generated/conv_records.md: the convolutional autoencoders' recorded runs, or a
    line saying none is recorded yet."""
    lines = []
    for name in ("convolutional_autoencoder", "convolutional_autoencoder_nearest"):
        folder = DOCS / "results" / name
        if not (folder / "results.json").is_file():
            continue
        results = json.loads((folder / "results.json").read_text())
        for variant, run in results["runs"].items():
            lines.append(f"| `{name}` | {variant} ({results['settings']['upsampling']}) | "
                         f"{run['test_mse']:.5f} | {run['test_cross_entropy']:.4f} | "
                         f"{len(run['epoch_costs'])} |")
        for image in sorted(folder.glob("reconstructions_*.png")):
            variant = image.stem.split("_", 1)[1]
            rows = ("test digits, the noisy inputs the model saw, its reconstructions"
                    if variant == "denoising" else "test digits and their reconstructions")
            lines.append("")
            lines.append(f"The {variant} variant ({results['settings']['upsampling']}): {rows}.")
            lines.append("")
            lines.append(f"![{image.stem}](../results/{name}/{image.name})")
        lines.append("")
        lines.append(f"{{include}} record_{name}.md")
    if not lines:
        text = "No run of the convolutional autoencoders on full MNIST is recorded yet.\n"
    else:
        table = ["| record | variant | test MSE | test cross-entropy per pixel | epochs |",
                 "|---|---|---|---|---|"]
        rows = [line for line in lines if line.startswith("|")]
        rest = [line for line in lines if not line.startswith("|")]
        text = "\n".join(table + rows + [""] + [
            line if not line.startswith("{include}") else
            (DOCS / "_generated" / line.split()[1]).read_text().strip() for line in rest]) + "\n"
    (DOCS / "_generated" / "conv_records.md").write_text(text)


def write_record_section(out_name: str, record: str, missing: str, render) -> None:
    """docs/_generated/OUT_NAME: ``render(results)`` of the record ``docs/results/RECORD``
    followed by the record's line (command, date, machine), or the sentence ``missing`` while
    the run is not recorded: what every page that shows one record's figures includes."""
    results_file = DOCS / "results" / record / "results.json"
    if not results_file.is_file():
        text = missing + "\n"
    else:
        text = (render(json.loads(results_file.read_text())) + "\n\n"
                + (DOCS / "_generated" / f"record_{record}.md").read_text())
    (DOCS / "_generated" / out_name).write_text(text)


def refit_error(results: dict) -> str:
    """The test error of a run's classifier refit on all 60,000 training digits
    (``--classifier-refit``), or a dash where the run did not refit it."""
    error = results.get("classifier_refit_test_error_percent")
    return "–" if error is None else f"{error:.2f}%"


def k_sparse_figures(results: dict) -> str:
    """One k-sparse run's figures as a table."""
    return (f"| test squared error per digit | test MSE per pixel | active units | units no "
            f"test digit selects | logistic regression on the codes: test error | refit on "
            f"60,000 digits: test error |\n"
            f"|---|---|---|---|---|---|\n"
            f"| {results['test_squared_error']:.2f} | {results['test_mse']:.5f} | "
            f"{results['mean_active_units']:.0f} | "
            f"{results['units_never_active']} | "
            f"{results['classifier_test_error_percent']:.2f}% | {refit_error(results)} |")


def k_sparse_section(results: dict) -> str:
    """The k-sparse autoencoder's filters beside the dA's, and its figures."""
    settings = results["settings"]
    return (f"Its filters ({settings['n_hidden']} units, k = {settings['k']}; the first "
            f"100) and, beside them, the dA's at 30% corruption:\n\n"
            f"![k-sparse filters](../results/k_sparse_autoencoder/k_sparse_filters.png)\n"
            f"![dA filters at 30%](../results/dA_tutorial/filters_corruption_30.png)\n\n"
            + k_sparse_figures(results))


def k_sparse_run_section(results: dict, record: str, what: str) -> str:
    """Another k-sparse run: its filters and figures."""
    return (f"![k-sparse filters, {what}](../results/{record}/k_sparse_filters.png)\n\n"
            + k_sparse_figures(results))


def wta_figures(results: dict) -> str:
    """One winner-take-all run's figures as a table."""
    settings, classifier = results["settings"], results["classifier"]
    return (f"| epochs | winners per unit and batch | test squared error per digit | "
            f"features above zero | classifier: best validation error | test error | refit on "
            f"60,000 digits: test error |\n"
            f"|---|---|---|---|---|---|---|\n"
            f"| {settings['epochs']} | {results['winners_per_unit']} of "
            f"{settings['batch_size']} | {results['test_squared_error']:.2f} | "
            f"{100 * results['active_fraction_of_features']:.1f}% | "
            f"{classifier['validation_error_percent']:.2f}% | "
            f"{results['classifier_test_error_percent']:.2f}% | {refit_error(results)} |")


def wta_section(results: dict) -> str:
    """The winner-take-all autoencoder's dictionary beside the k-sparse and dA filters, and its
    figures."""
    settings = results["settings"]
    return (f"Its dictionary (the decoder's filters; {settings['n_hidden']} units, "
            f"{100 * settings['sparsity']:g}% lifetime sparsity, the first 100), then the "
            f"k-sparse autoencoder's filters and the dA's at 30% corruption:\n\n"
            f"![WTA dictionary](../results/wta_autoencoder/wta_dictionary.png)\n"
            f"![k-sparse filters](../results/k_sparse_autoencoder/k_sparse_filters.png)\n"
            f"![dA filters at 30%](../results/dA_tutorial/filters_corruption_30.png)\n\n"
            + wta_figures(results) + "\n\n"
            "Test digits (top) and their reconstructions from the sparse training code "
            "(bottom):\n\n"
            "![WTA reconstructions](../results/wta_autoencoder/wta_reconstructions.png)")


def wta_run_section(results: dict, record: str, what: str) -> str:
    """Another winner-take-all run: its dictionary and figures."""
    return (f"![WTA dictionary, {what}](../results/{record}/wta_dictionary.png)\n\n"
            + wta_figures(results))


def conv_wta_figures(results: dict) -> str:
    """One convolutional winner-take-all run's figures as a table."""
    settings, classifier = results["settings"], results["classifier"]
    encoder = " + ".join(str(m) for m in [*settings["hidden_maps"], settings["maps"]])
    return (f"| maps | epochs | winners per map and batch | test squared error per digit | "
            f"features | classifier: best validation error | test error | refit on 60,000 "
            f"digits: test error |\n"
            f"|---|---|---|---|---|---|---|---|\n"
            f"| {encoder} | {settings['epochs']} | {results['winners_per_map']} of "
            f"{settings['batch_size']} | {results['test_squared_error']:.2f} | "
            f"{results['n_features']} | {classifier['validation_error_percent']:.2f}% | "
            f"{results['classifier_test_error_percent']:.2f}% | {refit_error(results)} |")


def conv_wta_section(results: dict, record: str) -> str:
    """A convolutional winner-take-all run: its dictionary, figures and reconstructions."""
    settings = results["settings"]
    return (f"Its dictionary ({settings['maps']} elements of 11 x 11 pixels, enlarged), the "
            f"figures, and test digits (top) with their reconstructions from the sparse "
            f"training code (bottom):\n\n"
            f"![convolutional WTA dictionary](../results/{record}/conv_wta_dictionary.png)\n\n"
            + conv_wta_figures(results) + "\n\n"
            f"![convolutional WTA reconstructions]"
            f"(../results/{record}/conv_wta_reconstructions.png)")


def write_sparsity_comparison() -> None:
    """docs/_generated/sparsity_comparison.md: the sparse autoencoders' linear classifiers side
    by side, from their records, beside the papers' figures."""
    def conv(s):
        hidden = "".join(f"{m}, " for m in s["hidden_maps"])
        return (f"{hidden}{s['maps']} maps, one winner per map and image, "
                f"{100 * s['sparsity']:g}% of {s['batch_size']}, {s['epochs']} epochs, "
                f"pooled {s['pool']} x {s['pool']}")

    def tied(s):
        return (f"{s['n_hidden']} units, {100 * s['sparsity']:g}% of {s['batch_size']}, "
                f"{s['epochs']} epochs at step {s['learning_rate']:g}, tied")

    rows = [("k-sparse (per example: each digit keeps k units)", "k_sparse_autoencoder",
             lambda s: f"{s['n_hidden']} units, k = {s['k']}, {s['epochs']} epochs", "1.35%"),
            ("winner-take-all (per unit: each unit keeps k% of the batch)", "wta_autoencoder",
             lambda s: f"{s['n_hidden']} units, {100 * s['sparsity']:g}% of "
                       f"{s['batch_size']}, {s['epochs']} epochs at step "
                       f"{s['learning_rate']:g}", "1.20%"),
            ("winner-take-all, decoder tied to the encoder", "wta_autoencoder_tied",
             tied, "1.20%"),
            ("... trained four times as long", "wta_autoencoder_tied_200_epochs", tied, "1.20%"),
            ("convolutional WTA (spatial, then per map over the batch)", "conv_wta_autoencoder",
             conv, "1.02% (16 maps)"),
            ("convolutional WTA, deeper encoder", "conv_wta_autoencoder_deep", conv,
             "1.02% (16 maps)"),
            ("convolutional WTA, 128 maps", "conv_wta_autoencoder_128_maps", conv,
             "0.64% (128 maps)"),
            ("convolutional WTA, 128 maps pooled in larger blocks",
             "conv_wta_autoencoder_128_maps_pool_7", conv, "0.64% (128 maps)"),
            ("convolutional WTA, 128 maps trained three times as long",
             "conv_wta_autoencoder_128_maps_30_epochs", conv, "0.64% (128 maps)")]
    lines = ["| sparsity | record | settings | test error | refit on 60,000 digits | paper |",
             "|---|---|---|---|---|---|"]
    for what, record, settings, paper in rows:
        path = DOCS / "results" / record / "results.json"
        if path.is_file():
            results = json.loads(path.read_text())
            lines.append(f"| {what} | `{record}` | {settings(results['settings'])} | "
                         f"{results['classifier_test_error_percent']:.2f}% | "
                         f"{refit_error(results)} | {paper} |")
        else:
            lines.append(f"| {what} | not recorded yet | | | | {paper} |")
    (DOCS / "_generated" / "sparsity_comparison.md").write_text("\n".join(lines) + "\n")


def stacked_conv_section(results: dict) -> str:
    """The stacked convolutional autoencoders' classifier, pretrained and from a random start."""
    settings = results["settings"]
    lines = [f"The first layer's {settings['filters'][0]} filters after pretraining (3 x 3, "
             f"enlarged), and the validation error of both starts while fine-tuning:", "",
             f"![first-layer filters](../results/stacked_convolutional_autoencoder/"
             f"{results['filters_image']})",
             f"![validation error](../results/stacked_convolutional_autoencoder/"
             f"{results['validation_image']})", "",
             "| start | pretraining epochs per layer | fine-tuning epochs | best epoch | "
             "validation error | test error |", "|---|---|---|---|---|---|"]
    for start, run in results["finetuning"].items():
        pretraining = settings["pretraining_epochs"] if start == "pretrained" else 0
        lines.append(f"| {start} | {pretraining} | {len(run['epoch_costs'])} | "
                     f"{run['best_epoch']} | {run['best_validation_error_percent']:.2f}% | "
                     f"{run['test_error_percent']:.2f}% |")
    return "\n".join(lines)


BACKEND_COLUMNS = (("c", "C"), ("numba", "Numba"), ("jax", "JAX"), ("numpy", "NumPy"),
                   ("torch", "PyTorch"))
BACKEND_ROWS = (("dA b=20 n=500", "dA tutorial step (batch 20, 784-500)"),
                ("pretrain b=1 n=500", "SdA pretraining, layer 1 (batch 1)"),
                ("pretrain b=20 n=500", "SdA pretraining, layer 1 (batch 20)"),
                ("finetune b=1 n=500", "SdA fine-tuning, 784-500-500-500-10 (batch 1)"),
                ("finetune b=20 n=500", "SdA fine-tuning, 784-500-500-500-10 (batch 20)"))


def backends_section(results: dict) -> str:
    """Seconds per 50,000-example epoch of each step on each backend, from bench.py's record,
    with JAX's time over C's."""
    cells = {(r["config"], r["backend"]): r["median_s_per_step"] * 50_000 / r["batch"]
             for r in results["results"]}
    lines = ["| seconds per 50,000-example epoch | "
             + " | ".join(title for _, title in BACKEND_COLUMNS) + " | JAX / C |",
             "|---" * (len(BACKEND_COLUMNS) + 2) + "|"]
    for config, title in BACKEND_ROWS:
        row = [f"{cells[config, b]:.1f}" if (config, b) in cells else "-"
               for b, _ in BACKEND_COLUMNS]
        ratio = (f"{cells[config, 'jax'] / cells[config, 'c']:.2f}"
                 if (config, "jax") in cells and (config, "c") in cells else "-")
        lines.append(f"| {title} | " + " | ".join(row) + f" | {ratio} |")
    return "\n".join(lines)


EPOCH_PARTS = (("conv", "convolutional autoencoder (batch 128, Adam)", 0.8),
               ("conv-denoising", "... denoising, noise 0.4", 0.8),
               ("dA 0%", "dA tutorial, 0% corruption (batch 20, SGD)", 0.35),
               ("dA 30%", "dA tutorial, 30% corruption", 0.35))
# PyTensor's op classes as the profile names them, and as the page names them
OP_KINDS = (("ThreadedDot22", "matrix products"), ("ThreadedGemm", "matrix products"),
            ("Gemm", "matrix products"), ("Dot", "matrix products"),
            ("RowPass", "matrix products"), ("ConvOp", "convolution ops (gathers and products)"),
            ("IncSubtensor", "scatter-adds into buffers"),
            ("Alloc", "zero-filled buffers"), ("Reshape", "reshaping copies"),
            ("Join", "joins"), ("Elemwise", "element-wise"), ("Sum", "reductions"),
            ("Max", "reductions"))


def op_kind(op_class: str) -> str:
    name = op_class.rsplit(".", 1)[-1]
    return next((kind for prefix, kind in OP_KINDS if name.startswith(prefix)), "other")


def epochs_section(results: dict) -> str:
    """benchmarks/epochs.py's record: each whole epoch against PyTorch's, then where the
    library's epoch goes by kind of operation (PyTensor's profile of one epoch)."""
    epochs = results["epochs"]
    lines = ["| whole epoch of 50,000 digits | deeptutorial | PyTorch "
             f"{results['torch'].split('+')[0]} | ratio (paired) | goal |", "|---|---|---|---|---|"]
    for part, title, goal in EPOCH_PARTS:
        if part in epochs:
            e = epochs[part]
            lines.append(f"| {title} | {e['median_deeptutorial']:.2f} s | "
                         f"{e['median_torch']:.2f} s | {e['ratio']:.2f} ({e['paired_ratio']:.2f}) "
                         f"| ≤ {goal} |")
    profile = results.get("profile", {})
    if profile:
        kinds = sorted({op_kind(c) for p in profile.values() for c in p["seconds_by_op_class"]},
                       key=lambda k: [k2 for _, k2 in OP_KINDS].index(k) if k != "other" else 99)
        lines += ["", "| share of the epoch (profiled) | " + " | ".join(kinds)
                  + " | outside the step |", "|---" * (len(kinds) + 2) + "|"]
        for part, title, _ in EPOCH_PARTS:
            if part not in profile:
                continue
            p = profile[part]
            shares = {k: 0.0 for k in kinds}
            for op_class, seconds in p["seconds_by_op_class"].items():
                shares[op_kind(op_class)] += seconds
            total = p["epoch_seconds"]
            lines.append(f"| {title} | " + " | ".join(f"{100 * shares[k] / total:.0f}%"
                                                      for k in kinds)
                         + f" | {100 * (total - p['seconds_in_function']) / total:.1f}% |")
    return "\n".join(lines)


def conv_backends_section(results: dict) -> str:
    """The convolutional autoencoder's epoch on each backend and in PyTorch."""
    medians = results["median_epoch_seconds"]
    names = [("deeptutorial", "C"), ("c-graph", "C, ordinary graph"), ("numba", "Numba"),
             ("jax", "JAX"), ("torch", "PyTorch")]
    names = [(n, title) for n, title in names if n in medians]
    return ("| seconds per 50,000-image epoch (batch 128) | "
            + " | ".join(title for _, title in names) + " |\n" + "|---" * (len(names) + 1)
            + "|\n"
            + "| convolutional autoencoder, 28,353 parameters | "
            + " | ".join(f"{medians[n]:.1f}" if n in medians else "-" for n, _ in names) + " |")


# Published Parzen-window figures on MNIST (nats), as the adversarial autoencoder paper
# (Makhzani et al., 2015) tabulates them, and the project's script each compares with.
PUBLISHED_PARZEN = [("DBN (Hinton et al., 2006)", 138, 2, None),
                    ("stacked CAE (Rifai et al., 2012)", 121, 1.6, None),
                    ("deep GSN (Bengio et al., 2014)", 214, 1.1, "gsn_sampling.py"),
                    ("adversarial nets (Goodfellow et al., 2014)", 225, 2, None),
                    ("adversarial autoencoder (Makhzani et al., 2015)", 340, 2,
                     "adversarial_autoencoder.py")]


def _parzen_cells(score: dict) -> str:
    return (f"{score['parzen_log_likelihood_nats']:.0f} ± "
            f"{score['parzen_standard_error_nats']:.1f} | {score['parzen_sigma']:.3f} | "
            f"{score['parzen_n_samples']:,}")


def write_parzen_table() -> None:
    """docs/_generated/parzen_table.md: every recorded generator's Parzen-window estimate
    beside the published figures, and how far each is from the figure of its kind."""
    published = {script: (name, value) for name, value, _, script in PUBLISHED_PARZEN if script}
    rows = []
    for results_file in sorted((DOCS / "results").glob("*/results.json")):
        results = json.loads(results_file.read_text())
        if "parzen_log_likelihood_nats" not in results:
            continue
        if results["script"] == "parzen_reference.py":  # real digits, no generator
            for score in results["scores"]:
                blur = (f", blurred by {score['blur_pixels']:g} pixel"
                        f"{'' if score['blur_pixels'] == 1 else 's'}"
                        if score["blur_pixels"] else "")
                rows.append(f"| real training digits{blur} (`{results_file.parent.name}`) | "
                            + _parzen_cells(score) + " | |")
            continue
        value = results["parzen_log_likelihood_nats"]
        compared = published.get(results["script"])
        against = (f"{value / compared[1]:.0%} of {compared[1]}" if compared else "")
        rows.append(f"| `{results_file.parent.name}` (`{results['script']}`) | "
                    f"{_parzen_cells(results)} | {against} |")
    lines = ["| generator | Parzen log-likelihood (nats) | sigma | samples | against the "
             "published figure of its kind |", "|---|---|---|---|---|"]
    lines += rows or ["| (no generator recorded yet) | | | | |"]
    lines += [f"| {name}, published | {value} ± {error} | | | |"
              for name, value, error, _ in PUBLISHED_PARZEN]
    (DOCS / "_generated" / "parzen_table.md").write_text("\n".join(lines) + "\n")


def figures_row(columns: dict):
    """A renderer for ``write_record_section``: one table row of a record's figures
    (``columns``: heading -> function of results.json giving the cell)."""
    return lambda results: ("| " + " | ".join(columns) + " |\n" + "|---" * len(columns)
                            + "|\n| " + " | ".join(cell(results) for cell in columns.values())
                            + " |")


def _parzen(results: dict) -> str:
    return (f"{results['parzen_log_likelihood_nats']:.0f} ± "
            f"{results['parzen_standard_error_nats']:.1f} nats")


def sda_floor_section(results: dict) -> str:
    """Each SdA step at batch size 1 against its memory floor, on one and two cores, and the
    whole tutorial run at those rates."""
    lines = ["| step | MB moved (each parameter read and written once) | rate, 1 core / 2 "
             "cores (GB/s) | floor, 1 / 2 cores | step time, 1 / 2 cores | x floor, 1 / 2 "
             "cores |", "|---|---|---|---|---|---|"]
    for row in results["steps"]:
        rate, floor, time_ = row["rate_gbs"], row["floor_s"], row["median_step_s"]
        times = row["times_floor"]
        lines.append(f"| {row['step']} | {row['bytes_moved'] / 1e6:.1f} | "
                     f"{rate['1']:.0f} / {rate['2']:.0f} | "
                     f"{floor['1'] * 1e6:.0f} / {floor['2'] * 1e6:.0f} µs | "
                     f"{time_['1'] * 1e6:.0f} / {time_['2'] * 1e6:.0f} µs | "
                     f"{times['1']:.1f} / {times['2']:.1f} |")
    whole = results["whole_run"]
    lines += ["", "At these step times the tutorial's run (15 pretraining epochs per layer "
              "and 36 fine-tuning epochs of 50,000 steps) takes "
              f"{whole['1']['minutes']:.0f} minutes on one core and "
              f"{whole['2']['minutes']:.0f} on two; at the floors, "
              f"{whole['1']['floor_minutes']:.0f} and {whole['2']['floor_minutes']:.0f}."]
    empty = results["empty_call_s"]
    lines += ["", "What a step costs whatever its size: the same step on an SdA of 4-unit "
              "layers (the same graph, nodes and random draws), called as "
              "`test_SdA.py` calls it (`training.unchecked_step`) and the plain way, "
              "PyTensor checking the inputs at every call; and the first one's share of "
              "the step above. A call of a compiled function that does nothing takes "
              f"{empty['1'] * 1e6:.1f} µs (one core) and {empty['2'] * 1e6:.1f} µs (two).",
              "", "| step | 4-unit layers, 1 / 2 cores | share of the step, 1 / 2 cores | "
              "4-unit layers, inputs checked at every call |", "|---|---|---|---|"]
    for row in results["fixed_cost"]:
        fixed, share = row["four_unit_layers_s"], row["share"]
        checked = row["four_unit_layers_inputs_checked_s"]
        lines.append(f"| {row['step']} | {fixed['1'] * 1e6:.0f} / {fixed['2'] * 1e6:.0f} µs "
                     f"| {share['1']:.0%} / {share['2']:.0%} | "
                     f"{checked['1'] * 1e6:.0f} / {checked['2'] * 1e6:.0f} µs |")
    scan = results["scanned"]
    lines += ["", f"The first layer's pretraining run as {scan['steps_per_call']} steps "
              "inside one compiled call (`pytensor.scan` over the same step graph, ending "
              "with the same weights) takes "
              f"{scan['median_step_s']['1'] * 1e6:.0f} µs a step on one core and "
              f"{scan['median_step_s']['2'] * 1e6:.0f} µs on two: "
              f"{scan['times_plain_step']['1']:.1f}x and "
              f"{scan['times_plain_step']['2']:.1f}x the step called alone."]
    return "\n".join(lines)


def write_SdA_spread() -> None:
    """docs/_generated/SdA_spread.md: the test errors of every recorded run of the tutorial's
    defaults (batch size 1), pretrained and not, with their mean and spread."""
    groups = {"pretrained": [], "not pretrained": []}
    for record_file, _, results in sda_records():
        settings = results["settings"]
        if settings["batch_size"] != 1 or settings["hidden_layers"] != [1000, 1000, 1000]:
            continue
        group = "not pretrained" if settings.get("no_pretraining") else "pretrained"
        groups[group].append((record_file.parent.name, settings["seed"],
                              results["test_error_percent"]))
    lines = ["| the tutorial's defaults | runs: record (seed), test error | mean test error | "
             "standard deviation |", "|---|---|---|---|"]
    for group, runs in groups.items():
        if not runs:
            continue
        errors = [e for _, _, e in runs]
        spread = f"{statistics.stdev(errors):.2f}" if len(errors) > 1 else "(one run)"
        lines.append(f"| {group} | " + ", ".join(f"`{name}` ({seed}), {e:.2f}%"
                                                 for name, seed, e in runs)
                     + f" | {statistics.mean(errors):.2f}% | {spread} |")
    with_, without = ([e for _, _, e in groups[g]] for g in ("pretrained", "not pretrained"))
    if len(with_) > 1 and len(without) > 1:
        difference = statistics.mean(without) - statistics.mean(with_)
        error = math.sqrt(statistics.variance(with_) / len(with_)
                          + statistics.variance(without) / len(without))
        lines += ["", f"Pretraining lowers the mean test error by {difference:.2f} percentage "
                  f"points; the standard error of that difference, from the spread of each "
                  f"group, is {error:.2f} points ({len(with_)} runs with pretraining, "
                  f"{len(without)} without): the difference is {difference / error:.1f} times "
                  f"its standard error."]
    (DOCS / "_generated" / "SdA_spread.md").write_text("\n".join(lines) + "\n")


def sda_timing_section(results: dict) -> str:
    """Where the minutes of the recorded default SdA run went, and the whole run had early
    stopping ended at the tutorial's 36 fine-tuning epochs."""
    layers = results["pretraining"]
    pretraining = results["pretraining_seconds"] / 60
    epoch = results["finetuning_seconds"] / results["finetune_epochs"]
    lines = ["| stage | epochs | seconds per epoch (50,000 steps) | minutes |", "|---|---|---|---|"]
    for layer in layers:
        seconds = layer["epoch_seconds"]
        lines.append(f"| pretraining layer {layer['layer']} | {len(seconds)} | "
                     f"{sum(seconds) / len(seconds):.1f} | {sum(seconds) / 60:.1f} |")
    lines.append(f"| fine-tuning (with each epoch's validation) | {results['finetune_epochs']} | "
                 f"{epoch:.1f} | {results['finetuning_seconds'] / 60:.1f} |")
    total = pretraining + results["finetuning_seconds"] / 60
    at_36 = pretraining + 36 * epoch / 60
    lines += ["", f"The whole run: {total:.1f} minutes of training, early stopping ending after "
              f"{results['finetune_epochs']} fine-tuning epochs at "
              f"{results['test_error_percent']:.2f}% test error. Had it ended after the "
              f"tutorial's 36 epochs: {pretraining:.1f} + 36 x {epoch:.1f} s = "
              f"**{at_36:.1f} minutes**."]
    return "\n".join(lines)


AAE_COLUMNS = {
    "epochs": lambda r: str(len(r["epoch_reconstruction_costs"])),
    "last epoch's costs (reconstruction, discriminator, generator)": lambda r: ", ".join(
        f"{r[key][-1]:.3g}" for key in ("epoch_reconstruction_costs",
                                        "epoch_discriminator_costs", "epoch_generator_costs")),
    "test reconstruction cross-entropy": lambda r: f"{r['test_cross_entropy']:.1f} nats",
    "discriminator accuracy, test codes vs prior": lambda r: f"{r['discriminator_accuracy']:.3f}",
    "Parzen log-likelihood": _parzen}
GSN_COLUMNS = {
    "epochs": lambda r: str(len(r["epoch_costs"])),
    "walkback": lambda r: str(r["settings"]["walkback"]),
    "last epoch's walkback cost": lambda r: f"{r['epoch_costs'][-1]:.1f} nats",
    "test reconstruction cross-entropy (no noise)": lambda r: f"{r['test_cross_entropy']:.1f} nats",
    "Parzen log-likelihood": _parzen}

write_records()
write_record_section("sda_floor.md", "sda_floor", "No measurement of the SdA's steps against "
                     "their floor is recorded yet.", sda_floor_section)
for out_name, record in (("aae_mixture.md", "adversarial_autoencoder_mixture"),
                         ("aae_normal_8d.md", "adversarial_autoencoder_normal_8d")):
    write_record_section(out_name, record, f"No run of `{record}` is recorded yet.",
                         figures_row(AAE_COLUMNS))
write_record_section("SdA_timing.md", "SdA_tutorial_defaults", "The default run is not "
                     "recorded yet.", sda_timing_section)
write_record_section("gsn_record.md", "gsn_sampling", "No run of `gsn_sampling` is recorded yet.",
                     figures_row(GSN_COLUMNS))
write_parzen_table()
write_conv_records()
write_record_section("backends_benchmark.md", "benchmark_backends", "No timing of the backends "
                     "is recorded yet.", backends_section)
write_record_section("conv_backends_benchmark.md", "benchmark_convolutional_backends", "No "
                     "timing of the convolutional autoencoder on each backend is recorded yet.",
                     conv_backends_section)
write_record_section("epochs_benchmark.md", "benchmark_epochs", "No timing of whole epochs is "
                     "recorded yet.", epochs_section)
write_record_section("k_sparse_record.md", "k_sparse_autoencoder", "No run of the k-sparse "
                     "autoencoder on full MNIST is recorded yet.", k_sparse_section)
write_record_section("stacked_conv_record.md", "stacked_convolutional_autoencoder", "No run of "
                     "the stacked convolutional autoencoders on full MNIST is recorded yet.",
                     stacked_conv_section)
write_record_section("k_sparse_uncentred.md", "k_sparse_autoencoder_uncentred", "No run on "
                     "raw pixels is recorded yet.",
                     lambda r: k_sparse_run_section(r, "k_sparse_autoencoder_uncentred",
                                                    "raw pixels"))
write_record_section("k_sparse_60_epochs.md", "k_sparse_autoencoder_60_epochs", "No run of 60 "
                     "epochs is recorded yet.",
                     lambda r: k_sparse_run_section(r, "k_sparse_autoencoder_60_epochs",
                                                    "60 epochs"))
write_record_section("wta_record.md", "wta_autoencoder", "No run of the winner-take-all "
                     "autoencoder on full MNIST is recorded yet.", wta_section)
write_record_section("wta_90_epochs.md", "wta_autoencoder_90_epochs", "No run of 90 epochs is "
                     "recorded yet.",
                     lambda r: wta_run_section(r, "wta_autoencoder_90_epochs", "90 epochs"))
write_record_section("wta_tied.md", "wta_autoencoder_tied", "No run with a tied decoder is "
                     "recorded yet.",
                     lambda r: wta_run_section(r, "wta_autoencoder_tied", "tied decoder"))
write_record_section("wta_tied_seed1.md", "wta_autoencoder_tied_seed1", "No run with another "
                     "seed is recorded yet.", wta_figures)
write_record_section("wta_tied_200_epochs.md", "wta_autoencoder_tied_200_epochs", "No run of "
                     "200 epochs with a tied decoder is recorded yet.", wta_figures)
write_record_section("conv_wta_deep.md", "conv_wta_autoencoder_deep", "No run with a deeper "
                     "encoder is recorded yet.",
                     lambda r: conv_wta_section(r, "conv_wta_autoencoder_deep"))
write_record_section("conv_wta_record.md", "conv_wta_autoencoder", "No run of the "
                     "convolutional winner-take-all autoencoder on full MNIST is recorded yet.",
                     lambda r: conv_wta_section(r, "conv_wta_autoencoder"))
write_record_section("conv_wta_128_maps.md", "conv_wta_autoencoder_128_maps", "No run with 128 "
                     "maps is recorded yet.",
                     lambda r: conv_wta_section(r, "conv_wta_autoencoder_128_maps"))
write_record_section("conv_wta_128_maps_30_epochs.md", "conv_wta_autoencoder_128_maps_30_epochs",
                     "No run of 30 epochs with 128 maps is recorded yet.",
                     lambda r: conv_wta_section(r, "conv_wta_autoencoder_128_maps_30_epochs"))
write_record_section("conv_wta_128_maps_pool_7.md", "conv_wta_autoencoder_128_maps_pool_7",
                     "No run with 128 maps pooled 7 x 7 is recorded yet.", conv_wta_figures)
write_sparsity_comparison()
write_dA_trajectory()
write_SdA_runs()
write_SdA_spread()
def write_notebook_downloads() -> None:
    """docs/_generated/notebooks/NAME.ipynb from each notebook's MyST source (by jupytext),
    without outputs: what a learner downloads from the Notebooks page and runs."""
    import jupytext

    out = DOCS / "_generated" / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    for source in sorted((DOCS / "notebooks").glob("*.md")):
        if source.name != "index.md":
            jupytext.write(jupytext.read(source), out / f"{source.stem}.ipynb")


write_notebook_downloads()


def write_test_suite_times() -> None:
    """docs/_generated/test_suite_times.md: the README's test command and the whole suite, as
    their records timed them (``docs/results/test_suite_*``)."""
    rows = []
    for record, what in (("test_suite_fast", "the fast tests (the README's test command)"),
                         ("test_suite_all", "every test, the slow ones included (as CI)")):
        folder = DOCS / "results" / record
        if not (folder / "record.json").is_file():
            continue
        meta = json.loads((folder / "record.json").read_text())
        summary = [line for line in (folder / "log.txt").read_text().splitlines()
                   if " passed" in line][-1].strip("= ")
        minutes, seconds = divmod(round(meta["wall_seconds"]), 60)
        rows.append(f"| {what} | `{meta['command']}` | {summary} | {minutes} min {seconds} s "
                    f"| `{record}` |")
    text = ("| what | command | tests | time | record |\n|---|---|---|---|---|\n" + "\n".join(rows)
            if rows else "The suite's times are not recorded yet.")
    (DOCS / "_generated" / "test_suite_times.md").write_text(text + "\n")


write_test_suite_times()


def write_curves() -> None:
    """The dA tutorial's cost per epoch and the SdA's validation error during fine-tuning, as
    charts (docs/_generated/*.png) from their records."""
    from deeptutorial.plotting import line_plot
    from deeptutorial.results import save_image

    out = DOCS / "_generated"
    dA_runs = json.loads((DOCS / "results" / "dA_tutorial" / "results.json").read_text())["runs"]
    save_image(out, "dA_cost_curves.png", line_plot(
        range(len(dA_runs[0]["epoch_costs"])),
        {f"{run['corruption_level']:.0%} corruption": run["epoch_costs"] for run in dA_runs},
        title="dA tutorial: mean reconstruction cost per epoch", xlabel="epoch",
        ylabel="cross-entropy (nats per image)", size=(560, 360)))
    sda = json.loads((DOCS / "results" / "SdA_tutorial_defaults" / "results.json").read_text())
    curve = sda["validation_curve"]
    save_image(out, "SdA_validation_curve.png", line_plot(
        [point["epoch"] for point in curve],
        {"validation error (%)": [point["error_percent"] for point in curve]},
        title="SdA tutorial defaults: validation error while fine-tuning", xlabel="epoch",
        ylabel="error (%)", size=(560, 360)))


write_curves()

# The graphs printed on the symbolic-graph page, from the code as it is (compiles a dA step).
subprocess.run([sys.executable, str(DOCS / "graphs.py"), str(DOCS / "_generated")], check=True,
               cwd=ROOT)
