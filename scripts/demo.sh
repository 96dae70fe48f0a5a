#!/usr/bin/env bash
# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# s3napback demo (`make demo`): back up a sample folder to a throwaway local S3 server (SeaweedFS) with a
# throwaway GPG key, list the backups, restore them into another folder and compare. Needs only `make venv`
# (plus tar, zstd and gpg); everything it creates lives in one temp folder that is removed on exit.
# Set S3NAPBACK_DEMO_KEEP=1 to keep that folder (the server is stopped either way).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "demo: no venv at $VENV: run 'make venv' first" >&2
  exit 1
fi
# The venv's python3 runs scripts/s3napback (#!/usr/bin/env python3) with boto3 and python-gnupg installed,
# and has the `weed` binary next to it.
export PATH="$VENV/bin:$PATH"
HELPER=(python "$ROOT/scripts/demo_s3.py")
S3NAPBACK=$ROOT/scripts/s3napback

W=$(mktemp -d "${TMPDIR:-/tmp}/s3napback-demo.XXXXXX")
PRIVATE_HOME='' PUBLIC_HOME='' FINGERPRINT=''

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo
  echo "==> Cleaning up: stopping the S3 server (SeaweedFS takes about 15 s to stop)"
  "${HELPER[@]}" stop "$W/s3" || true
  for home in "$PRIVATE_HOME" "$PUBLIC_HOME"; do
    if [ -n "$home" ]; then gpgconf --homedir "$home" --kill all 2>/dev/null || true; fi
  done
  if [ "$rc" -ne 0 ] && [ -f "$W/s3/weed-1.log" ]; then
    echo "--- last lines of the S3 server log ---"
    tail -n 20 "$W/s3/weed-1.log" || true
  fi
  if [ "${S3NAPBACK_DEMO_KEEP:-0}" = 1 ]; then
    echo "Kept $W"
  else
    rm -rf "$W"
  fi
  if [ "$rc" -eq 0 ]; then echo "Demo OK"; else echo "Demo FAILED (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
  echo
  echo "==> $*"
}

run() {
  echo "+ $*"
  "$@"
}

step "Work folder: $W"

step "Starting a throwaway S3 server (SeaweedFS) on free loopback ports"
mkdir -p "$W/s3"
ENDPOINT=$("${HELPER[@]}" start "$W/s3")
echo "S3 endpoint: $ENDPOINT"

step "Making a throwaway GPG key pair: the private key stays in one home, the host gets only the public key"
mkdir -p "$W/gpg"
KEYS=$("${HELPER[@]}" keypair "$W/gpg" demo@s3napback.invalid)  # a failure here stops the demo (set -e)...
eval "$KEYS"                                                      # ...which `eval "$(...)"` would not do
echo "public-only home (what a backed-up host has): $PUBLIC_HOME"
echo "private home (what you bring to a restore):    $PRIVATE_HOME"
echo "fingerprint: $FINGERPRINT"

step "Creating a sample folder to back up"
mkdir -p "$W/sample/sub/deeper"
printf 'Hello from s3napback.\n' > "$W/sample/hello.txt"
printf 'nested file\n' > "$W/sample/sub/nested.txt"
printf 'deeper still\n' > "$W/sample/sub/deeper/deep.txt"
( umask 077 && printf 'only the owner may read this\n' > "$W/sample/secret.txt" )
chmod 0600 "$W/sample/secret.txt"
ln -s hello.txt "$W/sample/link-to-hello"
: > "$W/sample/empty"
# Random data does not compress: with ChunkSize 1M this makes a backup of several chunks.
head -c 3000000 /dev/urandom > "$W/sample/random.bin"
(cd "$W/sample" && find . \( -type l -printf '%M %u:%g %s %p -> %l\n' \) -o -printf '%M %u:%g %s %p\n' | sort -k4)

step "Writing the S3 credentials file and the config (the original s3napback's format)"
eval "$("${HELPER[@]}" credentials "$W/s3")"
( umask 077 && printf 'key=%s\nsecret=%s\n' "$ACCESS_KEY" "$SECRET_KEY" > "$W/key.txt" )
CONF=$W/s3napback.conf
cat > "$CONF" <<EOF
DiffDir $W/diffs
Bucket s3napback-demo
GpgRecipient demo@s3napback.invalid
GpgKeyring $PUBLIC_HOME
S3KeyFile $W/key.txt
S3Endpoint $ENDPOINT
HostName demo-host
ChunkSize 1M
<Directory $W/sample>
    Frequency 1
    Diffs 7
    Fulls 2
</Directory>
EOF
cat "$CONF"

step "Creating the bucket"
run "${HELPER[@]}" bucket "$W/s3" s3napback-demo

step "Backing up"
run "$S3NAPBACK" backup -c "$CONF"

step "Listing the backups"
run "$S3NAPBACK" list -c "$CONF"

step "Restoring into $W/restored with the private key"
run "$S3NAPBACK" restore -c "$CONF" --set "$W/sample" --to "$W/restored" --gnupghome "$PRIVATE_HOME"

step "Comparing the restored copy with the original"
# Like tar, the restore puts the set's absolute path under the target folder.
RESTORED=$W/restored$W/sample
run diff -r --no-dereference "$W/sample" "$RESTORED"
listing() { (cd "$1" && find . -printf '%M %u:%g %p -> %l\n' | sort -k3); }
if ! diff <(listing "$W/sample") <(listing "$RESTORED"); then
  echo "Types, modes, owners or symlink targets differ (< original, > restored)" >&2
  exit 1
fi
echo "Contents, types, modes, owners and symlink targets are identical."
