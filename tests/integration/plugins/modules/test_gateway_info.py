# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_info main() against the lab API emulator, whose service proxy forwards to a local HTTP server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest


from ansible_collections.portkey_ai.gateway.plugins.modules import gateway_info

sys.path.insert(0, os.path.dirname(__file__))
from module_runner import run_module  # noqa: E402
from test_gateway_release import WRITES, Emulator, spec, write_chart  # noqa: E402
from test_gateway_release import run as release_run  # noqa: E402


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path in ("/", "/v1/health") else 404
        body = b"AI Gateway says hey!" if code == 200 else b"not found"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    emu = Emulator(str(tmp_path_factory.mktemp("emulator")), "http://127.0.0.1:%d" % server.server_port)
    chart = write_chart(str(tmp_path_factory.mktemp("chart") / "gateway"))
    yield emu, chart
    emu.stop()
    server.shutdown()


def run(args, capsys):
    return run_module(gateway_info, args, capsys)[1]


def test_healthy_release(lab, capsys):
    emu, chart = lab
    assert release_run(dict(namespace="info", chart_path=chart, values_spec=spec(), kubeconfig=emu.kubeconfig),
                       capsys)["changed"]
    emu.clear()
    out = run(dict(namespace="info", kubeconfig=emu.kubeconfig, wait_healthy=True, timeout=10), capsys)
    assert out["changed"] is False and out["healthy"] is True and out["problems"] == []
    assert out["release"]["status"] == "deployed" and out["release"]["chart"] == "gateway"
    assert out["deployment"]["name"] == "portkey-gateway" and out["deployment"]["rollout_complete"] is True
    assert [p["ready"] for p in out["pods"]] == [True]          # the dataservice pod is not selected
    assert out["pods"][0]["image"].endswith("gateway_enterprise:1.11.4")
    assert out["service"] == dict(name="portkey-gateway", type="LoadBalancer", port=8787,
                                  hostname="portkey-gateway.info.elb.lab.local")
    assert out["health"] == dict(path="/v1/health", status=200, ok=True, body="AI Gateway says hey!")
    assert out["selector"] == ("app.kubernetes.io/instance=portkey-gateway,app.kubernetes.io/name=gateway,"
                               "!app.kubernetes.io/component")
    assert [r for r in emu.requests() if r["method"] in WRITES] == []


def test_unhealthy_health_path_is_retried_then_reported(lab, capsys):
    emu, chart = lab
    release_run(dict(namespace="info2", chart_path=chart, values_spec=spec(), kubeconfig=emu.kubeconfig), capsys)
    start = time.monotonic()
    out = run(dict(namespace="info2", kubeconfig=emu.kubeconfig, health_path="/nope", timeout=2,
                   poll_interval=0.5), capsys)
    assert 1.5 <= time.monotonic() - start < 10
    assert out["healthy"] is False and out["health"]["status"] == 404 and "failed" not in out
    out = run(dict(namespace="info2", kubeconfig=emu.kubeconfig, health_path="/nope", timeout=1,
                   poll_interval=0.5, wait_healthy=True), capsys)
    assert out["failed"] and "/nope" in out["msg"] and "404" in out["msg"]


def test_never_ready_rollout(lab, capsys):
    emu, chart = lab
    out = release_run(dict(namespace="info3", chart_path=chart, values_spec=spec(image=dict(tag="1.0-neverready")),
                           kubeconfig=emu.kubeconfig, wait=False, atomic=False), capsys)
    assert out["changed"]
    out = run(dict(namespace="info3", kubeconfig=emu.kubeconfig, timeout=1, poll_interval=0.5, wait_healthy=True),
              capsys)
    assert out["failed"] and "rollout not complete" in out["msg"] and "no gateway pod is Ready" in out["msg"]
    assert out["pods"] and out["pods"][0]["ready"] is False


def test_missing_release(lab, capsys):
    emu, _chart = lab
    out = run(dict(namespace="nothing-here", kubeconfig=emu.kubeconfig, timeout=1), capsys)
    assert out["healthy"] is False and out["release"]["status"] is None
    assert out["problems"] == ["release portkey-gateway in namespace nothing-here is not installed"]
    out = run(dict(namespace="nothing-here", kubeconfig=emu.kubeconfig, timeout=1, wait_healthy=True), capsys)
    assert out["failed"] and "not installed" in out["msg"]
