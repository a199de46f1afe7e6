#!/usr/bin/env bash
# Make sure the local PostgreSQL server has the pgvector extension available,
# so that `CREATE EXTENSION vector` works.
#
# Debian bookworm ships no pgvector package, so when it is missing we build it
# from Debian trixie's *source* package against postgresql-server-dev-<major>.
# The trixie source list lives in a private apt sources file and a private
# lists dir (under /var/tmp, removed afterwards): the system's apt
# configuration and package lists are left untouched.
#
# Idempotent: if the extension is already installed it exits at once.
# Must run as root (apt-get install, make install into the server's dirs).
#
# Environment:
#   PG_MAJOR              PostgreSQL major version to build for (default 15)
#   PGVECTOR_SRC_VERSION  exact Debian source version to fetch, e.g. 0.8.0-1
#                         (default: whatever trixie currently has; 0.8.0 when written)
#   PGVECTOR_FORCE=1      rebuild even if the extension is already installed
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PGVECTOR_SRC_VERSION="${PGVECTOR_SRC_VERSION:-}"
SUITE=trixie
EXT_DIR="/usr/share/postgresql/${PG_MAJOR}/extension"
LIB_DIR="/usr/lib/postgresql/${PG_MAJOR}/lib"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
SYSTEM_SOURCES=/etc/apt/sources.list.d/debian.sources
LOCK_FILE=/var/tmp/marquee-pgvector.lock

say() { echo "[pgvector] $*"; }
die() { echo "[pgvector] ERROR: $*" >&2; exit 1; }

installed() { [ -f "$EXT_DIR/vector.control" ] && [ -f "$LIB_DIR/vector.so" ]; }

# Fast path: nothing to do.
if installed && [ "${PGVECTOR_FORCE:-0}" != 1 ]; then
  say "already installed for PostgreSQL $PG_MAJOR ($EXT_DIR/vector.control)"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (apt-get install, make install)"
command -v apt-get >/dev/null || die "apt-get not found: this script is for Debian"

# Serialise concurrent runs (two CI steps, a developer and CI, ...).
exec 9>"$LOCK_FILE"
if ! flock -w 600 9; then die "timed out waiting for lock $LOCK_FILE"; fi
if installed && [ "${PGVECTOR_FORCE:-0}" != 1 ]; then
  say "installed by a concurrent run meanwhile"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
t0=$SECONDS

# apt-get install with the system configuration; refresh the system lists
# (a plain `apt-get update`) only if the install fails without it.
apt_install() {
  if ! apt-get install -y -q --no-install-recommends "$@" >/tmp/marquee-apt-install.log 2>&1; then
    say "apt-get install $* failed with the current package lists; running apt-get update and retrying"
    apt-get update -q >/dev/null || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends "$@" >/tmp/marquee-apt-install.log 2>&1 \
      || { tail -n 30 /tmp/marquee-apt-install.log >&2; die "apt-get install $* failed (log: /tmp/marquee-apt-install.log)"; }
  fi
}

# 1. Build dependencies: server headers + PGXS, a C toolchain, dpkg-dev
#    (apt-get source wants it around; it also gives us dpkg-source).
need=()
dpkg-query -W -f='${Status}' "postgresql-server-dev-${PG_MAJOR}" 2>/dev/null | grep -q 'ok installed' \
  || need+=("postgresql-server-dev-${PG_MAJOR}")
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
command -v make >/dev/null || need+=(make)
command -v gcc >/dev/null || need+=(gcc)
if [ "${#need[@]}" -gt 0 ]; then
  say "installing build dependencies: ${need[*]}"
  apt_install "${need[@]}"
fi
[ -x "$PG_CONFIG" ] || die "$PG_CONFIG missing after installing postgresql-server-dev-${PG_MAJOR}"

# 2. Private apt state: a sources file with trixie's deb-src only.
[ -r "$SYSTEM_SOURCES" ] || die "cannot read $SYSTEM_SOURCES to find the Debian mirror"
# The first URIs: line is the main archive (the second is debian-security).
MIRROR="$(sed -n 's/^[Uu][Rr][Ii][Ss]:[[:space:]]*\([^[:space:]]*\).*/\1/p' "$SYSTEM_SOURCES" | head -n 1)"
[ -n "$MIRROR" ] || die "no URIs: line in $SYSTEM_SOURCES"

WORK="$(mktemp -d /var/tmp/marquee-pgvector.XXXXXX)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
# apt downloads as the unprivileged _apt user: let it write here (avoids the
# "Download is performed unsandboxed as root" warning).
chmod 755 "$WORK"
mkdir -p "$WORK/lists/partial" "$WORK/src"
chown _apt "$WORK/lists/partial" "$WORK/src" 2>/dev/null || true
echo "deb-src $MIRROR $SUITE main" >"$WORK/sources.list"

APT_PRIVATE=(
  -o "Dir::Etc::SourceList=$WORK/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$WORK/lists"
  # do not rewrite the system's binary caches in /var/cache/apt
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
)

say "fetching the $SUITE source index from $MIRROR (private lists in $WORK)"
apt-get "${APT_PRIVATE[@]}" -q update >"$WORK/update.log" 2>&1 \
  || { tail -n 20 "$WORK/update.log" >&2; die "apt-get update of the private $SUITE source list failed"; }

spec=pgvector
[ -n "$PGVECTOR_SRC_VERSION" ] && spec="pgvector=$PGVECTOR_SRC_VERSION"
say "downloading source package $spec"
(cd "$WORK/src" && apt-get "${APT_PRIVATE[@]}" -q source --download-only "$spec") >"$WORK/source.log" 2>&1 \
  || { tail -n 20 "$WORK/source.log" >&2; die "apt-get source --download-only $spec failed"; }

shopt -s nullglob
orig=("$WORK"/src/pgvector_*.orig.tar.*)
shopt -u nullglob
[ "${#orig[@]}" -eq 1 ] || die "expected one pgvector_*.orig.tar.* in $WORK/src, found: ${orig[*]:-none}"
say "building $(basename "${orig[0]}") against PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}')"

mkdir -p "$WORK/build"
tar -xf "${orig[0]}" -C "$WORK/build"
srcdir="$(find "$WORK/build" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
[ -f "$srcdir/Makefile" ] || die "no Makefile in the unpacked pgvector source ($srcdir)"

# OPTFLAGS="" drops -march=native, so the build does not depend on this CPU.
make -C "$srcdir" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" -j"$(nproc)" >"$WORK/make.log" 2>&1 \
  || { tail -n 30 "$WORK/make.log" >&2; die "make failed"; }
make -C "$srcdir" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" install >"$WORK/install.log" 2>&1 \
  || { tail -n 30 "$WORK/install.log" >&2; die "make install failed"; }

installed || die "make install finished but $EXT_DIR/vector.control or $LIB_DIR/vector.so is missing"
say "installed pgvector $(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$EXT_DIR/vector.control") for PostgreSQL $PG_MAJOR in $((SECONDS - t0)) s"
