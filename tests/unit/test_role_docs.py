# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role's variables: defaults, argument specs and both READMEs say the same thing."""

from __future__ import annotations

import os
import runpy

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, "roles", "s3napback")


def load(*parts: str) -> object:
    with open(os.path.join(*parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_every_variable_has_a_spec_and_every_optional_spec_a_default() -> None:
    specs = load(ROLE, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(ROLE, "defaults", "main.yml")
    optional = {name for name, spec in specs.items() if not spec.get("required")}
    assert set(defaults) == optional
    for name in optional:
        assert "default" in specs[name], name
        if "{{" not in str(specs[name]["default"]):
            assert specs[name]["default"] == defaults[name], name
    assert all(name.startswith("s3napback_") for name in specs)


def test_readmes_hold_the_generated_table() -> None:
    table = runpy.run_path(os.path.join(ROOT, "scripts", "role_vars_table.py"))["table"]()
    assert table.count("\n") > 30
    for readme in (os.path.join(ROLE, "README.md"), os.path.join(ROOT, "README.md")):
        with open(readme, encoding="utf-8") as handle:
            assert table in handle.read(), f"{readme}: refresh the table with scripts/role_vars_table.py"
