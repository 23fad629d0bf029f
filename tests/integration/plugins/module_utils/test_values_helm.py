# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the built values through the real `helm template` with the lab charts (skipped when absent)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import subprocess

import pytest
import yaml

from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import build_values, read_chart, render_yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".."))
HELM = os.path.join(ROOT, ".venv", "bin", "helm")
CHARTS = {"1.0": os.path.join(ROOT, "lab", "charts", "legacy"), "1.7": os.path.join(ROOT, "lab", "charts", "current")}
SELECTOR_LABELS = {"app.kubernetes.io/name": "gateway", "app.kubernetes.io/instance": "portkey-ai"}


def chart_or_skip(generation):
    path = CHARTS[generation]
    if not os.path.isfile(os.path.join(path, "Chart.yaml")) or not os.access(HELM, os.X_OK):
        pytest.skip("lab chart %s or helm not available" % path)
    return path


def template(tmp_path, chart_path, values, release="portkey-ai"):
    values_file = tmp_path / "values.yaml"
    values_file.write_text(render_yaml(values))
    proc = subprocess.run([HELM, "template", release, chart_path, "-n", "portkeyai", "-f", str(values_file)],
                          capture_output=True, text=True, check=False, timeout=120,
                          env=dict(os.environ, HELM_CACHE_HOME=str(tmp_path / "cache"),
                                   HELM_CONFIG_HOME=str(tmp_path / "config"), HELM_DATA_HOME=str(tmp_path / "data")))
    assert proc.returncode == 0, proc.stderr
    return dict(((d["kind"], d["metadata"]["name"]), d) for d in yaml.safe_load_all(proc.stdout) if d)


PRODUCTION = {
    "release_name": "portkey-ai",
    "client_auth": "ck-helm-test-0123456789",
    "organisations_to_sync": ["org-1", "org-2"],
    "image_pull_secret": "portkey-registry",
    "environment": {
        "LOG_STORE": "s3_assume", "LOG_STORE_REGION": "us-east-1", "LOG_STORE_GENERATIONS_BUCKET": "logs",
        "CACHE_STORE": "aws-elastic-cache", "REDIS_URL": "rediss://cache.example:6379", "REDIS_TLS_ENABLED": True,
        "REQUEST_TIMEOUT": 30000,
    },
    "service_account": {"role_arn": "arn:aws:iam::123456789012:role/portkey"},
    "replicas": 3,
    "high_availability": {"zone_spread": True},
    "strategy": {"max_surge": 1, "max_unavailable": 0},
    "service": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-internal": True}},
    "dataservice": {"enabled": True},
}


@pytest.mark.parametrize("generation", ["1.0", "1.7"])
def test_production_inputs_render(tmp_path, generation):
    chart_path = chart_or_skip(generation)
    result = build_values(PRODUCTION, read_chart(chart_path))
    assert result.generation == generation
    objects = template(tmp_path, chart_path, result.values)

    if generation == "1.0":
        env = objects[("Secret", "portkey-ai-gateway")]["data"]
        decoded = dict((k, base64.b64decode(v).decode()) for k, v in env.items())
    else:  # the secret keys come from the collection's Secret, the rest are literal values
        assert ("Secret", "portkey-ai-gateway") not in objects
        entries = objects[("Deployment", "portkey-ai-gateway")]["spec"]["template"]["spec"]["containers"][0]["env"]
        refs = dict((e["name"], e["valueFrom"]["secretKeyRef"]) for e in entries if "valueFrom" in e)
        decoded = dict((e["name"], e["value"]) for e in entries if "value" in e)
        assert sorted(refs) == result.secrets["keys"] and "PORTKEY_CLIENT_AUTH" in refs
        assert all(ref == {"name": "portkey-ai-gateway-env", "key": key} for key, ref in refs.items())
        assert not set(result.secret_values) & set(decoded.values())
    assert decoded["REDIS_TLS_ENABLED"] == "true" and decoded["REQUEST_TIMEOUT"] == "30000"
    assert decoded["ORGANISATIONS_TO_SYNC"] == "org-1,org-2"
    assert ("ConfigMap", "portkey-ai-gateway") not in objects
    assert ("Deployment", "redis") not in objects  # external cache: no in-cluster Redis

    deployment = objects[("Deployment", "portkey-ai-gateway")]
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"]["portkey.ai/env-checksum"] == result.env_checksum
    assert "rollme" not in pod["metadata"]["annotations"]
    assert deployment["spec"]["replicas"] == 3
    spec = pod["spec"]
    assert spec["containers"][0]["ports"][0]["containerPort"] == 8787
    assert spec["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert {"name": "portkey-registry"} in spec["imagePullSecrets"]
    assert spec["serviceAccountName"] == "portkey-ai-gateway"
    if generation == "1.7":
        assert spec["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == SELECTOR_LABELS
        assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    else:
        term = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == SELECTOR_LABELS
        assert term["podAffinityTerm"]["topologyKey"] == "topology.kubernetes.io/zone"
    # the selector we spread on matches the gateway pods and not the dataservice pods
    assert all(pod["metadata"]["labels"].get(k) == v for k, v in SELECTOR_LABELS.items())
    assert "app.kubernetes.io/component" not in pod["metadata"]["labels"]

    service = objects[("Service", "portkey-ai-gateway")]["spec"]
    assert service["type"] == "LoadBalancer" and service["ports"][0]["port"] == 8787
    account = objects[("ServiceAccount", "portkey-ai-gateway")]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == PRODUCTION["service_account"]["role_arn"]


@pytest.mark.parametrize("generation", ["1.0", "1.7"])
def test_defaults_with_credentials_render_the_pull_secret(tmp_path, generation):
    chart_path = chart_or_skip(generation)
    inputs = {"client_auth": "ck-helm-test-0123456789", "organisations_to_sync": "org-1",
              "image_credentials": {"username": "portkey", "password": "dckr-pat-123"}}
    result = build_values(inputs, read_chart(chart_path))
    objects = template(tmp_path, chart_path, result.values, release="portkey-gateway")
    assert ("Deployment", "redis") in objects  # in-cluster Redis by default
    if generation == "1.7":  # the collection owns the pull Secret; the chart only names it
        assert ("Secret", "portkeyenterpriseregistrycredentials") not in objects
        spec = objects[("Deployment", "portkey-gateway")]["spec"]["template"]["spec"]
        assert spec["imagePullSecrets"] == [{"name": "portkey-gateway-registry"}]
        config = result.secrets["pull_secret"]["config"]
        assert json.loads(config)["auths"]["https://index.docker.io/v1/"]["auth"] == \
            base64.b64encode(b"portkey:dckr-pat-123").decode()
        env = dict((e["name"], e.get("value")) for e in spec["containers"][0]["env"])
        assert env["REDIS_TLS_ENABLED"] == "false" and env["ANALYTICS_STORE"] == "control_plane"
        return
    pull = objects[("Secret", "portkeyenterpriseregistrycredentials")]
    config = base64.b64decode(pull["data"][".dockerconfigjson"]).decode()
    assert "https://index.docker.io/v1/" in config
    env = objects[("Secret", "portkey-gateway")]["data"]
    assert base64.b64decode(env["REDIS_TLS_ENABLED"]).decode() == "false"
    assert base64.b64decode(env["ANALYTICS_STORE"]).decode() == "control_plane"


@pytest.mark.parametrize("generation", ["1.0", "1.7"])
@pytest.mark.parametrize("private_link", [False, True])
def test_load_balancer_annotations_render_on_the_service(tmp_path, generation, private_link):
    chart_path = chart_or_skip(generation)
    inputs = dict(PRODUCTION, service={}, load_balancer={"enabled": True, "cidrs": ["44.221.117.129/32", "10.0.0.0/8"]})
    if private_link:
        inputs = dict(inputs, load_balancer={}, private_link={"enabled": True})
    result = build_values(inputs, read_chart(chart_path))
    annotations = template(tmp_path, chart_path, result.values)[("Service", "portkey-ai-gateway")]["metadata"][
        "annotations"]
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    assert annotations[prefix + "type"] == "external" and annotations[prefix + "nlb-target-type"] == "ip"
    assert annotations[prefix + "healthcheck-path"] == "/v1/health"
    assert annotations[prefix + "healthcheck-port"] == "8787"
    if private_link:
        assert annotations[prefix + "scheme"] == "internal"
        assert "service.beta.kubernetes.io/load-balancer-source-ranges" not in annotations
    else:
        assert annotations[prefix + "scheme"] == "internet-facing"
        assert annotations["service.beta.kubernetes.io/load-balancer-source-ranges"] == "44.221.117.129/32,10.0.0.0/8"
    assert any("copies service.annotations" in w for w in result.warnings) == (generation == "1.0")
