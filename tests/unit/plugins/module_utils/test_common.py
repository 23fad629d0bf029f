# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import stat

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _common
from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import (
    PortkeyError,
    check_private_parent,
    is_secret_env_key,
    redact,
    redaction_marker,
    secret_paths,
    secret_values_of,
    url_credentials,
    values_secret_values,
    write_private_file,
)


def marker(secret):
    return "<redacted sha256:%s>" % hashlib.sha256(secret.encode()).hexdigest()[:8]


def test_portkey_error_lists_every_error_and_keeps_details():
    exc = PortkeyError("2 problems", errors=["a: x", "b: y"], dest="/x")
    assert exc.errors == ["a: x", "b: y"]
    assert exc.details == {"dest": "/x"}
    assert str(exc) == "2 problems\n- a: x\n- b: y"
    assert str(PortkeyError("plain")) == "plain"


@pytest.mark.parametrize("key, secret", [
    ("PORTKEY_CLIENT_AUTH", True),
    ("LOG_STORE_ACCESS_KEY", True),
    ("LOG_STORE_SECRET_KEY", True),
    ("MONGO_DB_CONNECTION_URL", True),
    ("ANALYTICS_STORE_PASSWORD", True),
    ("REDIS_PASSWORD", True),
    ("AZURE_STORAGE_KEY", True),
    ("AZURE_ENTRA_CLIENT_SECRET", True),
    ("AWS_ASSUME_ROLE_SECRET_ACCESS_KEY", True),
    ("AWS_ASSUME_ROLE_ACCESS_KEY_ID", True),
    ("OTEL_EXPORTER_OTLP_HEADERS", True),
    ("REDIS_CLUSTER_DISCOVERY_AUTH", True),
    ("MY_API_TOKEN", True),
    ("AUTHORIZATION", True),
    ("some_password", True),
    ("LOG_STORE_REGION", False),
    ("AZURE_AUTH_MODE", False),
    ("REDIS_URL", False),
    ("PROMETHEUS_API_KEY_NAME_LABEL", False),
    ("ORGANISATIONS_TO_SYNC", False),
])
def test_secret_env_keys(key, secret):
    assert is_secret_env_key(key) is secret


@pytest.mark.parametrize("url, expected", [
    ("redis://redis:6379", set()),
    ("rediss://:s3cret@cache:6379", {"s3cret"}),
    ("rediss://default:p%40ss@cache:6379/0", {"p%40ss", "p@ss"}),
    ("https://TOKEN123@host/path", {"TOKEN123"}),
    ("mongodb://user:pw@a,b/db?tls=true", {"pw"}),
    ("not a url @ all", set()),
    (42, set()),
])
def test_url_credentials(url, expected):
    assert url_credentials(url) == expected


def test_redaction_marker_is_a_32_bit_sha256_prefix():
    assert redaction_marker("hunter2-but-longer") == marker("hunter2-but-longer")
    assert len(redaction_marker("x").split(":")[1].rstrip(">")) == 8


def test_redact_replaces_secrets_everywhere_including_base64_and_urls():
    secret = "ck-live-0123456789abcdef"
    b64 = base64.b64encode(secret.encode()).decode()
    doc = {
        "plain": secret,
        "inside": "Bearer %s; more" % secret,
        "url": "rediss://:%s@cache:6379" % secret,
        "b64": b64,
        "b64_unpadded_inside": "data=%s..." % b64.rstrip("="),
        "list": [secret, 1, None, True],
        secret: "as a key",
        "untouched": "nothing here",
    }
    out = redact(doc, {secret})
    text = repr(out)
    assert secret not in text and b64.rstrip("=") not in text
    assert out["plain"] == marker(secret)
    assert out["inside"] == "Bearer %s; more" % marker(secret)
    assert out["url"] == "rediss://:%s@cache:6379" % marker(secret)
    assert out["b64"] == marker(secret)
    assert out["list"] == [marker(secret), 1, None, True]
    assert out[marker(secret)] == "as a key"
    assert out["untouched"] == "nothing here"
    assert doc["plain"] == secret  # the input is not modified


def test_redact_prefers_the_longest_secret_and_never_rescans_markers():
    out = redact({"a": "abc123-and-more", "b": "abc"}, {"abc", "abc123-and-more", "ed"})
    assert out == {"a": marker("abc123-and-more"), "b": marker("abc")}


def test_redact_without_secrets_is_identity():
    doc = {"a": ["b"]}
    assert redact(doc, set()) is doc
    assert redact(doc, {""}) is doc


def test_secret_values_of_inputs():
    inputs = {
        "client_auth": "ca-secret",
        "environment": {"LOG_STORE_SECRET_KEY": "sk", "REDIS_PASSWORD": 12345, "FEATURE_TOKEN": True,
                        "REDIS_URL": "rediss://:urlpw@h:6379", "LOG_STORE_REGION": "us-east-1", "EMPTY_KEY": ""},
        "image_credentials": {"username": "bob", "password": "pw", "auth": "YWJj"},
        "extra_values": {"environment": {"data": {"OTEL_EXPORTER_OTLP_HEADERS": "x-api=1"}},
                         "imageCredentials": [{"username": "u2", "password": "p2"}, "junk"]},
    }
    assert secret_values_of(inputs) == {"ca-secret", "sk", "12345", "true", "urlpw", "pw", "YWJj", "bob:pw",
                                        "x-api=1", "p2", "u2:p2"}


@pytest.mark.parametrize("inputs", [None, [], "x", {"environment": ["a"], "image_credentials": "x",
                                                    "extra_values": {"environment": "x", "imageCredentials": {}}}])
def test_secret_values_of_never_fails_on_wrong_types(inputs):
    assert secret_values_of(inputs) == set()


def test_values_secret_values_reads_a_values_document():
    doc = {"environment": {"data": {"PORTKEY_CLIENT_AUTH": "old-secret", "X": "y"}},
           "imageCredentials": [{"name": "n", "create": False}, {"username": "a", "password": "b"}]}
    assert values_secret_values(doc) == {"old-secret", "b", "a:b"}
    assert values_secret_values("nope") == set()


def test_secret_paths():
    doc = {"environment": {"data": {"A": "s1", "B": "public", "C": "rediss://:s2@h"}},
           "imageCredentials": [{"password": "s3", "username": "u"}]}
    assert secret_paths(doc, {"s1", "s2", "s3"}) == [
        "environment.data.A", "environment.data.C", "imageCredentials[0].password"]
    assert secret_paths(doc, set()) == []


def test_check_private_parent(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert check_private_parent(str(private / "values.yaml")) == []
    assert check_private_parent(str(tmp_path / "missing" / "values.yaml")) == []
    errors = check_private_parent(str(shared / "values.yaml"), "dest")
    assert len(errors) == 1 and errors[0].startswith("dest: parent directory") and "world-writable" in errors[0]
    (private / "file").write_text("x")
    assert "is not a directory" in check_private_parent(str(private / "file" / "values.yaml"))[0]


def test_check_private_parent_refuses_a_directory_as_dest(tmp_path):
    (tmp_path / "d").mkdir()
    tmp_path.chmod(0o700)
    assert "is a directory" in check_private_parent(str(tmp_path / "d"))[0]


def test_write_private_file_creates_0700_parent_and_0600_file(tmp_path):
    dest = tmp_path / "new" / "values.yaml"
    write_private_file(str(dest), "a: 1\n")
    assert dest.read_text() == "a: 1\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
    assert os.listdir(str(dest.parent)) == ["values.yaml"]


def test_write_private_file_is_atomic(tmp_path, monkeypatch):
    dest = tmp_path / "values.yaml"
    dest.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(_common.os, "replace", broken_replace)
    with pytest.raises(PortkeyError, match="cannot write"):
        write_private_file(str(dest), "new\n")
    assert dest.read_text() == "old\n"
    assert os.listdir(str(tmp_path)) == ["values.yaml"]  # the temp file is gone
