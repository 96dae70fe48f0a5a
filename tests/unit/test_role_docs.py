# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role's variables: defaults, argument specs and both READMEs say the same thing."""

from __future__ import annotations

import os
import re
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


def main_options() -> dict:
    return load(ROLE, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]


def test_a_mistyped_key_in_a_list_item_is_refused_not_dropped() -> None:
    """The template skips keys it does not know: `exclude:` for `excludes:` would back up what it meant to leave
    out, `directory:` for `path:` nothing at all. Ansible checks the items against the role's argument specs."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    validator = ArgumentSpecValidator(main_options())
    bucket = {"s3napback_bucket": "backups"}
    good = validator.validate(
        {**bucket, "s3napback_directories": [{"path": "/etc", "excludes": ["*.tmp"], "fulls": "4"}]}
    )
    assert good.error_messages == []
    for item, word in (({"path": "/srv", "exclude": ["*.tmp"]}, "exclude"), ({"directory": "/srv"}, "directory")):
        bad = validator.validate({**bucket, "s3napback_directories": [item]})
        assert any(word in message for message in bad.error_messages), bad.error_messages
    dump = validator.validate({**bucket, "s3napback_mysql": [{"name": "shop", "diffs": 7}]})  # always full
    assert any("diffs" in message for message in dump.error_messages), dump.error_messages


def test_every_item_key_the_template_reads_is_in_the_specs() -> None:
    with open(os.path.join(ROLE, "templates", "s3napback.conf.j2"), encoding="utf-8") as handle:
        template = handle.read()
    timing = set(re.findall(r"'([a-z_]+)': '[A-Za-z]+'", template))
    assert {"frequency", "fulls", "keep_daily", "archive_storage_class"} <= timing
    read = {
        "s3napback_cycles": timing | {"name", "directories", "excludes"},
        "s3napback_directories": timing | {"path", "excludes"},
        "s3napback_mysql": (timing - {"diffs"}) | {"name", "defaults_file"},
        "s3napback_postgresql": (timing - {"diffs"}) | {"name", "user"},
        "s3napback_subversion": timing | {"path"},
        "s3napback_subversion_dirs": timing | {"path"},
    }
    options = main_options()
    for name, keys in read.items():
        assert set(options[name]["options"]) == keys, name
