# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster modules with AWX's bearer-token credential: only K8S_AUTH_HOST + K8S_AUTH_API_KEY in the
environment, no kubeconfig at all, against the lab Kubernetes API emulator (it accepts any bearer token).
The token must never appear in a module's output (nor in the helm command lines it returns)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import glob
import json
import os
import sys
import tempfile

import pytest


from ansible_collections.portkey_ai.gateway.plugins.modules import gateway_info, gateway_release

sys.path.insert(0, os.path.dirname(__file__))
# fixture lab: the emulator, the gateway stand-in and a chart
from test_gateway_info import lab  # noqa: E402,F401 pylint: disable=unused-import
from test_gateway_release import spec  # noqa: E402
from module_runner import run_module  # noqa: E402

TOKEN = "awx-bearer-token-9f8e7d6c5b4a"


@pytest.fixture
def token_env(monkeypatch, lab, tmp_path):  # noqa: F811
    emu, _chart = lab
    for var in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT", "K8S_AUTH_VERIFY_SSL",
                "K8S_AUTH_SSL_CA_CERT", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config to fall back on
    monkeypatch.setenv("K8S_AUTH_HOST", emu.url)
    monkeypatch.setenv("K8S_AUTH_API_KEY", TOKEN)
    return emu


def _run(module, args, capsys):
    return run_module(module, args, capsys, secrets=(TOKEN,))[1]


def _private_kubeconfigs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "portkey-kube-*")))


def test_release_and_info_with_bearer_token_env_only(token_env, lab, capsys):  # noqa: F811
    _emu, chart = lab
    before = _private_kubeconfigs()
    out = _run(gateway_release, dict(namespace="token", chart_path=chart, values_spec=spec(), timeout="30s"), capsys)
    assert out["changed"] is True and out["release"]["status"] == "deployed", out.get("msg")
    commands = json.dumps(out["helm_commands"])
    assert "--kube-token" not in commands and TOKEN not in commands
    assert all("--kubeconfig" in c for c in out["helm_commands"] if c[1] not in ("version", "template"))
    again = _run(gateway_release, dict(namespace="token", chart_path=chart, values_spec=spec()), capsys)
    assert again["changed"] is False

    info = _run(gateway_info, dict(namespace="token", wait_healthy=True, timeout=10), capsys)
    assert info["healthy"] is True, info.get("problems") or info.get("msg")
    assert info["release"]["status"] == "deployed"
    assert _private_kubeconfigs() == before  # every temporary kubeconfig was removed


def test_wrong_host_fails_cleanly_without_the_token(token_env, monkeypatch, capsys):
    monkeypatch.setenv("K8S_AUTH_HOST", "http://127.0.0.1:1")
    out = _run(gateway_info, dict(namespace="token", timeout=1), capsys)
    assert out["failed"] is True and "127.0.0.1:1" in out["msg"]


def test_lb_security_group_reads_the_service_with_the_token(token_env, lab, monkeypatch, capsys):  # noqa: F811
    moto = pytest.importorskip("moto")
    from ansible_collections.portkey_ai.gateway.plugins.modules import lb_security_group
    _emu, chart = lab
    _run(gateway_release, dict(namespace="token-lb", chart_path=chart, values_spec=spec(), timeout="30s"), capsys)
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_URL", raising=False)
    with moto.mock_aws():
        out = _run(lb_security_group, dict(service_name="portkey-gateway", namespace="token-lb", region="us-east-1",
                                           wait_timeout=1), capsys)
    # the Service was read through the emulator with the bearer token: its (emulated) load-balancer hostname
    # is looked up in AWS, where no such load balancer exists
    assert out["failed"] is True
    assert "portkey-gateway.token-lb.elb.lab.local" in out["msg"], out["msg"]
