# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import re

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import render_yaml
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redact
from ansible_collections.portkey_ai.gateway.plugins.module_utils._secrets import data_checksum
from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import (
    DEFAULT_RESOURCES,
    build_values,
    env_checksum,
    helm_fullname,
    read_chart,
)

CLIENT_AUTH = "ck-0123456789abcdef0123"
ROLE = "arn:aws:iam::123456789012:role/portkey-gateway"


def base(**overrides):
    inputs = {"client_auth": CLIENT_AUTH, "organisations_to_sync": "org-1", "image_pull_secret": "regcred"}
    inputs.update(overrides)
    return inputs


def build(generation="1.7", chart=None, **overrides):
    return build_values(base(generation=generation, **overrides), chart)


def errors_of(generation="1.7", chart=None, inputs=None, **overrides):
    with pytest.raises(PortkeyError) as exc:
        build_values(inputs if inputs is not None else base(generation=generation, **overrides), chart)
    return exc.value.errors


def at(values, path):
    for key in path.split("."):
        values = values[int(key)] if isinstance(values, list) else values[key]
    return values


S3 = {"LOG_STORE": "s3", "LOG_STORE_REGION": "us-east-1", "LOG_STORE_ACCESS_KEY": "AKIAEXAMPLE",
      "LOG_STORE_SECRET_KEY": "wJalrXUtnFEMI/K7MDENG", "LOG_STORE_GENERATIONS_BUCKET": "logs"}
MONGO = {"LOG_STORE": "mongo", "MONGO_DB_CONNECTION_URL": "mongodb://u:pw@db:27017/?tls=true",
         "MONGO_DATABASE": "portkey", "MONGO_COLLECTION_NAME": "logs"}
ELASTICACHE = {"CACHE_STORE": "aws-elastic-cache", "REDIS_URL": "rediss://cache.example:6379",
               "REDIS_TLS_ENABLED": True}
CLICKHOUSE = {"ANALYTICS_STORE": "clickhouse", "ANALYTICS_STORE_ENDPOINT": "http://ch:8123",
              "ANALYTICS_STORE_USER": "u", "ANALYTICS_STORE_PASSWORD": "chpw", "ANALYTICS_LOG_TABLE": "logs",
              "ANALYTICS_FEEDBACK_TABLE": "feedback"}


# --- good inputs: (id, generation, inputs, {path: expected}) ---------------------------------------------------
GOOD = [
    ("defaults-1.7", "1.7", {}, {
        "environment.data.ANALYTICS_STORE": "control_plane", "environment.data.CACHE_STORE": "redis",
        "environment.data.REDIS_URL": "redis://redis:6379", "environment.data.REDIS_TLS_ENABLED": "false",
        "environment.data.ORGANISATIONS_TO_SYNC": "org-1",
        "environment.secret": True, "environment.create": False, "environment.existingSecret": "portkey-gateway-env",
        "environment.secretKeys": ["PORTKEY_CLIENT_AUTH"],
        "service.type": "LoadBalancer", "service.port": 8787, "replicaCount": 1, "autoRestart": False,
        "serviceAccount.create": True, "serviceAccount.name": "portkey-gateway", "resources": DEFAULT_RESOURCES,
        "autoscaling": {"enabled": False}, "dataservice": {"enabled": False},
        "imageCredentials": [], "imagePullSecrets": [{"name": "regcred"}]}),
    ("defaults-1.0", "1.0", {}, {
        "service.port": 8787, "autoRestart": False, "serviceAccount": {"create": True},
        "imageCredentials": [{"name": "regcred", "create": False}]}),
    ("env-stringified", "1.7", {"environment": {"REDIS_TLS_ENABLED": True, "REQUEST_TIMEOUT": 30000,
                                                "OTEL_PUSH_ENABLED": False, "SERVER_MODE": ""}}, {
        "environment.data.REDIS_TLS_ENABLED": "true", "environment.data.REQUEST_TIMEOUT": "30000",
        "environment.data.OTEL_PUSH_ENABLED": "false", "environment.data.SERVER_MODE": ""}),
    ("credentials-1.0", "1.0", {"image_pull_secret": None, "image_credentials": {"username": "u", "password": "p"}}, {
        "imageCredentials": [{"name": "portkeyenterpriseregistrycredentials", "create": True, "email": "",
                              "registry": "https://index.docker.io/v1/", "username": "u", "password": "p"}]}),
    ("credentials-1.7", "1.7", {"image_pull_secret": None, "secrets": {"mode": "values"},
                                "image_credentials": {"auth": "dTpw", "name": "mine", "registry": "r.example"}}, {
        "imageCredentials": [{"name": "mine", "create": True, "email": "", "registry": "r.example", "auth": "dTpw"}],
        "imagePullSecrets": []}),
    ("mirror-needs-no-secret", "1.7", {"image_pull_secret": None,
                                       "image": {"repository": "1234.dkr.ecr.us-east-1.amazonaws.com/gw",
                                                 "tag": "1.11.4", "pull_policy": "Always"}}, {
        "imageCredentials": [], "imagePullSecrets": [],
        "images.gatewayImage": {"repository": "1234.dkr.ecr.us-east-1.amazonaws.com/gw", "tag": "1.11.4",
                                "pullPolicy": "Always"}}),
    ("log-store-s3", "1.7", {"environment": S3}, {"environment.data.LOG_STORE": "s3"}),
    ("log-store-wasabi", "1.7", {"environment": dict(S3, LOG_STORE="wasabi")}, {"environment.data.LOG_STORE": "wasabi"}),
    ("log-store-gcs", "1.7", {"environment": dict(S3, LOG_STORE="gcs")}, {"environment.data.LOG_STORE": "gcs"}),
    ("log-store-mongo", "1.7", {"environment": MONGO}, {"environment.data.MONGO_DATABASE": "portkey"}),
    ("log-store-s3-assume-role-arn", "1.7", {
        "environment": {"LOG_STORE": "s3_assume", "LOG_STORE_REGION": "eu-west-1",
                        "LOG_STORE_GENERATIONS_BUCKET": "b"},
        "service_account": {"role_arn": ROLE}}, {
        "serviceAccount.annotations": {"eks.amazonaws.com/role-arn": ROLE}}),
    ("log-store-s3-assume-annotation", "1.0", {
        "environment": {"LOG_STORE": "s3_assume", "LOG_STORE_REGION": "eu-west-1",
                        "LOG_STORE_GENERATIONS_BUCKET": "b"},
        "service_account": {"annotations": {"eks.amazonaws.com/role-arn": ROLE}}}, {
        "serviceAccount": {"create": True, "annotations": {"eks.amazonaws.com/role-arn": ROLE}}}),
    ("cache-external", "1.7", {"environment": ELASTICACHE}, {
        "environment.data.REDIS_TLS_ENABLED": "true", "environment.data.CACHE_STORE": "aws-elastic-cache"}),
    ("cache-custom-plain", "1.7", {"environment": {"CACHE_STORE": "custom", "REDIS_URL": "redis://r:6379",
                                                   "REDIS_TLS_ENABLED": "False"}}, {
        "environment.data.REDIS_TLS_ENABLED": "false"}),
    ("cache-memory", "1.7", {"environment": {"CACHE_STORE": "memory-store"}}, {
        "environment.data": {"CACHE_STORE": "memory-store", "ANALYTICS_STORE": "control_plane",
                             "ORGANISATIONS_TO_SYNC": "org-1"}}),
    ("analytics-clickhouse", "1.7", {"environment": CLICKHOUSE}, {"environment.data.ANALYTICS_STORE": "clickhouse"}),
    ("mandatory-from-environment", "1.7", {
        "client_auth": None, "organisations_to_sync": None,
        "environment": {"PORTKEY_CLIENT_AUTH": CLIENT_AUTH, "ORGANISATIONS_TO_SYNC": "o"}}, {
        "environment.secretKeys": ["PORTKEY_CLIENT_AUTH"]}),
    ("mandatory-same-in-both", "1.7", {"environment": {"PORTKEY_CLIENT_AUTH": CLIENT_AUTH},
                                       "secrets": {"mode": "values"}}, {
        "environment.data.PORTKEY_CLIENT_AUTH": CLIENT_AUTH}),
    ("organisations-list", "1.7", {"organisations_to_sync": ["a", "b"]}, {
        "environment.data.ORGANISATIONS_TO_SYNC": "a,b"}),
    ("service-1.7-port", "1.7", {"service": {"type": "ClusterIP", "port": "80", "annotations": {"x": True}}}, {
        "service": {"type": "ClusterIP", "port": 80, "annotations": {"x": "true"}}}),
    ("service-account-1.7", "1.7", {"release_name": "portkey-ai", "service_account": {"create": "false"}}, {
        "serviceAccount": {"create": False, "name": "portkey-ai-gateway"}}),
    ("service-account-name", "1.0", {"service_account": {"name": "gw", "create": True}}, {
        "serviceAccount": {"create": True, "name": "gw"}}),
    ("replicas-string", "1.7", {"replicas": "3"}, {"replicaCount": 3}),
    ("resources", "1.7", {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}, {
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}),
    ("autoscaling", "1.7", {"autoscaling": {"enabled": True, "min_replicas": 3, "max_replicas": 10,
                                            "target_cpu": 70, "target_memory": 80}}, {
        "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 10,
                        "targetCPUUtilizationPercentage": 70, "targetMemoryUtilizationPercentage": 80}}),
    ("strategy-1.7", "1.7", {"strategy": {"max_surge": "25%", "max_unavailable": 0}}, {
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}}),
    ("scheduling", "1.7", {"node_selector": {"pool": "portkey"}, "tolerations": [{"key": "k", "operator": "Exists"}],
                           "pod_labels": {"team": "ai"}, "pod_annotations": {"a": 1}}, {
        "nodeSelector": {"pool": "portkey"}, "tolerations": [{"key": "k", "operator": "Exists"}],
        "podLabels": {"team": "ai"}, "podAnnotations.a": "1"}),
    ("dataservice-1.7", "1.7", {"dataservice": {"enabled": True}}, {
        "dataservice": {"enabled": True, "deployment": {"autoRestart": False},
                        "serviceAccount": {"create": True, "name": "portkey-gateway-dataservice"}}}),
    ("dataservice-1.0", "1.0", {"dataservice": {"enabled": True}}, {
        "dataservice": {"enabled": True, "deployment": {"autoRestart": False}}}),
    ("environment-configmap-1.7", "1.7", {"environment_secret": False}, {"environment.secret": False}),
    ("extra-values-merged-last", "1.7", {"extra_values": {
        "service": {"annotations": {"a": "b"}}, "tolerations": [{"key": "x"}],
        "environment": {"data": {"LOG_STORE_BASEPATH": 5}}, "ingress": {"enabled": False}},
        "tolerations": [{"key": "replaced"}]}, {
        "service": {"type": "LoadBalancer", "port": 8787, "annotations": {"a": "b"}},
        "tolerations": [{"key": "x"}], "environment.data.LOG_STORE_BASEPATH": "5", "ingress": {"enabled": False}}),
    ("pdb-accepted", "1.7", {"high_availability": {"zone_spread": False, "pdb": True}}, {"replicaCount": 1}),
    ("pdb-min-available", "1.0", {"high_availability": {"pdb": True, "pdb_min_available": 2}}, {"replicaCount": 1}),
    ("environment-secret-1.0", "1.0", {"environment_secret": True}, {"environment.secret": True}),
]


@pytest.mark.parametrize("generation, inputs, expected", [g[1:] for g in GOOD], ids=[g[0] for g in GOOD])
def test_good_inputs(generation, inputs, expected):
    result = build(generation, **inputs)
    assert result.generation == generation
    for path, value in expected.items():
        assert at(result.values, path) == value, path


# --- bad inputs: (id, generation, inputs, [expected error prefixes]) -------------------------------------------
BAD = [
    ("client-auth-missing", "1.7", {"client_auth": None}, ["portkey_client_auth: is required"]),
    ("client-auth-empty", "1.7", {"client_auth": "  "}, ["portkey_client_auth: expected a non-empty string"]),
    ("organisations-missing", "1.7", {"organisations_to_sync": ""}, ["portkey_organisations_to_sync: expected"]),
    ("client-auth-conflict", "1.7", {"environment": {"PORTKEY_CLIENT_AUTH": "other-value"}},
     ["portkey_client_auth: differs from portkey_environment.PORTKEY_CLIENT_AUTH"]),
    ("environment-list", "1.7", {"environment": ["LOG_STORE=s3"]}, ["portkey_environment: expected a dict"]),
    ("environment-nested", "1.7", {"environment": {"LOG_STORE": {"a": 1}}},
     ["portkey_environment.LOG_STORE: expected a string, number or boolean"]),
    ("environment-bad-name", "1.7", {"environment": {"BAD-NAME": "x"}}, ["portkey_environment.BAD-NAME: "]),
    ("s3-missing", "1.7", {"environment": {"LOG_STORE": "s3", "LOG_STORE_REGION": ""}}, [
        "portkey_environment.LOG_STORE_REGION: is required with LOG_STORE s3",
        "portkey_environment.LOG_STORE_ACCESS_KEY: is required with LOG_STORE s3",
        "portkey_environment.LOG_STORE_SECRET_KEY: is required with LOG_STORE s3",
        "portkey_environment.LOG_STORE_GENERATIONS_BUCKET: is required with LOG_STORE s3"]),
    ("gcs-missing", "1.7", {"environment": dict(S3, LOG_STORE="gcs", LOG_STORE_SECRET_KEY=None)},
     ["portkey_environment.LOG_STORE_SECRET_KEY: expected a string"]),
    ("wasabi-missing", "1.7", {"environment": {"LOG_STORE": "wasabi", "LOG_STORE_REGION": "r",
                                               "LOG_STORE_ACCESS_KEY": "a", "LOG_STORE_SECRET_KEY": "s"}},
     ["portkey_environment.LOG_STORE_GENERATIONS_BUCKET: is required with LOG_STORE wasabi"]),
    ("mongo-missing", "1.7", {"environment": {"LOG_STORE": "mongo", "MONGO_DATABASE": "d"}}, [
        "portkey_environment.MONGO_DB_CONNECTION_URL: is required with LOG_STORE mongo",
        "portkey_environment.MONGO_COLLECTION_NAME: is required with LOG_STORE mongo"]),
    ("log-store-unknown", "1.7", {"environment": {"LOG_STORE": "S3"}},
     ["portkey_environment.LOG_STORE: unknown LOG_STORE 'S3'"]),
    ("s3-assume-static-keys-no-role", "1.7", {"environment": dict(S3, LOG_STORE="s3_assume")}, [
        "portkey_environment.LOG_STORE_ACCESS_KEY: must not be set with LOG_STORE s3_assume",
        "portkey_environment.LOG_STORE_SECRET_KEY: must not be set with LOG_STORE s3_assume",
        "portkey_service_account.role_arn: LOG_STORE s3_assume (IRSA) needs"]),
    ("s3-assume-missing-bucket", "1.0", {"environment": {"LOG_STORE": "s3_assume", "LOG_STORE_REGION": "r"},
                                         "service_account": {"role_arn": ROLE}},
     ["portkey_environment.LOG_STORE_GENERATIONS_BUCKET: is required with LOG_STORE s3_assume"]),
    ("s3-assume-bad-annotation", "1.7", {
        "environment": {"LOG_STORE": "s3_assume", "LOG_STORE_REGION": "r", "LOG_STORE_GENERATIONS_BUCKET": "b"},
        "service_account": {"annotations": {"eks.amazonaws.com/role-arn": "my-role"}}},
     ["portkey_service_account.annotations.eks.amazonaws.com/role-arn: 'my-role' is not an IAM role ARN"]),
    ("role-arn-invalid", "1.7", {"service_account": {"role_arn": "role/x"}},
     ["portkey_service_account.role_arn: expected an IAM role ARN"]),
    ("role-arn-conflict", "1.7", {"service_account": {
        "role_arn": ROLE, "annotations": {"eks.amazonaws.com/role-arn": ROLE + "2"}}},
     ["portkey_service_account.role_arn: differs from portkey_service_account.annotations"]),
    ("external-cache-missing", "1.7", {"environment": {"CACHE_STORE": "aws-elastic-cache"}}, [
        "portkey_environment.REDIS_URL: is required with CACHE_STORE aws-elastic-cache",
        "portkey_environment.REDIS_TLS_ENABLED: is required with CACHE_STORE aws-elastic-cache"]),
    ("azure-redis-missing", "1.7", {"environment": {"CACHE_STORE": "azure-redis", "REDIS_URL": "redis://a:1"}},
     ["portkey_environment.REDIS_TLS_ENABLED: is required with CACHE_STORE azure-redis"]),
    ("rediss-without-tls", "1.7", {"environment": dict(ELASTICACHE, REDIS_TLS_ENABLED=False)},
     ["portkey_environment.REDIS_TLS_ENABLED: is \"false\" but REDIS_URL uses rediss://"]),
    ("redis-bad-scheme", "1.7", {"environment": dict(ELASTICACHE, REDIS_URL="http://cache:6379")},
     ["portkey_environment.REDIS_URL: expected a redis:// or rediss:// URL"]),
    ("redis-tls-not-bool", "1.7", {"environment": dict(ELASTICACHE, REDIS_TLS_ENABLED="yes")},
     ["portkey_environment.REDIS_TLS_ENABLED: expected \"true\" or \"false\""]),
    ("cache-unknown", "1.7", {"environment": {"CACHE_STORE": "elasticache"}},
     ["portkey_environment.CACHE_STORE: unknown CACHE_STORE 'elasticache'"]),
    ("clickhouse-missing", "1.7", {"environment": {"ANALYTICS_STORE": "clickhouse",
                                                   "ANALYTICS_STORE_ENDPOINT": "http://ch"}}, [
        "portkey_environment.ANALYTICS_STORE_USER: is required with ANALYTICS_STORE clickhouse",
        "portkey_environment.ANALYTICS_STORE_PASSWORD: is required with ANALYTICS_STORE clickhouse",
        "portkey_environment.ANALYTICS_LOG_TABLE: is required with ANALYTICS_STORE clickhouse",
        "portkey_environment.ANALYTICS_FEEDBACK_TABLE: is required with ANALYTICS_STORE clickhouse"]),
    ("analytics-unknown", "1.7", {"environment": {"ANALYTICS_STORE": "controlplane"}},
     ["portkey_environment.ANALYTICS_STORE: unknown ANALYTICS_STORE"]),
    ("port-env-1.0", "1.0", {"environment": {"PORT": 9000}},
     ["portkey_environment.PORT: chart 1.0.x probes the hard-coded port 8787"]),
    ("port-env-invalid", "1.7", {"environment": {"PORT": "http"}}, ["portkey_environment.PORT: expected a port"]),
    ("service-port-1.0", "1.0", {"service": {"port": 80}},
     ["portkey_service.port: chart 1.0.x uses service.port as the container port"]),
    ("service-target-port", "1.7", {"service": {"targetPort": 8787}}, ["portkey_service.targetPort: the chart has no"]),
    ("extra-target-port", "1.7", {"extra_values": {"service": {"targetPort": 8787}}},
     ["portkey_extra_values.service.targetPort: the chart has no"]),
    ("extra-port-1.0", "1.0", {"extra_values": {"service": {"port": 80}}},
     ["portkey_extra_values.service.port: chart 1.0.x uses service.port"]),
    ("extra-auto-restart", "1.0", {"extra_values": {"autoRestart": True}},
     ["portkey_extra_values.autoRestart: the chart's autoRestart"]),
    ("extra-sa-name-empty", "1.7", {"extra_values": {"serviceAccount": {"name": ""}}},
     ["portkey_extra_values.serviceAccount.name: chart 1.7.x fails to render"]),
    ("extra-image-credentials-map", "1.7", {"extra_values": {"imageCredentials": {"registry": "x"}}},
     ["portkey_extra_values.imageCredentials: imageCredentials must be a list"]),
    ("extra-env-not-dict", "1.7", {"extra_values": {"environment": {"data": ["x"]}}},
     ["portkey_extra_values.environment.data: expected a dict"]),
    ("extra-env-rules", "1.7", {"extra_values": {"environment": {"data": {"LOG_STORE": "mongo"}}}},
     ["portkey_environment.MONGO_DB_CONNECTION_URL: is required with LOG_STORE mongo"]),
    ("extra-values-list", "1.7", {"extra_values": [1]}, ["portkey_extra_values: expected a dict"]),
    ("replicas-word", "1.7", {"replicas": "two"}, ["portkey_replicas: expected an integer >= 1, got 'two'"]),
    ("replicas-zero", "1.7", {"replicas": 0}, ["portkey_replicas: expected an integer >= 1"]),
    ("replicas-bool", "1.7", {"replicas": True}, ["portkey_replicas: expected an integer"]),
    ("unknown-input", "1.7", {"monitoring": {}}, ["portkey_monitoring: unknown input"]),
    ("unknown-sub-key", "1.7", {"image": {"tags": "1"}}, ["portkey_image.tags: unknown key"]),
    ("section-not-dict", "1.7", {"service": ["LoadBalancer"]}, ["portkey_service: expected a dict"]),
    ("tag-latest", "1.7", {"image": {"tag": "latest"}}, ["portkey_image.tag: image tags must be pinned"]),
    ("tag-empty", "1.7", {"image": {"tag": ""}}, ["portkey_image.tag: image tags must be pinned"]),
    ("tag-float", "1.7", {"image": {"tag": 1.1}}, ["portkey_image.tag: expected a string, got 1.1 (float); quote"]),
    ("pull-policy", "1.7", {"image": {"pull_policy": "always"}}, ["portkey_image.pull_policy: expected one of"]),
    ("no-pull-secret", "1.7", {"image_pull_secret": None}, ["portkey_image_credentials: the image"]),
    ("both-pull-secrets", "1.7", {"image_credentials": {"username": "u", "password": "p"}},
     ["portkey_image_pull_secret: set either"]),
    ("credentials-no-password", "1.0", {"image_pull_secret": None, "image_credentials": {"username": "u"}},
     ["portkey_image_credentials.password: is required"]),
    ("credentials-password-int", "1.0", {"image_pull_secret": None,
                                         "image_credentials": {"username": "u", "password": 1234}},
     ["portkey_image_credentials.password: expected a string, got a int"]),
    ("pull-secret-name", "1.7", {"image_pull_secret": "Reg_Cred"}, ["portkey_image_pull_secret: expected a Kubernetes"]),
    ("service-type", "1.7", {"service": {"type": "LB"}}, ["portkey_service.type: expected one of"]),
    ("annotations-list", "1.7", {"service": {"annotations": {"a": [1]}}}, ["portkey_service.annotations: key 'a'"]),
    ("resources-quantity", "1.7", {"resources": {"limits": {"memory": "4 GB"}}},
     ["portkey_resources.limits: memory: '4 GB' is not a Kubernetes quantity"]),
    ("autoscaling-min-max", "1.7", {"autoscaling": {"enabled": True, "min_replicas": 5, "max_replicas": 2}},
     ["portkey_autoscaling.min_replicas: minReplicas 5 is greater than portkey_autoscaling.max_replicas (2)"]),
    ("autoscaling-enabled-type", "1.7", {"autoscaling": {"enabled": "maybe"}},
     ["portkey_autoscaling.enabled: expected a boolean"]),
    ("strategy-zero", "1.7", {"strategy": {"max_surge": 0, "max_unavailable": "0%"}},
     ["portkey_strategy: max_surge and max_unavailable cannot both be 0"]),
    ("strategy-type", "1.7", {"strategy": {"max_surge": "lots"}}, ["portkey_strategy.max_surge: expected an integer"]),
    ("ha-skew", "1.7", {"high_availability": {"zone_spread": True, "max_skew": 0}},
     ["portkey_high_availability.max_skew: expected an integer >= 1"]),
    ("tolerations-dict", "1.7", {"tolerations": {"key": "x"}}, ["portkey_tolerations: expected a list of dicts"]),
    ("affinity-list", "1.7", {"affinity": []}, ["portkey_affinity: expected a dict"]),
    ("reserved-annotation", "1.7", {"pod_annotations": {"portkey.ai/env-checksum": "x"}},
     ["portkey_pod_annotations.portkey.ai/env-checksum: is set by the collection"]),
    ("reserved-label", "1.7", {"pod_labels": {"app.kubernetes.io/name": "x"}},
     ["portkey_pod_labels.app.kubernetes.io/name: is a selector label"]),
    ("configmap-1.0", "1.0", {"environment_secret": False}, ["portkey_environment_secret: chart 1.0.x renders"]),
    # the rule holds on the final, merged values: portkey_extra_values cannot turn the environment into a ConfigMap
    ("configmap-1.0-extra-values", "1.0", {"extra_values": {"environment": {"secret": False}}},
     ["portkey_extra_values.environment.secret: chart 1.0.x renders"]),
    ("configmap-1.0-extra-values-string", "1.0", {"environment_secret": True,
                                                  "extra_values": {"environment": {"secret": "false"}}},
     ["portkey_extra_values.environment.secret: chart 1.0.x renders"]),
    ("pdb-min-available-zero", "1.7", {"high_availability": {"pdb": True, "pdb_min_available": 0}},
     ["portkey_high_availability.pdb_min_available: expected an integer >= 1"]),
    ("release-name", "1.7", {"release_name": "Portkey_Gateway"}, ["portkey_release_name: expected a Helm release"]),
    ("namespace", "1.7", {"namespace": "Bad NS"}, ["portkey_namespace: expected a Kubernetes name"]),
    ("generation-auto-without-chart", "auto", {}, ["portkey_chart_generation: cannot detect the chart generation"]),
    ("generation-value", "2.0", {}, ["portkey_chart_generation: expected one of auto, 1.0, 1.7"]),
]


@pytest.mark.parametrize("generation, inputs, expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_inputs(generation, inputs, expected):
    errors = errors_of(generation, **inputs)
    for prefix in expected:
        assert any(e.startswith(prefix) for e in errors), (prefix, errors)


@pytest.mark.parametrize("generation, inputs, expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_every_error_names_an_inventory_variable_and_hides_secrets(generation, inputs, expected):
    for error in errors_of(generation, **inputs):
        assert re.match(r"^portkey_[a-z_]+[.:]", error), error
        for secret in (CLIENT_AUTH, "wJalrXUtnFEMI/K7MDENG", "1234", "other-value"):
            assert secret not in error


def test_all_errors_are_reported_together():
    errors = errors_of(inputs={
        "generation": "1.0", "client_auth": None, "replicas": "two", "service": {"port": 80, "targetPort": 1},
        "environment": {"LOG_STORE": "s3", "CACHE_STORE": "custom"}, "image": {"tag": "latest"}, "bogus": 1,
        "extra_values": {"autoRestart": True}})
    variables = [e.split(":")[0] for e in errors]
    for var in ("portkey_bogus", "portkey_client_auth", "portkey_organisations_to_sync",
                "portkey_environment.LOG_STORE_REGION", "portkey_environment.REDIS_URL", "portkey_image.tag",
                "portkey_image_credentials", "portkey_replicas", "portkey_service.targetPort",
                "portkey_service.port", "portkey_extra_values.autoRestart"):
        assert var in variables, (var, errors)
    assert len(variables) == len(set(variables))  # each problem once


def test_error_is_one_exception_with_a_summary():
    with pytest.raises(PortkeyError) as exc:
        build_values(base(generation="1.7", replicas=0, client_auth=None))
    assert str(exc.value).startswith("2 problem(s) in the gateway values inputs\n- ")
    assert len(exc.value.errors) == 2


def test_inputs_must_be_a_dict():
    with pytest.raises(PortkeyError, match="must be a dict"):
        build_values(["x"])


def test_inputs_are_not_modified():
    inputs = base(generation="1.0", environment={"REDIS_TLS_ENABLED": True}, affinity={"nodeAffinity": {}},
                  high_availability={"zone_spread": True}, replicas=2)
    snapshot = copy.deepcopy(inputs)
    build_values(inputs)
    assert inputs == snapshot


# --- warnings ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("generation, inputs, fragment", [
    ("1.7", {"environment": {"MY_FLAG": "1"}}, "portkey_environment.MY_FLAG is not a known Portkey gateway variable"),
    ("1.7", {"extra_values": {"environment": {"data": {"XYZ": "1"}}}},
     "portkey_extra_values.environment.data.XYZ is not a known"),
    ("1.0", {"strategy": {"max_surge": 1}}, "chart 1.0.x has no strategy key"),
    ("1.7", {}, "CACHE_STORE redis deploys the chart's in-cluster Redis"),
    ("1.7", {"environment": {"REDIS_URL": "redis://elsewhere:6379"}}, "points away from the in-cluster Redis"),
    ("1.7", {"environment": MONGO}, "LOG_STORE mongo is in maintenance mode"),
    ("1.7", {"environment_secret": "no"}, "goes into a ConfigMap"),
    ("1.7", {"image": {"tag": "1.11.4"}}, "portkey_image.tag 1.11.4 is older than the chart"),
    ("1.7", {"replicas": 3, "autoscaling": {"enabled": True}}, "portkey_replicas is ignored"),
    ("1.7", {"high_availability": {"zone_spread": True}}, "with a single replica spreads nothing"),
    ("1.0", {"high_availability": {"zone_spread": True, "max_skew": 2}, "replicas": 2}, "max_skew/when_unsatisfiable"),
    ("1.7", {"service_account": {"create": False, "name": "existing"}}, "ServiceAccount existing must already exist"),
])
def test_warnings(generation, inputs, fragment):
    result = build(generation, **inputs)
    assert any(fragment in w for w in result.warnings), result.warnings


def test_image_age_uses_the_chart_app_version():
    chart = {"name": "gateway", "version": "1.7.7", "app_version": "2.13.0"}
    assert not any("older than the chart" in w for w in build(chart=chart, image={"tag": "2.13.0"}).warnings)
    assert any("appVersion 2.13.0" in w for w in build(chart=chart, image={"tag": "1.11.4"}).warnings)
    legacy = {"name": "gateway", "version": "1.0.8", "app_version": "1.11.4"}
    assert not any("older than the chart" in w for w in build("1.0", chart=legacy, image={"tag": "1.11.4"}).warnings)


def test_unknown_environment_keys_are_kept():
    result = build(environment={"MY_FLAG": True, "PROMETHEUS_INCLUDE_MODEL_LABEL": "true"})
    assert result.values["environment"]["data"]["MY_FLAG"] == "true"
    assert not any("PROMETHEUS_INCLUDE_MODEL_LABEL" in w for w in result.warnings)


def test_every_environment_value_is_a_string():
    result = build(environment=dict(S3, REQUEST_TIMEOUT=1, OTEL_PUSH_ENABLED=True, AWS_IMDS_V1=1.5),
                   extra_values={"environment": {"data": {"LOG_STORE_BASEPATH": False}}})
    assert all(isinstance(v, str) for v in result.values["environment"]["data"].values())


# --- generation, names ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chart, wanted, generation, warning", [
    ({"name": "gateway", "version": "1.0.8"}, "auto", "1.0", None),
    ({"name": "gateway", "version": "1.7.7"}, "auto", "1.7", None),
    ({"name": "portkeyenterprise", "version": "0.2.1"}, "auto", "1.0", None),
    ({"name": "gateway", "version": "2.1.0"}, "auto", "1.7", "newer than the tested 1.7.x"),
    ({"name": "gateway", "version": "weird"}, "1.7", "1.7", "not a semantic version"),
])
def test_generation_from_chart(chart, wanted, generation, warning):
    result = build_values(base(generation=wanted), chart)
    assert result.generation == generation
    assert result.chart_name == chart["name"]
    if warning:
        assert any(warning in w for w in result.warnings), result.warnings


def test_forced_generation_contradicting_the_chart_is_an_error():
    errors = errors_of(generation="1.0", chart={"name": "gateway", "version": "1.7.7"})
    assert errors[0].startswith("portkey_chart_generation: 1.0 is forced, but chart gateway 1.7.7 is generation 1.7")


@pytest.mark.parametrize("scaling, defaults, expected", [
    ({"enabled": True, "min_replicas": 25}, {"minReplicas": 1, "maxReplicas": 20},
     "portkey_autoscaling.min_replicas: minReplicas 25 is greater than the chart's default maxReplicas (20)"),
    ({"enabled": True, "max_replicas": 1}, {"minReplicas": 2, "maxReplicas": 20},
     "portkey_autoscaling.max_replicas: minReplicas 2 is greater than portkey_autoscaling.max_replicas (1)"),
])
def test_autoscaling_bounds_against_the_chart_defaults(scaling, defaults, expected):
    chart = {"name": "gateway", "version": "1.7.7", "defaults": {"autoscaling": defaults}}
    assert any(e.startswith(expected) for e in errors_of(autoscaling=scaling, chart=chart))
    within = dict(scaling, max_replicas=30) if "min_replicas" in scaling else dict(scaling, min_replicas=1)
    build_values(base(autoscaling=within, generation="auto"), chart)


def test_generation_from_unparseable_chart_version_is_an_error():
    errors = errors_of(generation="auto", chart={"name": "gateway", "version": "weird"})
    assert errors[0].startswith("portkey_chart_generation: cannot detect the chart generation (chart version 'weird')")


def test_read_chart(tmp_path):
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: gateway\nversion: 1.0.8\nappVersion: 1.11.4\n")
    (tmp_path / "values.yaml").write_text("autoscaling:\n  minReplicas: 1\n  maxReplicas: 20\n")
    expected = {"name": "gateway", "version": "1.0.8", "app_version": "1.11.4",
                "defaults": {"autoscaling": {"minReplicas": 1, "maxReplicas": 20}}}
    assert read_chart(str(tmp_path)) == expected
    assert read_chart(str(tmp_path / "Chart.yaml")) == expected
    with pytest.raises(PortkeyError, match="chart_path: chart directory .* does not exist"):
        read_chart(str(tmp_path / "missing"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "Chart.yaml").write_text("just text\n")
    with pytest.raises(PortkeyError, match="chart_path: invalid chart at"):
        read_chart(str(tmp_path / "bad"))


@pytest.mark.parametrize("release, chart, name_override, fullname_override, fullname", [
    ("portkey-gateway", "gateway", "", "", "portkey-gateway"),
    ("portkey-ai", "gateway", "", "", "portkey-ai-gateway"),
    ("portkey-app", "gateway", "", "", "portkey-app-gateway"),
    ("gateway", "gateway", "", "", "gateway"),
    ("portkey-app", "portkeyenterprise", "", "", "portkey-app-portkeyenterprise"),
    ("prod", "gateway", "gw", "", "prod-gw"),
    ("prod", "gateway", "", "custom", "custom"),
    ("r" * 60, "gateway", "", "", "r" * 60 + "-ga"),
    ("r" * 62, "gateway", "", "", "r" * 62),  # truncated to 63 then the trailing "-" trimmed
])
def test_helm_fullname(release, chart, name_override, fullname_override, fullname):
    assert helm_fullname(release, chart, name_override, fullname_override) == fullname


def test_service_account_name_defaults_to_fullname_on_1_7():
    result = build_values(base(generation="auto", release_name="portkey-app"), {"name": "gateway", "version": "1.7.7"})
    assert result.values["serviceAccount"] == {"create": True, "name": "portkey-app-gateway"}
    assert result.fullname == "portkey-app-gateway"


# --- high availability -------------------------------------------------------------------------------------------
SELECTOR = {"matchLabels": {"app.kubernetes.io/name": "gateway", "app.kubernetes.io/instance": "portkey-ai"},
            "matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "DoesNotExist"}]}


def test_zone_spread_on_1_7_renders_topology_spread_constraints():
    result = build("1.7", release_name="portkey-ai", replicas=3,
                   high_availability={"zone_spread": True, "max_skew": 2, "when_unsatisfiable": "DoNotSchedule"})
    assert result.values["topologySpreadConstraints"] == [{
        "maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": SELECTOR}]
    assert "affinity" not in result.values


def test_zone_spread_on_1_0_renders_preferred_anti_affinity_merged_with_affinity():
    own_term = {"weight": 10, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {}}}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [own_term]}}
    result = build("1.0", release_name="portkey-ai", replicas=2, affinity=affinity,
                   high_availability={"zone_spread": True, "topology_key": "zone"})
    assert "topologySpreadConstraints" not in result.values
    assert result.values["affinity"]["nodeAffinity"] == affinity["nodeAffinity"]
    assert result.values["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == [
        own_term, {"weight": 100, "podAffinityTerm": {"labelSelector": SELECTOR, "topologyKey": "zone"}}]


def test_zone_spread_with_a_malformed_affinity_is_an_error():
    errors = errors_of("1.0", affinity={"podAntiAffinity": []}, high_availability={"zone_spread": True})
    assert any(e.startswith("portkey_affinity.podAntiAffinity: expected a dict") for e in errors)


def test_no_zone_spread_renders_nothing():
    values = build("1.7", high_availability={"zone_spread": False}).values
    assert "topologySpreadConstraints" not in values and "affinity" not in values


# --- checksums -----------------------------------------------------------------------------------------------------
def test_env_checksum_changes_only_with_the_environment():
    one = build(environment={"LOG_STORE_REGION": "us-east-1"})
    other_inputs = build(environment={"LOG_STORE_REGION": "us-east-1"}, replicas=4, service={"type": "ClusterIP"},
                         high_availability={"zone_spread": True}, pod_labels={"a": "b"})
    other_env = build(environment={"LOG_STORE_REGION": "eu-west-1"})
    rotated = build(environment={"LOG_STORE_REGION": "us-east-1"}, client_auth="ck-rotated-0000000000")
    assert one.env_checksum == other_inputs.env_checksum
    assert one.env_checksum != other_env.env_checksum
    # 1.7.x (owned Secret): the environment checksum covers the values, the secret checksum the Secret's content
    assert one.env_checksum == rotated.env_checksum
    secret_sum = one.values["podAnnotations"]["portkey.ai/secret-checksum"]
    assert secret_sum == data_checksum({"PORTKEY_CLIENT_AUTH": CLIENT_AUTH}) != \
        rotated.values["podAnnotations"]["portkey.ai/secret-checksum"]
    assert one.checksum != other_inputs.checksum
    assert one.values["podAnnotations"] == {"portkey.ai/env-checksum": one.env_checksum,
                                            "portkey.ai/secret-checksum": secret_sum}
    legacy = [build(environment={"LOG_STORE_REGION": "us-east-1"}, secrets={"mode": "values"}, client_auth=auth)
              for auth in (CLIENT_AUTH, "ck-rotated-0000000000")]
    assert legacy[0].env_checksum != legacy[1].env_checksum
    assert legacy[0].values["podAnnotations"] == {"portkey.ai/env-checksum": legacy[0].env_checksum}


def test_env_checksum_does_not_depend_on_key_order_or_input_types():
    assert env_checksum({"A": "1", "B": "true"}) == env_checksum({"B": "true", "A": "1"})
    assert build(environment={"REDIS_TLS_ENABLED": False, "X": 1}).env_checksum == \
        build(environment={"X": "1", "REDIS_TLS_ENABLED": "false"}).env_checksum


def test_checksum_is_sha256_of_the_canonical_yaml():
    result = build()
    assert result.checksum == hashlib.sha256(render_yaml(result.values).encode()).hexdigest()
    assert CLIENT_AUTH not in result.checksum


def test_extra_values_cannot_replace_the_env_checksum_annotation():
    result = build(extra_values={"podAnnotations": {"portkey.ai/env-checksum": "x", "keep": "me"}})
    assert result.values["podAnnotations"] == {"portkey.ai/env-checksum": result.env_checksum, "keep": "me",
                                               "portkey.ai/secret-checksum": result.secrets["checksum"]}


# --- secrets -------------------------------------------------------------------------------------------------------
def test_secret_values_and_paths():
    result = build(image_pull_secret=None, image_credentials={"username": "bot", "password": "dockerpw-123"},
                   environment=dict(S3, CACHE_STORE="custom", REDIS_URL="rediss://:redispw-9@cache:6380",
                                    REDIS_TLS_ENABLED="true"), secrets={"mode": "values"})
    assert {CLIENT_AUTH, "AKIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "dockerpw-123", "bot:dockerpw-123",
            "redispw-9"} <= result.secret_values
    assert result.secret_paths == [
        "environment.data.LOG_STORE_ACCESS_KEY", "environment.data.LOG_STORE_SECRET_KEY",
        "environment.data.PORTKEY_CLIENT_AUTH", "environment.data.REDIS_URL", "imageCredentials[0].password"]
    shown = render_yaml(redact(result.values, result.secret_values))
    for secret in result.secret_values:
        assert secret not in shown
    assert "rediss://:<redacted sha256:" in shown


# --- helpers -------------------------------------------------------------------------------------------------------
