"""Mistakes in the Python API of a notebook (README "In a notebook", "Analysis API"): ``compose``, ``run`` and the
figure style answer each with one ConfigError naming the argument and what is allowed, before anything is written.
(The analysis functions' mistakes: tests/test_analysis_mistakes.py.)"""

from __future__ import annotations

import pytest
from _sim_helpers import make_config

from sim.checks import ConfigError
from sim.config import compose
from sim.engine.run import run
from sim.research import style


def test_a_bare_word_is_not_an_override_from_python_either():
    """The command line's line for 'years 5' (sim.cli.check_arguments), from compose too: Hydra's parser said
    'LexerNoViableAltException: years 5'."""
    with pytest.raises(ConfigError, match=r"at 'years 5': an override is key=value \(e\.g\. years=5\)"):
        compose(["years 5"])
    compose(["~national", "years=2"])  # '~key' is an override


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"progress": True}, r"at 'progress': must be a function that takes one line of text"),
        ({"progress": "yes"}, r"at 'progress': must be a function"),
        ({"overrides": "years=5"}, r"at 'overrides': must be a list of override strings .* got the string 'years=5'"),
        ({"overrides": ["years 5"]}, r"at 'years 5': an override is key=value"),
    ],
)
def test_run_refuses_a_wrong_argument_before_writing(tmp_path, kwargs, match):
    """run(cfg, progress=True) failed inside the model ('bool' object is not callable); run(cfg, overrides='years=5')
    ran and recorded ['y', 'e', 'a', 'r', 's', '=', '5'] in the manifest. Both are refused first, and nothing is written."""
    cfg = make_config("years=1", root=tmp_path)
    with pytest.raises(ConfigError, match=match):
        run(cfg, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_run_records_the_overrides_it_was_given(tmp_path):
    import json

    cfg = make_config("years=1", root=tmp_path)
    res = run(cfg, overrides=("years=1",), progress=lambda line: None)
    assert json.loads((res.run_dir / "manifest.json").read_text())["overrides"] == ["years=1"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: style.figure(width=-3), r"at 'width': must be one of column, double, slide or a positive number of inches, got -3"),
        (lambda: style.figure(width=0.0), r"at 'width': .* got 0\.0"),
        (lambda: style.figure(width="wide"), r"at 'width': unknown width 'wide'; allowed: column, double, slide or inches"),
        (lambda: style.figure(width=True), r"at 'width': .* got True"),
        (lambda: style.figure(height=0), r"at 'height': must be a positive number of inches, got 0"),
        (lambda: style.blank(height="tall"), r"at 'height': must be a positive number of inches, got 'tall'"),
        (lambda: style.scenario_colors("baseline"), r"must be a list of names or a column, got the string 'baseline': write \['baseline'\]"),
        (lambda: style.instrument_colors("grant"), r"got the string 'grant'"),
    ],
)
def test_the_style_names_a_wrong_argument(call, match):
    """style.figure(width=-3) failed in matplotlib ('figure size must be positive'); scenario_colors('baseline') gave
    a colour per letter."""
    with pytest.raises(ConfigError, match=match):
        call()


def test_save_refuses_one_format_as_a_string(tmp_path):
    """save(fig, path, formats='png') failed in matplotlib with "Format 'p' is not supported", after nothing was
    written; it is refused by name, and a list still works."""
    fig, _ = style.figure()
    with pytest.raises(ConfigError, match=r"at 'formats': must be a list of file formats .* got the string 'png': write \['png'\]"):
        style.save(fig, tmp_path / "f.png", formats="png")
    assert list(tmp_path.iterdir()) == []
    assert [p.name for p in style.save(fig, tmp_path / "f.png", formats=["png"])] == ["f.png"]
