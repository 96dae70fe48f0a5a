# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print the role's variables as a Markdown table, generated from roles/s3napback/meta/argument_specs.yml.

The READMEs hold this table verbatim; a unit test fails when they drift apart. Refresh them with
``python3 scripts/role_vars_table.py`` and paste.
"""

import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "roles", "s3napback", "meta", "argument_specs.yml")


def _cell(value: object) -> str:
    if value is True or value is False:
        value = str(value).lower()
    elif value == "" or value == []:
        value = '""' if value == "" else "[]"
    return f"`{value}`"


def table() -> str:
    with open(SPECS, encoding="utf-8") as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, spec in options.items():
        default = "(required)" if spec.get("required") else _cell(spec.get("default"))
        text = spec["description"]
        text = " ".join(text) if isinstance(text, list) else text
        text = re.sub(r"[VCO]\((.*?)\)", r"`\1`", text)
        if "choices" in spec:
            text += " One of " + ", ".join(f"`{c}`" for c in spec["choices"]) + "."
        lines.append(f"| `{name}` | {default} | {text} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(table())
