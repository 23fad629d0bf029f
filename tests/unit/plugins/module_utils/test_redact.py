# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import (
    decode_secret_value,
    is_secret_env_key,
    redact_docs,
    redact_url,
    redact_values,
    redact_url_error,
    redacted_view,
    redacted_yaml_text,
    redact,
    redaction_marker,
    secret_paths,
    secret_values_of,
    url_credentials,
    values_secret_values,
)


def marker(secret):
    return "<redacted sha256:%s>" % hashlib.sha256(secret.encode()).hexdigest()[:8]


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


@pytest.mark.parametrize("text, shown", [
    ("cannot clone https://x-access-token:tok@github.com/o/r.git: fatal",
     "cannot clone https://***@github.com/o/r.git: fatal"),
    ("pull from https://user:p%40ss@charts.example/helm failed", "pull from https://***@charts.example/helm failed"),
    ("git+ssh://git@host/repo and oci://u:p@reg/x", "git+ssh://***@host/repo and oci://***@reg/x"),
    ("no credentials: https://github.com/o/r", "no credentials: https://github.com/o/r"),
])
def test_redact_url_hides_userinfo_of_every_url(text, shown):
    assert redact_url(text) == shown


def test_redact_url_error_keeps_details():
    exc = redact_url_error(PortkeyError("cannot pull https://u:tok@h/x", errors=["at https://u:tok@h/y"], rc=1))
    assert (exc.msg, exc.errors, exc.details) == ("cannot pull https://***@h/x", ["at https://***@h/y"], {"rc": 1})


def test_redact_docs_marks_every_secret_value_by_its_decoded_text():
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"K": base64.b64encode(b"v1").decode()},
              "stringData": {"S": "v2"}}
    cm = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"url": "redis://:v3@r"}}
    out = redact_docs([secret, cm], {"v3"})
    assert out[0]["data"] == {"K": redaction_marker("v1")} and out[0]["stringData"] == {"S": redaction_marker("v2")}
    assert out[1]["data"]["url"] == "redis://:%s@r" % redaction_marker("v3")
    assert secret["stringData"] == {"S": "v2"}  # input untouched


def test_redacted_view_of_a_secret():
    secret = {"metadata": {"name": "s"}, "data": {"b": base64.b64encode(b"x").decode(), "a": "not base64!"}}
    assert redacted_view(secret) == {"name": "s", "type": "Opaque",
                                     "data": {"a": redaction_marker("not base64!"), "b": redaction_marker("x")}}
    assert redacted_view(None) == {}
    assert decode_secret_value("not base64!") == "not base64!"


def test_redacted_yaml_text_finds_the_files_own_secrets():
    text = "environment:\n  data:\n    PORTKEY_CLIENT_AUTH: old-key-123\n    X: plain\n"
    shown = redacted_yaml_text(text, {"new-key"})
    assert "old-key-123" not in shown and redaction_marker("old-key-123") in shown and "plain" in shown
    assert redacted_yaml_text(None, set()) == ""
    assert "not valid YAML" in redacted_yaml_text("a: [", set())


def test_redact_values_by_path_and_value():
    values = {"environment": {"data": {"PORTKEY_CLIENT_AUTH": "old-secret", "LOG": "x new-secret y"}},
              "imageCredentials": [{"password": "pw-old"}]}
    out = redact_values(values, {"new-secret"}, ["environment.data.PORTKEY_CLIENT_AUTH",
                                                 "imageCredentials[0].password"])
    assert out["environment"]["data"]["PORTKEY_CLIENT_AUTH"] == redaction_marker("old-secret")
    assert out["environment"]["data"]["LOG"] == "x %s y" % redaction_marker("new-secret")
    assert out["imageCredentials"][0]["password"] == redaction_marker("pw-old")
    assert values["imageCredentials"][0]["password"] == "pw-old"  # input untouched
