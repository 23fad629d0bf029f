# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cluster_check: every connection failure is one named paragraph (the variable and the fix), never a traceback.
Real sockets on 127.0.0.1: an HTTP server answering 200 / 401 / 403, a TLS server with an untrusted certificate,
a closed port; and kubeconfigs that are missing or lack the context."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml

from ansible_collections.portkey_ai.gateway.plugins.modules import cluster_check

sys.path.insert(0, os.path.dirname(__file__))
from module_runner import run_module  # noqa: E402

TOKEN = "cluster-check-token-0a1b2c3d"
VERSION = {"major": "1", "minor": "30", "gitVersion": "v1.30.14", "gitCommit": "0" * 40, "gitTreeState": "clean",
           "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc", "platform": "linux/amd64"}


class Handler(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        code = 200 if self.headers.get("Authorization") == "Bearer " + TOKEN else self.server.deny
        body = json.dumps(VERSION if code == 200 else
                          {"kind": "Status", "code": code, "message": "Unauthorized"}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(deny=401, tls_dir=None):
    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.deny = deny
    scheme = "http"
    if tls_dir:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(tls_dir, "crt"), os.path.join(tls_dir, "key"))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "%s://127.0.0.1:%d" % (scheme, server.server_port)


def _kubeconfig(path, server, token=TOKEN, context="lab"):
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": token}}]}))
    return str(path)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY",
                "K8S_AUTH_VERIFY_SSL", "K8S_AUTH_SSL_CA_CERT", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def _fails(args, capsys, *fragments):
    rc, out = run_module(cluster_check, args, capsys, secrets=(TOKEN,))
    assert rc == 1 and out["failed"], out
    msg = out["msg"]
    assert "Traceback" not in msg and "\n" not in msg and len(msg) < 700, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def test_answers(clean_env, tmp_path, capsys):
    server, url = _serve()
    try:
        rc, out = run_module(cluster_check, dict(kubeconfig=_kubeconfig(tmp_path / "kc", url)), capsys)
    finally:
        server.shutdown()
    assert rc == 0, out
    assert out["changed"] is False and out["cluster"] == dict(host=url, version="v1.30.14")


@pytest.mark.parametrize("deny, fragments", [
    (401, ("401 Unauthorized", "portkey_kubeconfig", "portkey_kube_context", "expired", "aws eks get-token")),
    (403, ("403 Forbidden", "portkey_kubeconfig", "access entry")),
])
def test_rejected_credentials(clean_env, tmp_path, capsys, deny, fragments):
    server, url = _serve(deny)
    try:
        _fails(dict(kubeconfig=_kubeconfig(tmp_path / "kc", url, token="wrong")), capsys, url, *fragments)
        if deny == 401:  # the bearer-token credential (AWX) names its variables
            _fails(dict(host=url, api_key="wrong"), capsys, "401", "K8S_AUTH_API_KEY")
    finally:
        server.shutdown()


def test_connection_refused(clean_env, tmp_path, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = "http://127.0.0.1:%d" % port
    _fails(dict(kubeconfig=_kubeconfig(tmp_path / "kc", url)), capsys, "connection refused", url,
           "portkey_kubeconfig")


def _self_signed(tmp_path):
    """A self-signed certificate and key (crt, key in tmp_path), made in this process (no openssl run)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "x")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))


def test_untrusted_tls_certificate(clean_env, tmp_path, capsys):
    _self_signed(tmp_path)
    server, url = _serve(tls_dir=str(tmp_path))
    try:
        _fails(dict(kubeconfig=_kubeconfig(tmp_path / "kc", url)), capsys, "TLS", "certificate verify failed", "certificate-authority",
               "K8S_AUTH_SSL_CA_CERT", "portkey_kubeconfig")
    finally:
        server.shutdown()


def test_missing_kubeconfig(clean_env, tmp_path, capsys):
    missing = str(tmp_path / "nope" / "kubeconfig")
    _fails(dict(kubeconfig=missing), capsys, missing, "does not exist", "portkey_kubeconfig")


def test_unknown_context(clean_env, tmp_path, capsys):
    path = _kubeconfig(tmp_path / "kc", "http://127.0.0.1:1", context="lab")
    _fails(dict(kubeconfig=path, context="prod"), capsys, "'prod'", "portkey_kube_context", "lab")
