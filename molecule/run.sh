#!/usr/bin/env bash
# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# `make molecule`: run the molecule scenarios on podman containers against a real S3 server on loopback.
# Builds the Debian images with debootstrap when they are missing, takes containers.podman out of the
# `ansible` wheel (Galaxy is not reachable), starts SeaweedFS, makes a bucket and a key pair on the
# controller, runs `molecule test` for each scenario in $SCENARIOS, and cleans up.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
W=${S3NAPBACK_MOLECULE_WORK:-${TMPDIR:-/tmp}/s3napback-molecule}
SCENARIOS=${SCENARIOS:-fleet systemd}
ANSIBLE_WHEEL_VERSION=12.3.0
export PATH="$VENV/bin:$PATH"
HELPER=(python "$ROOT/scripts/demo_s3.py")

mkdir -p "$W"

podman_conf() {
  # crun cannot run on this cgroup v1 "hybrid" layout, and podman's default rlimits cannot be set here.
  if [ ! -f /etc/containers/containers.conf ]; then
    mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n\n[engine]\nruntime = "runc"\n' \
      > /etc/containers/containers.conf
  fi
}

build_image() {  # build_image SUITE TAG [EXTRA_PACKAGES]
  local suite=$1 tag=$2 extra=${3:-} dir=$W/rootfs-$1
  if podman image exists "$tag"; then return 0; fi
  echo "==> building $tag with debootstrap ($suite)"
  local mirror
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  local pkgs=python3,python3-boto3,python3-gnupg,gnupg,zstd,ca-certificates
  rm -rf "$dir"
  if [ "$suite" = bookworm ]; then
    debootstrap --variant=minbase --include="$pkgs,cron$extra" "$suite" "$dir" "$mirror" > "$W/debootstrap-$suite.log" 2>&1
  else  # trixie: cron pulls in systemd through debootstrap's resolver; apt picks the sysusers alternative
    debootstrap --variant=minbase --include="$pkgs" "$suite" "$dir" "$mirror" > "$W/debootstrap-$suite.log" 2>&1
    chroot "$dir" apt-get install -y --no-install-recommends cron systemd-standalone-sysusers \
      >> "$W/debootstrap-$suite.log" 2>&1
  fi
  chroot "$dir" apt-get clean
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/log/*.log
  tar -C "$dir" -c . | podman import -q --change 'CMD=["sleep","infinity"]' - "$tag" > /dev/null
  rm -rf "$dir"
}

build_systemd_image() {  # the bookworm image plus systemd as init, for the timer scenario
  local tag=localhost/s3nb-debian-systemd:12
  if podman image exists "$tag"; then return 0; fi
  echo "==> building $tag"
  podman run --name s3nb-systemd-build --network host localhost/s3nb-debian:12 \
    sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends systemd-sysv && apt-get clean && rm -rf /var/lib/apt/lists/*' \
    > "$W/systemd-image.log" 2>&1
  podman commit -q --change 'CMD=["/sbin/init"]' s3nb-systemd-build "$tag" > /dev/null
  podman rm -f s3nb-systemd-build > /dev/null
}

podman_collection() {
  local collections=$VENV/collections
  if [ -d "$collections/ansible_collections/containers/podman" ]; then return 0; fi
  echo "==> containers.podman from the ansible $ANSIBLE_WHEEL_VERSION wheel"
  python -m pip download -q --no-deps -d "$W/wheels" "ansible==$ANSIBLE_WHEEL_VERSION"
  python - "$W/wheels" "$collections" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/ansible-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith("ansible_collections/containers/podman/")])
PY
  rm -rf "$W/wheels"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  "${HELPER[@]}" stop "$W/s3" || true
  if [ -n "${PRIVATE_HOME:-}" ]; then gpgconf --homedir "$PRIVATE_HOME" --kill all 2>/dev/null || true; fi
  if [ -n "${PUBLIC_HOME:-}" ]; then gpgconf --homedir "$PUBLIC_HOME" --kill all 2>/dev/null || true; fi
  podman ps -a --filter label=owner=molecule --format '{{.Names}}' | xargs -r podman rm -f -t 0 > /dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

podman_conf
build_image bookworm localhost/s3nb-debian:12
build_image trixie localhost/s3nb-debian:13
case " $SCENARIOS " in *" systemd "*) build_systemd_image ;; esac
podman_collection

# the collection as ansible expects it: .../ansible_collections/s3napback/s3napback
mkdir -p "$W/ac/ansible_collections/s3napback"
ln -sfn "$ROOT" "$W/ac/ansible_collections/s3napback/s3napback"

rm -rf "$W/s3" "$W/keys"
mkdir -p "$W/s3" "$W/keys"
S3NAPBACK_MOLECULE_ENDPOINT=$("${HELPER[@]}" start "$W/s3")
eval "$("${HELPER[@]}" keypair "$W/keys" molecule@s3napback.invalid)"
gpg --homedir "$PUBLIC_HOME" --batch --armor --export > "$W/keys/public.asc"
eval "$("${HELPER[@]}" credentials "$W/s3")"
S3NAPBACK_MOLECULE_ACCESS_KEY=$ACCESS_KEY S3NAPBACK_MOLECULE_SECRET_KEY=$SECRET_KEY
export S3NAPBACK_MOLECULE_ENDPOINT S3NAPBACK_MOLECULE_ACCESS_KEY S3NAPBACK_MOLECULE_SECRET_KEY
export S3NAPBACK_MOLECULE_PUBLIC_KEY=$W/keys/public.asc
export S3NAPBACK_MOLECULE_PRIVATE_HOME=$PRIVATE_HOME
export S3NAPBACK_MOLECULE_FINGERPRINT=$FINGERPRINT
export ANSIBLE_COLLECTIONS_PATH=$W/ac:$VENV/collections
export ANSIBLE_HOME=$W/ansible-home ANSIBLE_LOCAL_TEMP=$W/ansible-tmp ANSIBLE_FORCE_COLOR=0 NO_COLOR=1
export MOLECULE_GLOB=${MOLECULE_GLOB:-molecule/*/molecule.yml}

cd "$ROOT"
for scenario in $SCENARIOS; do
  export S3NAPBACK_MOLECULE_BUCKET=s3nb-molecule-$scenario-$RANDOM
  "${HELPER[@]}" bucket "$W/s3" "$S3NAPBACK_MOLECULE_BUCKET"
  echo "==> molecule test -s $scenario"
  # shellcheck disable=SC2086  # MOLECULE_ARGS holds several words on purpose
  molecule test -s "$scenario" ${MOLECULE_ARGS:-}
done
