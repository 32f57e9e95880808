"""Every flag of every script, given a bad value, ends in one line naming the flag and the
value, before anything is loaded or written."""

import contextlib
import importlib.util
import io

import pytest

from conftest import REPO
from deeptutorial import cli

SCRIPTS = sorted(p.name for p in (REPO / "scripts").glob("*.py"))

# For each kind of value a flag takes, values it must refuse.
# 1e-50 is 0 and 1e39 infinite in float32, the type the scripts compute in.
BAD = {
    cli.positive_int: ["0", "-3", "2.5", "nan", "inf", "abc"],
    cli.positive_float: ["0", "-1", "nan", "inf", "1e400", "1e-50", "1e39", "abc"],
    cli.non_negative_float: ["-1", "nan", "inf", "1e400", "1e-50", "1e39", "abc"],
    cli.non_negative_int: ["-1", "1.5", "nan", "abc"],
    cli.fraction: ["-0.1", "1.5", "nan", "inf", "1e-50", "abc"],
    cli.fraction_below_one: ["-0.1", "1", "nan", "inf", "1e-50", "abc"],
    cli.open_fraction: ["0", "1", "nan", "inf", "1e-50", "abc"],
    cli.seed_int: ["-1", "4294967296", "1.5", "abc"],
}


def load(script):
    spec = importlib.util.spec_from_file_location(script[:-3], REPO / "scripts" / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases():
    for script in SCRIPTS:
        parser = load(script).flags()
        for action in parser._actions:
            flag = next((o for o in action.option_strings if o.startswith("--")), None)
            if flag is None:
                continue
            if action.type in BAD:
                for value in BAD[action.type]:
                    yield script, flag, action.nargs, value
            elif action.choices is not None:
                yield script, flag, action.nargs, "no-such-choice"
            elif action.type is not None:
                raise AssertionError(f"{script} {flag}: a type this test does not know")


CASES = list(cases())


def test_the_table_covers_every_numeric_and_choice_flag():
    assert len({(s, f) for s, f, _, _ in CASES}) > 40


@pytest.mark.parametrize("script, flag, nargs, value", CASES)
def test_a_bad_value_is_one_line_naming_flag_and_value(tmp_path, script, flag, nargs, value):
    """(Broken by giving a flag ``type=int``/``type=float``: nan, inf, 0 or negatives pass.)"""
    module = load(script)
    out = tmp_path / "out"
    count = nargs if isinstance(nargs, int) else 1
    argv = ["--output-folder", str(out), flag, *[value] * count]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as info:
        cli.parse_args(module.flags(), argv)
    assert info.value.code == 2
    lines = stderr.getvalue().strip().splitlines()
    assert len(lines) == 1, lines
    assert flag in lines[0] and value in lines[0], lines[0]
    assert not out.exists()
