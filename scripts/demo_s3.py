# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for scripts/demo.sh: a throwaway S3 server, a bucket and a GPG key pair.

The work is done by the test support code (tests/support/s3server.py and gpgkeys.py), so the demo and the
tests start SeaweedFS and make keys the same way. Run it with the venv's Python (``make venv``):

    demo_s3.py start DIR             start SeaweedFS in DIR (state in DIR/s3server.json); print the endpoint
    demo_s3.py stop DIR              stop it (SIGTERM, SIGKILL after 20 s)
    demo_s3.py bucket DIR NAME       create bucket NAME on it
    demo_s3.py keypair DIR EMAIL     make a key pair in DIR; print PRIVATE_HOME, PUBLIC_HOME, FINGERPRINT lines
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from support.gpgkeys import make_keypair  # noqa: E402 (needs the path above)
from support.s3server import S3Server, create_bucket, start_seaweedfs  # noqa: E402

STATE_FILE = "s3server.json"


def _load(directory: str) -> S3Server:
    with open(os.path.join(directory, STATE_FILE), encoding="utf-8") as handle:
        return S3Server.from_json(handle.read())


def cmd_start(args: argparse.Namespace) -> int:
    # Detached: the server outlives this helper; demo.sh stops it with `demo_s3.py stop` on exit.
    server = start_seaweedfs(args.dir, detach=True)
    with open(os.path.join(args.dir, STATE_FILE), "w", encoding="utf-8") as handle:
        handle.write(server.to_json())
    print(server.endpoint)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    try:
        server = _load(args.dir)
    except FileNotFoundError:
        return 0  # never started
    server.stop()
    os.unlink(os.path.join(args.dir, STATE_FILE))
    return 0


def cmd_bucket(args: argparse.Namespace) -> int:
    create_bucket(_load(args.dir), args.name)
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    # shell assignments for `eval`: the server checks signatures, so only its own keys work
    server = _load(args.dir)
    print(f"ACCESS_KEY={shlex.quote(server.access_key)}")
    print(f"SECRET_KEY={shlex.quote(server.secret_key)}")
    return 0


def cmd_keypair(args: argparse.Namespace) -> int:
    keys = make_keypair(args.dir, args.email, name="s3napback demo")
    print(f"PRIVATE_HOME={keys.private_home}")
    print(f"PUBLIC_HOME={keys.public_home}")
    print(f"FINGERPRINT={keys.fingerprint}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start SeaweedFS in DIR and print its S3 endpoint")
    start.add_argument("dir")
    start.set_defaults(func=cmd_start)
    stop = sub.add_parser("stop", help="stop the SeaweedFS started in DIR")
    stop.add_argument("dir")
    stop.set_defaults(func=cmd_stop)
    bucket = sub.add_parser("bucket", help="create a bucket on the SeaweedFS started in DIR")
    bucket.add_argument("dir")
    bucket.add_argument("name")
    bucket.set_defaults(func=cmd_bucket)
    credentials = sub.add_parser("credentials", help="print the S3 keys of the SeaweedFS started in DIR")
    credentials.add_argument("dir")
    credentials.set_defaults(func=cmd_credentials)
    keypair = sub.add_parser("keypair", help="make a GPG key pair (private and public-only homes) in DIR")
    keypair.add_argument("dir")
    keypair.add_argument("email")
    keypair.set_defaults(func=cmd_keypair)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
