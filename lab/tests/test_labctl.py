"""labctl: up (twice), what it runs and builds, cluster-up/-down, down. Uses its own lab dir (never .lab/)."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
import yaml

from lab import services

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
HELM = ROOT / ".venv" / "bin" / "helm"
LABCTL = ROOT / "lab" / "labctl.py"
REAL_APISERVER = (ROOT / "lab" / "apiserver" / "__main__.py").exists()
SERVICES = ("gateway", "moto", "redis", "helmrepo", "apiserver")
ENV_KEYS = {
    "KUBECONFIG", "K8S_AUTH_KUBECONFIG", "PORTKEY_LAB_API_URL", "AWS_URL", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION", "PORTKEY_LAB_REDIS_HOST", "PORTKEY_LAB_REDIS_PORT",
    "PORTKEY_LAB_REDIS_CA", "PORTKEY_LAB_REDIS_PASSWORD", "PORTKEY_LAB_GATEWAY_URL", "PORTKEY_LAB_CHART_GIT_LEGACY",
    "PORTKEY_LAB_CHART_GIT_CURRENT", "PORTKEY_LAB_HELM_REPO_URL", "PORTKEY_LAB_DIR",
    "PORTKEY_LAB_CLIENT_AUTH", "PORTKEY_LAB_REGISTRY_PASSWORD",
}
TAGS = {"PORTKEY_LAB_CHART_GIT_LEGACY": ("helm/enterprise", {"v1.0.7": "1.0.7", "v1.0.8": "1.0.8",
                                                             "v1.0.8-tpl": "1.0.8", "main": "1.0.8"}),
        "PORTKEY_LAB_CHART_GIT_CURRENT": ("charts/portkey-gateway", {"gateway-1.7.6": "1.7.6",
                                                                    "gateway-1.7.7": "1.7.7", "main": "1.7.7"})}
STUB = '''
"""Stand-in for lab.apiserver (used only while lab/apiserver/__main__.py does not exist)."""
import argparse, http.server
from pathlib import Path
p = argparse.ArgumentParser()
for opt in ("--host", "--state-dir", "--gateway-url", "--cluster-name"):
    p.add_argument(opt)
p.add_argument("--port", type=int)
a = p.parse_args()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/_lab/healthz" else 404)
        self.end_headers()
server = http.server.ThreadingHTTPServer((a.host, a.port), H)
Path(a.state_dir, "port").write_text(str(server.server_address[1]))
server.serve_forever()
'''


def load_labctl():
    spec = importlib.util.spec_from_file_location("labctl", LABCTL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def labctl(lab_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(PYTHON), str(LABCTL), "--lab-dir", str(lab_dir), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def read_env(path: Path) -> dict[str, str]:
    return services.parse_env(path.read_text())   # the one parser of the env file (lab/services.py)


def listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def alive(record: dict) -> bool:
    try:
        text = Path(f"/proc/{record['pid']}/stat").read_text()
    except FileNotFoundError:
        return False
    fields = text[text.rindex(")") + 2:].split()
    return fields[0] != "Z" and int(fields[19]) == record["starttime"]


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def send(url: str, body: dict) -> int:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def run_env(tmp_path_factory) -> dict:
    env = dict(os.environ)
    env.pop("PORTKEY_LAB_DIR", None)
    if not REAL_APISERVER:
        stub = tmp_path_factory.mktemp("stub")
        (stub / "labstub_apiserver").mkdir()
        (stub / "labstub_apiserver" / "__main__.py").write_text(STUB)
        env.update(PYTHONPATH=str(stub), PORTKEY_LAB_APISERVER_MODULE="labstub_apiserver")
    return env


@pytest.fixture(scope="module")
def lab(tmp_path_factory, run_env):
    lab_dir = tmp_path_factory.mktemp("lab")
    first = labctl(lab_dir, "up", env=run_env)
    records = {name: json.loads((lab_dir / "run" / f"{name}.json").read_text()) for name in SERVICES} \
        if first.returncode == 0 else {}
    yield {"dir": lab_dir, "first": first, "records": records, "env": run_env}
    labctl(lab_dir, "down", env=run_env)


def test_up_starts_everything(lab):
    assert lab["first"].returncode == 0, lab["first"].stderr
    for name in SERVICES:
        assert alive(lab["records"][name]), name


def test_second_up_changes_nothing(lab):
    env_file = lab["dir"] / "env"
    before = env_file.stat().st_mtime_ns
    second = labctl(lab["dir"], "up", env=lab["env"])
    assert second.returncode == 0, second.stderr
    assert "started" not in second.stdout and "built" not in second.stdout, second.stdout
    for name in SERVICES:
        assert json.loads((lab["dir"] / "run" / f"{name}.json").read_text()) == lab["records"][name]
    assert env_file.stat().st_mtime_ns == before


def test_env_file_has_every_variable_and_is_private(lab):
    env_file = lab["dir"] / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = read_env(env_file)
    assert set(values) == ENV_KEYS
    assert values["PORTKEY_LAB_DIR"] == str(lab["dir"])
    assert values["KUBECONFIG"] == values["K8S_AUTH_KUBECONFIG"] == str(lab["dir"] / "kubeconfig")
    kubeconfig = yaml.safe_load(Path(values["KUBECONFIG"]).read_text())
    assert kubeconfig["current-context"] == "lab"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == values["PORTKEY_LAB_API_URL"]
    assert get(values["PORTKEY_LAB_API_URL"] + "/_lab/healthz")[0] == 200
    assert get(values["PORTKEY_LAB_GATEWAY_URL"] + "/") == (200, "AI Gateway says hey!")
    assert get(values["AWS_URL"] + "/moto-api/data.json")[0] == 200
    assert stat.S_IMODE((lab["dir"] / "redis" / "password").stat().st_mode) == 0o600


def test_redis_answers_only_over_tls_with_password(lab):
    values = read_env(lab["dir"] / "env")
    host, port, ca, password = (values[f"PORTKEY_LAB_REDIS_{k}"] for k in ("HOST", "PORT", "CA", "PASSWORD"))
    assert redis.Redis(host=host, port=int(port), ssl=True, ssl_ca_certs=ca, password=password).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=host, port=int(port), ssl=True, ssl_ca_certs=ca, password="wrong").ping()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host="127.0.0.1", port=int(port), password=password, socket_timeout=3).ping()


@pytest.mark.parametrize("variable", sorted(TAGS))
def test_git_repos_clone_at_every_tag(lab, variable, tmp_path):
    url = read_env(lab["dir"] / "env")[variable]
    assert url.startswith("file:///")
    chart_path, refs = TAGS[variable]
    for ref, version in refs.items():
        dest = tmp_path / ref
        subprocess.run(["git", "clone", "-q", "-c", "advice.detachedHead=false", "--branch", ref, url, str(dest)],
                       check=True, capture_output=True)
        chart = yaml.safe_load(subprocess.run([str(HELM), "show", "chart", str(dest / chart_path)], check=True,
                                              capture_output=True, text=True).stdout)
        assert (chart["name"], chart["version"]) == ("gateway", version), ref


def test_tpl_tag_is_a_template_only_change(lab, tmp_path):
    url = read_env(lab["dir"] / "env")["PORTKEY_LAB_CHART_GIT_LEGACY"]
    subprocess.run(["git", "clone", "-q", "--bare", url, str(tmp_path / "r.git")], check=True)
    diff = subprocess.run(["git", "--git-dir", str(tmp_path / "r.git"), "diff", "--name-only", "v1.0.8", "v1.0.8-tpl"],
                          check=True, capture_output=True, text=True).stdout.split()
    assert diff == ["helm/enterprise/templates/gateway/deployment.yaml"]


def test_git_commits_are_stable_across_rebuilds(lab, tmp_path):
    module = load_labctl()
    for repo in module.CHART_REPOS:
        module.build_git_repo(repo, tmp_path / f"{repo.name}.git")
        refs = [subprocess.run(["git", "--git-dir", str(path / f"{repo.name}.git"), "show-ref"], check=True,
                               capture_output=True, text=True).stdout for path in (tmp_path, lab["dir"] / "git")]
        assert refs[0] == refs[1], repo.name


def test_helm_repo_serves_both_versions(lab, tmp_path):
    url = read_env(lab["dir"] / "env")["PORTKEY_LAB_HELM_REPO_URL"]
    for version in ("1.0.8", "1.7.7"):
        result = subprocess.run([str(HELM), "pull", "--repo", url, "gateway", "--version", version,
                                 "-d", str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / f"gateway-{version}.tgz").exists()


@pytest.mark.skipif(not REAL_APISERVER, reason="lab/apiserver (the emulator) is not there yet")
def test_gateway_answers_through_the_emulator_proxy(lab):
    api = read_env(lab["dir"] / "env")["PORTKEY_LAB_API_URL"]
    assert send(f"{api}/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "labctl-test"}}) in (200, 201, 409)
    labels = {"app": "gw"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "gw"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "gw", "image": "x/gw:1", "ports": [{"name": "gateway", "containerPort": 8787}]}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gw"}, "spec": {
        "selector": labels, "ports": [{"name": "gateway", "port": 8787, "targetPort": "gateway"}]}}
    assert send(f"{api}/apis/apps/v1/namespaces/labctl-test/deployments", deployment) == 201
    assert send(f"{api}/api/v1/namespaces/labctl-test/services", service) == 201
    deadline = time.monotonic() + 30
    while (answer := get(f"{api}/api/v1/namespaces/labctl-test/services/gw:8787/proxy/"))[0] != 200:
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)
    assert answer == (200, "AI Gateway says hey!")


def test_cluster_up_and_down(lab):
    up = labctl(lab["dir"], "cluster-up", "east", "west", env=lab["env"])
    assert up.returncode == 0, up.stderr
    again = labctl(lab["dir"], "cluster-up", "east", env=lab["env"])
    assert again.returncode == 0 and "started" not in again.stdout
    records = {}
    for name in ("east", "west"):
        kubeconfig = yaml.safe_load((lab["dir"] / "clusters" / name / "kubeconfig").read_text())
        assert kubeconfig["current-context"] == name
        assert get(kubeconfig["clusters"][0]["cluster"]["server"] + "/_lab/healthz")[0] == 200
        records[name] = json.loads((lab["dir"] / "clusters" / name / "pid.json").read_text())
    status = json.loads(labctl(lab["dir"], "status", env=lab["env"]).stdout)
    assert set(status["clusters"]) == {"east", "west"} and all(c["healthy"] for c in status["clusters"].values())
    assert labctl(lab["dir"], "cluster-down", "west", env=lab["env"]).returncode == 0
    assert not alive(records["west"]) and alive(records["east"])
    assert labctl(lab["dir"], "cluster-up", "lab", env=lab["env"]).returncode == 1  # the default cluster's name


def test_status_is_json(lab):
    status = json.loads(labctl(lab["dir"], "status", env=lab["env"]).stdout)
    assert status["lab_dir"] == str(lab["dir"])
    assert all(status["services"][name]["healthy"] for name in SERVICES)
    assert labctl(lab["dir"], "env").stdout.strip() == str(lab["dir"] / "env")


def test_down_stops_everything_it_started(lab):
    """Runs last: down stops every process (also cluster east from the cluster test) and frees every port."""
    records = list(lab["records"].values())
    records += [json.loads(p.read_text()) for p in (lab["dir"] / "clusters").glob("*/pid.json")]
    ports = {record["port"] for record in records}
    assert ports <= listening_ports()
    down = labctl(lab["dir"], "down", env=lab["env"])
    assert down.returncode == 0, down.stderr
    assert not [r["name"] for r in records if alive(r)]
    assert not ports & listening_ports()
    assert not list((lab["dir"] / "run").glob("*.json")) and not list((lab["dir"] / "clusters").glob("*/pid.json"))
    assert (lab["dir"] / "logs" / "gateway.log").exists()
    again = labctl(lab["dir"], "down", env=lab["env"])
    assert again.returncode == 0 and again.stdout == ""


def test_missing_emulator_gives_a_clear_message(tmp_path, run_env):
    env = dict(run_env, PORTKEY_LAB_APISERVER_MODULE="no_such_emulator")
    result = labctl(tmp_path / "lab", "up", env=env)
    assert result.returncode == 1
    assert "no_such_emulator" in result.stderr and "does not exist yet" in result.stderr
    assert not (tmp_path / "lab" / "run").exists()


def test_missing_system_tool_names_the_package(monkeypatch):
    module = load_labctl()
    monkeypatch.setattr(module.shutil, "which", lambda name: None if name == "redis-server" else "/usr/bin/" + name)
    with pytest.raises(module.LabError, match="redis-server.*make bootstrap"):
        module.require_tools(["node", "redis-server"])
