# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_release main() against the lab Kubernetes API emulator (real helm 3 and helm 4, a small chart)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ansible_collections.portkey_ai.gateway.plugins.modules import gateway_release
from lab import services

sys.path.insert(0, os.path.dirname(__file__))
from module_runner import run_module  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
BIN = os.path.dirname(sys.executable)
WRITES = ("POST", "PUT", "PATCH", "DELETE")

CHART_YAML = "apiVersion: v2\nname: gateway\nversion: %s\nappVersion: \"1.11.4\"\n"
VALUES_YAML = """
images:
  gatewayImage: {repository: docker.io/portkeyai/gateway_enterprise, tag: ""}
replicaCount: 1
imageCredentials: []
environment: {data: {}}
service: {type: LoadBalancer, port: 8787}
podAnnotations: {}
"""
TEMPLATES = {
    "secret.yaml": """apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}
type: Opaque
data:
{{- range $k, $v := .Values.environment.data }}
  {{ $k }}: {{ $v | toString | b64enc | quote }}
{{- end }}
""",
    "pullsecret.yaml": """{{- range .Values.imageCredentials }}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ .name }}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: {{ printf "{\\"auths\\":{\\"%s\\":{\\"username\\":\\"%s\\",\\"password\\":\\"%s\\"}}}" .registry .username .password | b64enc }}
{{- end }}
""",
    "deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}}
      annotations: {{ toJson .Values.podAnnotations }}
    spec:
      containers:
        - name: gateway
          image: "{{ .Values.images.gatewayImage.repository }}:{{ .Values.images.gatewayImage.tag | default .Chart.AppVersion }}"
          ports: [{name: gateway, containerPort: 8787}]
          envFrom: [{secretRef: {name: {{ .Release.Name }}}}]
""",
    "dataservice.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-dataservice
spec:
  replicas: 0
  selector:
    matchLabels: {app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/component: ds}
  template:
    metadata:
      labels: {app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/component: ds}
    spec:
      containers: [{name: ds, image: "portkeyai/data-service:1.2.4"}]
""",
    "service.yaml": """apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  type: {{ .Values.service.type }}
  ports: [{port: {{ .Values.service.port }}, targetPort: gateway, name: gateway}]
  selector: {app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}}
""",
}


def write_chart(path, version="1.0.8", extra_template=None):
    os.makedirs(os.path.join(path, "templates"), exist_ok=True)
    with open(os.path.join(path, "Chart.yaml"), "w") as handle:
        handle.write(CHART_YAML % version)
    with open(os.path.join(path, "values.yaml"), "w") as handle:
        handle.write(VALUES_YAML)
    templates = dict(TEMPLATES)
    if extra_template:
        templates["extra.yaml"] = extra_template
    for name, text in templates.items():
        with open(os.path.join(path, "templates", name), "w") as handle:
            handle.write(text)
    return path


class Emulator(object):
    """The Kubernetes API emulator, started with lab.services' launcher (its kubeconfig: state_dir/kubeconfig)."""

    def __init__(self, state_dir, gateway_url="http://127.0.0.1:9"):
        if not os.path.isfile(os.path.join(ROOT, "lab", "apiserver", "__main__.py")):
            pytest.skip("lab/apiserver (the Kubernetes API emulator) is not available")
        self.state_dir = state_dir
        self.started = services.start_apiserver(Path(state_dir), "--gateway-url", gateway_url, token="lab")
        self.url = self.started.url
        self.kubeconfig = self.started.env["KUBECONFIG"]

    def requests(self):
        with urllib.request.urlopen(self.url + "/_lab/requests") as resp:
            return json.loads(resp.read().decode())

    def writes(self):
        return [r for r in self.requests() if r["method"] in WRITES]

    def clear(self):
        req = urllib.request.Request(self.url + "/_lab/requests", method="DELETE")
        urllib.request.urlopen(req).read()

    def get(self, path):
        with urllib.request.urlopen(self.url + path) as resp:
            return json.loads(resp.read().decode())

    def stop(self):
        self.started.stop()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = Emulator(str(tmp_path_factory.mktemp("emulator")))
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    return write_chart(str(tmp_path_factory.mktemp("chart") / "gateway"))


SECRET_AUTH = "client-auth-0123456789abcdef"
SECRET_KEY = "s3-secret-key-fedcba9876543210"
SECRET_PW = "docker-password-5555"


def spec(**over):
    base = dict(client_auth=SECRET_AUTH, organisations_to_sync="org-1",
                environment=dict(LOG_STORE="s3", LOG_STORE_REGION="us-east-1", LOG_STORE_ACCESS_KEY="AKIA1234567890",
                                 LOG_STORE_SECRET_KEY=SECRET_KEY, LOG_STORE_GENERATIONS_BUCKET="logs",
                                 CACHE_STORE="aws-elastic-cache", REDIS_URL="redis://cache.example:6379", REDIS_TLS_ENABLED="true",
                                 ANALYTICS_STORE="control_plane"),
                image_credentials=dict(username="docker-user", password=SECRET_PW),
                service=dict(type="LoadBalancer", port=8787))
    base.update(over)
    return base


def run(args, capsys, check=False, diff=False):
    return run_module(gateway_release, args, capsys, check=check, diff=diff,
                      secrets=(SECRET_AUTH, SECRET_KEY, SECRET_PW))[1]


def subcommands(result):
    return [" ".join(c[1:3]) if c[1] == "get" else c[1] for c in result["helm_commands"]]


@pytest.fixture(params=["helm", "helm4"])
def helm_binary(request):
    return request.param


def test_lifecycle(emulator, chart, capsys, helm_binary):
    ns = "life-%s" % helm_binary
    args = dict(release_name="portkey-gateway", namespace=ns, chart_path=chart, values_spec=spec(),
                kubeconfig=emulator.kubeconfig, helm_binary=helm_binary, timeout="60s")

    # check mode on an empty namespace: changed, redacted diff, only GETs
    emulator.clear()
    out = run(args, capsys, check=True, diff=True)
    assert out["changed"] is True and out["reasons"] == ["release is not installed"]
    assert emulator.writes() == []
    values_diff, manifest_diff = out["diff"]
    assert "<redacted sha256:" in values_diff["after"] and "<redacted sha256:" in manifest_diff["after"]
    assert "kind: Deployment" in manifest_diff["after"] and out["release"]["status"] is None

    # install
    out = run(args, capsys)
    assert out["changed"] is True and out["release"]["status"] == "deployed" and out["release"]["revision"] == 1
    assert out["release"]["chart"] == "gateway" and out["release"]["chart_version"] == "1.0.8"
    assert dict(api_version="apps/v1", kind="Deployment", name="portkey-gateway", namespace=ns) in out["objects"]
    assert out["values_checksum"] and out["env_checksum"] and out["generation"] == "1.0"
    assert "upgrade" in subcommands(out)

    # no-op rerun: 3 helm processes, no upgrade, no write request at all
    emulator.clear()
    out = run(args, capsys)
    assert out["changed"] is False and out["reasons"] == [] and out["release"]["revision"] == 1
    assert subcommands(out) == ["get all", "get values", "template"]
    assert emulator.writes() == []

    # check mode again: not changed, diff equal on both sides
    out = run(args, capsys, check=True, diff=True)
    assert out["changed"] is False and emulator.writes() == []
    assert out["diff"][0]["before"] == out["diff"][0]["after"]

    # values change (a secret rotated): check shows it redacted, then the upgrade
    rotated = spec(client_auth="client-auth-rotated-99999999")
    out = run(dict(args, values_spec=rotated), capsys, check=True, diff=True)
    assert out["changed"] and "values differ" in out["reasons"] and emulator.writes() == []
    assert SECRET_AUTH not in json.dumps(out["diff"]) and "client-auth-rotated" not in json.dumps(out["diff"])
    out = run(dict(args, values_spec=rotated), capsys)
    assert out["changed"] and out["release"]["revision"] == 2

    # never-ready image: atomic rollback, the module fails and says the previous revision is deployed
    bad = spec(client_auth="client-auth-rotated-99999999", image=dict(tag="1.11.4-neverready"))
    out = run(dict(args, values_spec=bad, timeout="3s"), capsys)
    assert out["failed"] and "failed" in out["msg"] and "status deployed" in out["msg"]
    assert "previous configuration is still deployed" in out["msg"]
    assert out["release"]["status"] == "deployed" and out["release"]["revision"] == 4
    dep = emulator.get("/apis/apps/v1/namespaces/%s/deployments/portkey-gateway" % ns)
    assert not dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith("-neverready")
    out = run(dict(args, values_spec=rotated), capsys)
    assert out["changed"] is False

    # uninstall twice
    out = run(dict(args, state="absent"), capsys)
    assert out["changed"] is True and out["release"]["status"] == "uninstalled"
    out = run(dict(args, state="absent"), capsys)
    assert out["changed"] is False and out["release"]["status"] == "absent"
    assert emulator.get("/apis/apps/v1/namespaces/%s/deployments" % ns)["items"] == []


def test_template_change_and_chart_version_change(emulator, tmp_path, capsys):
    ns = "tpl"
    path = write_chart(str(tmp_path / "gateway"))
    args = dict(namespace=ns, chart_path=path, values_spec=spec(), kubeconfig=emulator.kubeconfig, wait=False)
    assert run(args, capsys)["changed"] is True
    extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: resource-config\ndata: {a: b}\n"
    write_chart(path, extra_template=extra)  # same chart version, one more template
    out = run(args, capsys)
    assert out["changed"] is True and out["reasons"] == ["rendered manifest differs"]
    assert dict(api_version="v1", kind="ConfigMap", name="resource-config", namespace=ns) in out["objects"]
    write_chart(path, version="1.0.9", extra_template=extra)
    out = run(args, capsys)
    assert out["reasons"] == ["chart gateway-1.0.9 differs from the deployed gateway-1.0.8"]
    assert out["release"]["chart_version"] == "1.0.9" and run(args, capsys)["changed"] is False
    # rollback to the previous revision, then a rollback to the same content is a no-op
    out = run(dict(args, state="rollback"), capsys)
    assert out["changed"] is True and out["release"]["chart_version"] == "1.0.8"
    out = run(dict(args, state="rollback", revision=out["release"]["revision"] - 2), capsys)  # the same content
    assert out["changed"] is False


def test_values_spec_release_name_mismatch(emulator, chart, capsys):
    out = run(dict(chart_path=chart, values_spec=spec(release_name="portkey-app"),
                   kubeconfig=emulator.kubeconfig), capsys)
    assert out["failed"] and "values_spec.release_name" in out["msg"]


def test_pending_upgrade_recovery(emulator, chart, capsys):
    ns = "pending"
    args = dict(namespace=ns, chart_path=chart, values_spec=spec(), kubeconfig=emulator.kubeconfig, timeout="30s")
    assert run(args, capsys)["changed"] is True
    # an interrupted helm: upgrade to a never-ready image with --wait and no --atomic, killed mid-wait
    values = str(os.path.join(os.path.dirname(chart), "bad-values.yaml"))
    with open(values, "w") as handle:
        handle.write("images: {gatewayImage: {tag: 1.11.4-neverready}}\n")
    proc = subprocess.Popen([os.path.join(BIN, "helm"), "upgrade", "portkey-gateway", chart, "-n", ns,
                             "--reuse-values", "-f", values, "--wait", "--timeout", "60s",
                             "--kubeconfig", emulator.kubeconfig],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline and status != "pending-upgrade":
            time.sleep(0.2)
            res = subprocess.run([os.path.join(BIN, "helm"), "status", "portkey-gateway", "-n", ns, "-o", "json",
                                  "--kubeconfig", emulator.kubeconfig], stdout=subprocess.PIPE, check=False)
            status = json.loads(res.stdout or b"{}").get("info", {}).get("status")
        assert status == "pending-upgrade"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # a pending revision younger than `timeout` may be a concurrent run's: it is waited for (bounded) first
    args["timeout"] = "3s"
    out = run(args, capsys)
    assert out["failed"] and "recover_pending: rollback" in out["msg"] and "pending-upgrade" in out["msg"]
    out = run(dict(args, recover_pending="rollback"), capsys, check=True)
    assert out["changed"] is True and out["release"]["status"] == "pending-upgrade"
    out = run(dict(args, recover_pending="rollback"), capsys)
    assert out["changed"] is True and out["release"]["status"] == "deployed"
    assert "rolled back to revision 1" in json.dumps(out["warnings"])
    assert run(args, capsys)["changed"] is False
