#!/usr/bin/env bash
# Build dist/nodecred-provider/: a PyInstaller onedir that carries its own dynamic loader and
# libc, so it runs on hosts with an older glibc (OL7: 2.17) than the build machine.
#
# How: every shared object of the bundle gets RUNPATH $ORIGIN-relative to _internal/, the
# system libraries they need (libc, libm, libz, ...) are copied in, and the executable's
# PT_INTERP points at the bundled ld-linux. PT_INTERP must be absolute, so the directory is
# installed on the host at INSTALL_DIR (default /opt/nodecred/provider, DESIGN.md).
set -euo pipefail
cd "$(dirname "$0")/.."
INSTALL_DIR=${INSTALL_DIR:-/opt/nodecred/provider}
PY=${FREEZE_PYTHON:-/usr/bin/python3}  # Debian's: no pyenv RUNPATHs in libpython
VENV=.cache/freeze-venv
OUT=dist/nodecred-provider

need=""
command -v patchelf >/dev/null || need="$need patchelf"
command -v strip >/dev/null || need="$need binutils"
[ -z "$need" ] || { apt-get update -qq && apt-get install -y -qq $need >/dev/null; }
if [ ! -x "$VENV/bin/pyinstaller" ]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet pyinstaller pyyaml botocore
fi
"$VENV/bin/pip" install --quiet --no-deps --force-reinstall .
rm -rf "$OUT" build/freeze
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath dist --workpath build/freeze image/nodecred-provider.spec

internal="$OUT/_internal"
elfs() { find "$OUT" -type f \( -name '*.so*' -o -name nodecred-provider \) -exec sh -c 'head -c4 "$1" | grep -q ELF' _ {} \; -print; }
# Copy in every system library any bundled object needs (transitively: repeat until stable).
for _ in 1 2 3; do
    for f in $(elfs); do
        ldd "$f" 2>/dev/null | awk '/=> \//{print $3} $1 ~ /^\/.*ld-linux/{print $1}' | while read -r lib; do
            [ -e "$internal/$(basename "$lib")" ] || cp -L "$lib" "$internal/"
        done
    done
done
# Symbols are dead weight for a binary nobody debugs on the node (about 3 MB).
find "$OUT" -type f -name '*.so*' -exec strip --strip-unneeded {} +
# botocore reads model files as .json or .json.gz; endpoints.json is 1.2 MB of text.
gzip -9 -n "$internal/botocore/data/endpoints.json"
loader=$(cd "$internal" && ls ld-linux-*.so.* | head -n1)
[ -n "$loader" ] || { echo "no dynamic loader was bundled" >&2; exit 1; }
for f in $(elfs); do
    case "$f" in
        "$OUT/nodecred-provider") continue ;;
        "$internal/$loader") continue ;;
    esac
    rel=$(realpath --relative-to="$(dirname "$f")" "$internal")
    patchelf --set-rpath "\$ORIGIN/$rel" --force-rpath "$f"
done
patchelf --set-interpreter "$INSTALL_DIR/_internal/$loader" --set-rpath '$ORIGIN/_internal' --force-rpath "$OUT/nodecred-provider"
echo "built $OUT ($(du -sh "$OUT" | cut -f1)), interpreter $INSTALL_DIR/_internal/$loader"
