""".env.example: exactly the known variables, each explained, each at its default."""

from __future__ import annotations

from vitalstream.config import load_settings
from vitalstream.config.variables import known_variables

from .deploy_support import ENV_EXAMPLE, parse_env_file


def test_lists_exactly_the_known_variables():
    names = set(parse_env_file(ENV_EXAMPLE))
    assert names - known_variables() == set(), "not read by the settings"
    assert known_variables() - names == set(), "missing from .env.example"


def test_every_variable_has_a_comment_right_above_it():
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("VITALSTREAM_"):
            assert i > 0 and lines[i - 1].startswith("# ") and len(lines[i - 1]) > 10, line


def test_values_are_the_defaults():
    # Loading the example must give exactly what an empty environment gives.
    assert load_settings(parse_env_file(ENV_EXAMPLE)) == load_settings({})
