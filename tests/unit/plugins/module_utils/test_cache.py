# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cache_check logic without a server (against real redis-server processes:
tests/integration/plugins/module_utils/test_cache_redis.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _cache


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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


def test_connection_refused():
    port = _free_port()
    with pytest.raises(_cache.CacheError, match="cannot connect.*Redis is down or portkey_environment.REDIS_URL"):
        _cache.check_cache("aws-elastic-cache", "redis://127.0.0.1:%d" % port, timeout=1)


def test_no_store_and_no_url_is_skipped():
    out = _cache.check_cache(None, None)
    assert out["checked"] is False and "no REDIS_URL" in out["reason"]
