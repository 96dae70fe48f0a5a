# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Let ``ansible-test sanity --venv`` bootstrap pip without reaching bootstrap.pypa.io (run by ``make sanity``).

ansible-test puts pip into every venv it creates by running a get-pip script, which it downloads from a host
that CI cannot reach; it first looks for a cached copy at ``~/.ansible/test/cache/get_pip_<VERSION>.py``. This
writes an offline stand-in there that installs pip from a pip wheel downloaded from PyPI next to it
(TESTBED.md, section 7). The pip version is read from the installed ansible-test, so an ansible-core upgrade
that changes it keeps working.

Usage: python tests/support/ansible_test_offline.py   (with the venv's Python, where ansible-core is installed)
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile

MARKER = "s3napback offline stand-in for get-pip.py"

STANDIN = '''"""{marker}: ansible-test runs it to put pip into the venvs it creates."""
import glob
import os
import runpy
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, sorted(glob.glob(os.path.join(here, "pip-{version}-*.whl")))[-1])
sys.argv = ["pip", "install", "--ignore-installed"] + [
    a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")
]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
'''


def wanted_pip_version() -> str:
    """The pip version the installed ansible-test bootstraps into its venvs (``default_packages``)."""
    import ansible_test  # only importable in the venv

    source = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(source, encoding="utf-8") as handle:
        match = re.search(r"""\bpip\s*=\s*['"]([0-9][0-9.]*)['"]""", handle.read())
    if not match:
        raise SystemExit(f"cannot find the pip version in {source}: update {__file__}")
    return match.group(1)


def install(cache_dir: str) -> str:
    """Put the pip wheel and the stand-in into ``cache_dir``; return the stand-in's path."""
    version = wanted_pip_version()
    os.makedirs(cache_dir, exist_ok=True)
    if not glob.glob(os.path.join(cache_dir, f"pip-{version}-*.whl")):
        subprocess.run(  # noqa: S603
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", cache_dir, f"pip=={version}"],
            check=True,
        )
    path = os.path.join(cache_dir, "get_pip_{}.py".format(version.replace(".", "_")))
    content = STANDIN.format(marker=MARKER, version=version)
    try:
        with open(path, encoding="utf-8") as handle:
            current = handle.read()
    except FileNotFoundError:
        current = None
    if current is not None and (current == content or MARKER not in current):
        # Ours and up to date, or a real get-pip.py that ansible-test downloaded itself: both work.
        return path
    # Atomic: other sessions on a shared machine may run ansible-test at the same time.
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".get_pip.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def main() -> int:
    cache_dir = os.path.expanduser("~/.ansible/test/cache")
    print(f"ansible-test pip bootstrap: {install(cache_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
