# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus / OpenTelemetry environment settings (portkey_monitoring.environment, portkey_environment)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import build_values

CLIENT_AUTH = "ck-0123456789abcdef0123"


def build(generation="1.7", **env):
    return build_values({"client_auth": CLIENT_AUTH, "organisations_to_sync": "org-1", "image_pull_secret": "regcred",
                         "generation": generation, "environment": env})


def errors(**env):
    with pytest.raises(PortkeyError) as err:
        build(**env)
    return err.value.errors


@pytest.mark.parametrize("generation", ["1.0", "1.7"])
def test_monitoring_environment_is_passed_through(generation):
    result = build(generation, OTEL_PUSH_ENABLED=True, OTEL_ENDPOINT="https://otel.example:4318/v1",
                   OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_RESOURCE_ATTRIBUTES="env=prod",
                   ENABLE_PROMETHEUS="True", PROMETHEUS_INCLUDE_MODEL_LABEL="yes", PROMETHEUS_PUSH_ENABLED=False)
    data = result.values["environment"]["data"]
    assert data["OTEL_PUSH_ENABLED"] == "true" and data["OTEL_ENDPOINT"] == "https://otel.example:4318/v1"
    assert data["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf" and data["OTEL_RESOURCE_ATTRIBUTES"] == "env=prod"
    # boolean-like values become the "true"/"false" the gateway compares against
    assert (data["ENABLE_PROMETHEUS"], data["PROMETHEUS_INCLUDE_MODEL_LABEL"], data["PROMETHEUS_PUSH_ENABLED"]) == \
        ("true", "true", "false")
    assert not [w for w in result.warnings if "not a known" in w]


def test_monitoring_settings_are_part_of_the_env_checksum():
    before = build(ENABLE_PROMETHEUS="false").env_checksum
    assert build(ENABLE_PROMETHEUS="true").env_checksum != before
    assert build(ENABLE_PROMETHEUS="no").env_checksum == before  # same rendered value, same checksum


@pytest.mark.parametrize("key", ["OTEL_PUSH_ENABLED", "ENABLE_PROMETHEUS", "PROMETHEUS_PUSH_ENABLED",
                                 "LOKI_PUSH_ENABLED", "PROMETHEUS_INCLUDE_API_KEY_NAME_LABEL"])
def test_boolean_switches(key):
    extra = {"OTEL_ENDPOINT": "http://otel:4318"} if key == "OTEL_PUSH_ENABLED" else {}
    assert errors(**dict(extra, **{key: "enabled"})) == [
        'portkey_environment.%s: expected a boolean ("true" or "false"), got \'enabled\'' % key]


@pytest.mark.parametrize("endpoint", ["otel-collector:4318", "grpc://otel:4317", "http://", "http://a b", "ftp://x"])
def test_otel_endpoint_must_be_an_http_url(endpoint):
    (error,) = errors(OTEL_ENDPOINT=endpoint)
    assert error.startswith("portkey_environment.OTEL_ENDPOINT: expected an http:// or https:// URL")


def test_otel_endpoint_with_credentials_is_never_echoed():
    (error,) = errors(OTEL_ENDPOINT="otel://user:hunter2-secret@collector")
    assert "hunter2" not in error


@pytest.mark.parametrize("endpoint", ["http://otel-collector.monitoring:4318", "https://otel.example.com/v1/traces",
                                      "http://10.0.0.1:4317", "HTTPS://Collector"])
def test_valid_otel_endpoints(endpoint):
    assert build(OTEL_ENDPOINT=endpoint).values["environment"]["data"]["OTEL_ENDPOINT"] == endpoint


def test_otel_push_without_an_endpoint_is_warned_about():
    warnings = build(OTEL_PUSH_ENABLED="true").warnings
    assert 'portkey_environment.OTEL_PUSH_ENABLED is "true" but OTEL_ENDPOINT is not set' in " ".join(warnings)
    assert not [w for w in build(OTEL_PUSH_ENABLED="true", OTEL_ENDPOINT="http://otel:4318").warnings
                if "OTEL_ENDPOINT" in w]
    assert build(OTEL_PUSH_ENABLED="false").values["environment"]["data"]["OTEL_PUSH_ENABLED"] == "false"


def test_otlp_protocol():
    (error,) = errors(OTEL_EXPORTER_OTLP_PROTOCOL="udp")
    assert "portkey_environment.OTEL_EXPORTER_OTLP_PROTOCOL: unknown OTLP protocol 'udp'" in error
    assert "grpc, http/protobuf, http/json" in error


def test_all_monitoring_errors_at_once():
    found = errors(OTEL_PUSH_ENABLED="maybe", OTEL_ENDPOINT="nope", ENABLE_PROMETHEUS="2",
                   OTEL_EXPORTER_OTLP_PROTOCOL="x")
    assert sorted(e.split(":")[0] for e in found) == sorted(
        "portkey_environment." + k for k in ("OTEL_PUSH_ENABLED", "OTEL_ENDPOINT", "ENABLE_PROMETHEUS",
                                             "OTEL_EXPORTER_OTLP_PROTOCOL"))


def test_otlp_headers_are_secret():
    result = build(OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer otel-token-0123456789")
    assert "Authorization=Bearer otel-token-0123456789" in result.secret_values
