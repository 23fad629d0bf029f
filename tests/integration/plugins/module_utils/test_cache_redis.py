# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cache_check logic against real redis-server processes (TLS, plain, no AUTH) on 127.0.0.1, started with
lab.services' Redis launcher (processes: not unit tests)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _cache
from lab import services

PASSWORD = "unit-" + os.urandom(6).hex()

needs_redis = pytest.mark.skipif(not shutil.which("redis-server") or not shutil.which("openssl"),
                                 reason="redis-server/openssl not installed")


@pytest.fixture(scope="module")
def redis_servers(tmp_path_factory):
    d = tmp_path_factory.mktemp("redis")
    with services.start_redis(d, PASSWORD, tls=True, name="tls") as tls, \
            services.start_redis(d, PASSWORD, tls=False, name="plain") as plain, \
            services.start_redis(d, None, tls=False, name="open") as open_:
        yield dict(tls=tls.port, plain=plain.port, open=open_.port, ca=str(d / "ca.crt"))


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
