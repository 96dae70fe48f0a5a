# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the collection's modules for real, through ``ansible-playbook`` on localhost.

The collection is found through a temporary ``ansible_collections/s3napback/s3napback`` symlink to the checkout;
ANSIBLE_HOME, the temp folders and the results all live under the test's own folder. Each step is one task of
one module, registered; the registered results are written to a JSON file whatever happens, so a test can
assert on every step, also after a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK_TIMEOUT = 300


class AnsibleNotFound(RuntimeError):
    """No ansible-playbook next to this Python, in the project venv or on PATH."""


def find_ansible_playbook() -> str:
    candidates = [REPO_ROOT / ".venv" / "bin" / "ansible-playbook", Path(sys.executable).parent / "ansible-playbook"]
    on_path = shutil.which("ansible-playbook")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise AnsibleNotFound("ansible-playbook not found in .venv, next to this Python or on PATH: run `make venv`")


@dataclass
class Run:
    """One ansible-playbook run: its process and the registered result of each step (None if not reached)."""

    proc: subprocess.CompletedProcess
    results: list
    dump: str  # the results file as the playbook wrote it

    def output(self) -> str:
        proc = self.proc
        return f"--- rc {proc.returncode} ---\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


class Playbooks:
    """Writes and runs playbooks whose steps are tasks of one module (``module``), each registered.

    A step is a dict: ``args`` (the module's options), optionally ``check_mode`` and ``ignore_errors``. The play
    stops at the first failed step that does not ignore errors; the results are saved anyway.
    """

    def __init__(self, work: Path, module: str) -> None:
        self.work = work
        self.module = module
        collections = work / "collections"
        (collections / "ansible_collections" / "s3napback").mkdir(parents=True)
        (collections / "ansible_collections" / "s3napback" / "s3napback").symlink_to(REPO_ROOT)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"}
        self.env.update(
            {
                "ANSIBLE_COLLECTIONS_PATH": str(collections),
                "ANSIBLE_HOME": str(work / "ansible-home"),
                "ANSIBLE_LOCAL_TEMP": str(work / "ansible-local-tmp"),
                "ANSIBLE_REMOTE_TEMP": str(work / "ansible-remote-tmp"),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
            }
        )
        self.ansible_playbook = find_ansible_playbook()
        self.count = 0

    def run(self, steps: list[dict], *, verbosity: str = "-v") -> Run:
        """Runs the steps; ``verbosity`` is ansible-playbook's flag (``-vvvv`` also shows the module arguments)."""
        self.count += 1
        dump = self.work / f"results-{self.count}.json"
        tasks = [
            {
                "name": f"Run step {index}",
                self.module: step["args"],
                "check_mode": step.get("check_mode", False),
                "register": f"step{index}",
                "ignore_errors": step.get("ignore_errors", False),
            }
            for index, step in enumerate(steps)
        ]
        collected = ", ".join(f"step{i} | default(none)" for i in range(len(steps)))
        play = {
            "name": f"Exercise {self.module}",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "tasks": [
                {
                    "block": tasks,
                    "always": [
                        {
                            "name": "Save the registered results",
                            "ansible.builtin.copy": {
                                "content": "{{ [" + collected + "] | to_json }}",
                                "dest": str(dump),
                                "mode": "0600",
                            },
                        }
                    ],
                }
            ],
        }
        playbook = self.work / f"playbook-{self.count}.yml"
        playbook.write_text(json.dumps([play], indent=1))  # JSON is YAML
        proc = subprocess.run(
            [self.ansible_playbook, verbosity, "-i", "localhost,", str(playbook)],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=PLAYBOOK_TIMEOUT,
            check=False,
        )
        text = dump.read_text() if dump.exists() else ""
        results = json.loads(text) if text else []
        return Run(proc=proc, results=results, dump=text)
