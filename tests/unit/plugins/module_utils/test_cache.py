# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cache_check logic against real redis-server processes (plain and TLS) on 127.0.0.1."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import socket
import subprocess
import time

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _cache

PASSWORD = "unit-" + os.urandom(6).hex()

needs_redis = pytest.mark.skipif(not shutil.which("redis-server") or not shutil.which("openssl"),
                                 reason="redis-server/openssl not installed")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait_port(port, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("redis did not start on %s" % port)


@pytest.fixture(scope="module")
def redis_servers(tmp_path_factory):
    d = tmp_path_factory.mktemp("redis")
    crt, key = str(d / "r.crt"), str(d / "r.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    tls_port, plain_port, open_port = _free_port(), _free_port(), _free_port()
    procs = [
        subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(tls_port), "--bind", "127.0.0.1",
                          "--tls-cert-file", crt, "--tls-key-file", key, "--tls-ca-cert-file", crt,
                          "--tls-auth-clients", "no", "--requirepass", PASSWORD, "--save", "", "--dir", str(d)],
                         stdout=subprocess.DEVNULL),
        subprocess.Popen(["redis-server", "--port", str(plain_port), "--bind", "127.0.0.1", "--requirepass", PASSWORD,
                          "--save", "", "--dir", str(d)], stdout=subprocess.DEVNULL),
        subprocess.Popen(["redis-server", "--port", str(open_port), "--bind", "127.0.0.1", "--save", "",
                          "--dir", str(d)], stdout=subprocess.DEVNULL),
    ]
    try:
        for p in (tls_port, plain_port, open_port):
            _wait_port(p)
        yield dict(tls=tls_port, plain=plain_port, open=open_port, ca=crt)
    finally:
        for p in procs:
            p.terminate()
            p.wait(5)


@pytest.mark.parametrize("url, expected", [
    ("redis://h:6380", dict(scheme="redis", host="h", port=6380, username=None, password=None)),
    ("rediss://:p%40ss@h", dict(scheme="rediss", host="h", port=6379, username=None, password="p@ss")),
    ("redis://u:pw@h:1/0", dict(scheme="redis", host="h", port=1, username="u", password="pw")),
    ("h:7000", dict(scheme="redis", host="h", port=7000, username=None, password=None)),
])
def test_parse_redis_url(url, expected):
    assert _cache.parse_redis_url(url) == expected


@pytest.mark.parametrize("url", ["", "http://h:1", "redis://:6379", "redis://h:notaport"])
def test_parse_redis_url_errors(url):
    with pytest.raises(_cache.CacheError) as exc:
        _cache.parse_redis_url(url)
    assert "REDIS_URL" in str(exc.value)


def test_secrets_of_lists_password_and_url():
    s = _cache.secrets_of("redis://u:pw123@h:1")
    assert "pw123" in s and "u:pw123" in s and "redis://u:pw123@h:1" in s


@pytest.mark.parametrize("value, expected", [("true", True), ("True", True), (True, True), ("false", False),
                                             (False, False), ("", False)])
def test_truthy(value, expected):
    assert _cache.truthy(value) is expected


def test_in_cluster_redis_is_skipped():
    out = _cache.check_cache("redis", None)
    assert out["checked"] is False and "nothing to check" in out["reason"]


def test_external_store_needs_url():
    with pytest.raises(_cache.CacheError, match="portkey_environment.REDIS_URL"):
        _cache.check_cache("aws-elastic-cache", "")


@needs_redis
def test_tls_ok(redis_servers):
    url = "redis://:%s@127.0.0.1:%d" % (PASSWORD, redis_servers["tls"])
    out = _cache.check_cache("aws-elastic-cache", url, tls_enabled="true", ca_file=redis_servers["ca"])
    assert out["checked"] and out["tls"] and out["response"] == "PONG"


@needs_redis
def test_tls_server_with_tls_off_says_so(redis_servers):
    url = "redis://:%s@127.0.0.1:%d" % (PASSWORD, redis_servers["tls"])
    with pytest.raises(_cache.CacheError) as exc:
        _cache.check_cache("aws-elastic-cache", url, tls_enabled="false")
    assert str(exc.value) == _cache.TLS_ON_MSG
    assert PASSWORD not in str(exc.value)


@needs_redis
def test_plain_server_with_tls_on_says_so(redis_servers):
    url = "redis://:%s@127.0.0.1:%d" % (PASSWORD, redis_servers["plain"])
    with pytest.raises(_cache.CacheError) as exc:
        _cache.check_cache("aws-elastic-cache", url, tls_enabled="true", ca_file=redis_servers["ca"], timeout=2)
    assert str(exc.value) == _cache.TLS_OFF_MSG


@needs_redis
def test_untrusted_certificate(redis_servers):
    url = "redis://:%s@127.0.0.1:%d" % (PASSWORD, redis_servers["tls"])
    with pytest.raises(_cache.CacheError, match="ca_file"):
        _cache.check_cache("aws-elastic-cache", url, tls_enabled=True)


@needs_redis
def test_wrong_password_and_missing_password(redis_servers):
    port = redis_servers["plain"]
    with pytest.raises(_cache.CacheError, match="authentication failed") as exc:
        _cache.check_cache("aws-elastic-cache", "redis://:nope-%s@127.0.0.1:%d" % ("x", port))
    assert "nope" not in str(exc.value)
    with pytest.raises(_cache.CacheError, match="requires a password"):
        _cache.check_cache("aws-elastic-cache", "redis://127.0.0.1:%d" % port)
    out = _cache.check_cache("aws-elastic-cache", "redis://127.0.0.1:%d" % port, password=PASSWORD)
    assert out["response"] == "PONG"


@needs_redis
def test_no_auth_server(redis_servers):
    out = _cache.check_cache("aws-elastic-cache", "127.0.0.1:%d" % redis_servers["open"])
    assert out["response"] == "PONG" and out["tls"] is False


def test_connection_refused():
    port = _free_port()
    with pytest.raises(_cache.CacheError, match="cannot connect.*Redis is down or portkey_environment.REDIS_URL"):
        _cache.check_cache("aws-elastic-cache", "redis://127.0.0.1:%d" % port, timeout=1)


def test_no_store_and_no_url_is_skipped():
    out = _cache.check_cache(None, None)
    assert out["checked"] is False and "no REDIS_URL" in out["reason"]
