# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._chart import chart_defaults, write_selected
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redact_url
from ansible_collections.portkey_ai.gateway.plugins.module_utils._inputs import (
    SECTIONS,
    check_inputs,
    steps,
    duration_seconds,
    known_regions,
)

GOOD = {
    "portkey_release_name": "pk-good",
    "portkey_chart_git_ref": "v1.0.8",
    "portkey_namespace": "portkeyai",
    "portkey_client_auth": "ck-0123456789abcdef0123",
    "portkey_organisations_to_sync": "org-1",
    "portkey_image_pull_secret": "regcred",
    "portkey_helm_timeout": "5m",
    "portkey_aws_region": "us-east-1",
    "portkey_network_policy": {"enabled": True, "mode": "restricted", "https_cidrs": ["0.0.0.0/0"],
                               "redis_cidrs": ["10.0.0.0/16"]},
    "portkey_lb_security_group": {"enabled": True, "cidrs": ["44.221.117.129/32"]},
    "portkey_vpc_peering": {"enabled": True, "vpc_id": "vpc-0a1b2c3d4e5f60718", "peer_vpc_id": "vpc-0a1b2c3d",
                            "peer_cidr": "10.99.0.0/16", "peer_owner_id": "123456789012", "peer_region": "us-west-2"},
    "portkey_log_store_aws": {"enabled": True, "mode": "s3", "bucket": "pk-logs"},
    "portkey_environment": {"LOG_STORE": "s3", "LOG_STORE_REGION": "us-east-1", "LOG_STORE_GENERATIONS_BUCKET": "pk-logs",
                            "LOG_STORE_ACCESS_KEY": "a", "LOG_STORE_SECRET_KEY": "s"},
}
CHART_17 = {"chart_name": "gateway", "chart_version": "1.7.7",
            "defaults": {"autoscaling": {"minReplicas": 2, "maxReplicas": 20}}}


def errors(chart="1.7", facts=None, **changes):
    chart = CHART_17 if chart == "1.7" else chart
    variables = dict(GOOD)
    for key, value in changes.items():
        if value is None:
            variables.pop(key, None)
        else:
            variables[key] = value
    return check_inputs(variables, chart=chart, facts=facts).errors


def test_good_inputs_pass():
    assert errors() == []


@pytest.mark.parametrize("changes, variable", [
    ({"portkey_namespace": "a" * 64}, "portkey_namespace: "),
    ({"portkey_namespace": "team.portkey"}, "portkey_namespace: "),
    ({"portkey_release_name": "r" * 54}, "portkey_release_name: "),
    ({"portkey_helm_timeout": "5 minutes"}, "portkey_helm_timeout: "),
    ({"portkey_helm_timeout": "0s"}, "portkey_helm_timeout: "),
    ({"portkey_aws_region": "us-east-7"}, "portkey_aws_region: "),
    ({"portkey_network_policy": {"mode": "restricted", "redis_cidrs": ["10.0.0.300/16"]}},
     "portkey_network_policy.redis_cidrs: "),
    ({"portkey_lb_security_group": {"enabled": True, "cidrs": ["300.1.1.1/32"]}}, "portkey_lb_security_group.cidrs: "),
    ({"portkey_lb_security_group": {"enabled": True, "cidrs": ["0.0.0.0/00"]}}, "portkey_lb_security_group.cidrs: "),
    ({"portkey_lb_security_group": {"enabled": True, "cidrs": ["::/0"]}}, "portkey_lb_security_group.cidrs: "),
    ({"portkey_lb_security_group": {"enabled": True, "cidrs": "10.0.0.0/8"}}, "portkey_lb_security_group.cidrs: "),
    ({"portkey_vpc_peering": dict(GOOD["portkey_vpc_peering"], vpc_id="vpc-123")}, "portkey_vpc_peering.vpc_id: "),
    ({"portkey_vpc_peering": dict(GOOD["portkey_vpc_peering"], peer_owner_id="12345")},
     "portkey_vpc_peering.peer_owner_id: "),
    ({"portkey_vpc_peering": dict(GOOD["portkey_vpc_peering"], peer_region="eu-middle-9")},
     "portkey_vpc_peering.peer_region: "),
    ({"portkey_vpc_peering": dict(GOOD["portkey_vpc_peering"], vpc_cidr="10.99.128.0/17")},
     "portkey_vpc_peering.peer_cidr: 10.99.0.0/16 overlaps"),
    ({"portkey_log_store_aws": {"enabled": True, "mode": "s3", "bucket": "192.168.1.1"}},
     "portkey_log_store_aws.bucket: "),
    ({"portkey_log_store_aws": {"enabled": True, "mode": "s3_assume", "bucket": "pk-logs"}},
     "portkey_log_store_aws.oidc_provider_arn: "),
    ({"portkey_autoscaling": {"enabled": True, "min_replicas": 25}}, "portkey_autoscaling.min_replicas: "),
    ({"portkey_chart_generation": "1.0"}, "portkey_chart_generation: 1.0 is forced"),
    ({"portkey_kubeconfig": "/nonexistent/kubeconfig"}, "portkey_kubeconfig: "),
    ({"portkey_helm_history_max": "ten"}, "portkey_helm_history_max: "),
])
def test_each_bad_input_names_its_variable(changes, variable):
    found = errors(**changes)
    assert any(e.startswith(variable) for e in found), found


def test_every_error_at_once():
    found = errors(portkey_namespace="Bad_NS", portkey_helm_timeout="soon", portkey_replicas="two",
                   portkey_lb_security_group={"enabled": True, "cidrs": ["office"]})
    assert sorted(e.split(":")[0] for e in found) == ["portkey_helm_timeout", "portkey_lb_security_group.cidrs",
                                                      "portkey_namespace", "portkey_replicas"]


def test_peering_of_another_account_cannot_be_accepted():
    peering = dict(GOOD["portkey_vpc_peering"], accept=True)
    assert errors(portkey_vpc_peering=peering, facts={"account_id": "123456789012"}) == []
    found = errors(portkey_vpc_peering=peering, facts={"account_id": "210987654321"})
    assert found and found[0].startswith("portkey_vpc_peering.accept: ")


def test_peer_cidr_overlap_with_the_looked_up_vpc():
    found = errors(facts={"vpc_cidrs": ["10.0.0.0/8"]})
    assert found == ["portkey_vpc_peering.peer_cidr: 10.99.0.0/16 overlaps the cluster VPC's CIDR 10.0.0.0/8; AWS "
                     "cannot route between overlapping VPCs: use the peer VPC's own, distinct CIDR"]


def test_kube_context_must_be_in_the_kubeconfig(tmp_path):
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\ncontexts:\n- name: lab\n  context: {cluster: lab}\n")
    assert errors(portkey_kubeconfig=str(config), portkey_kube_context="lab") == []
    found = errors(portkey_kubeconfig=str(config), portkey_kube_context="prod")
    assert found == ["portkey_kube_context: 'prod' is not a context of %s (contexts: lab); set one of them or leave "
                     "it unset for the current-context" % config]


def test_only_selects_sections_and_unknown_keys_only_warn():
    report = check_inputs({"portkey_namespace": "Bad", "portkey_network_policy": {"mode": "allow_all", "x": 1}},
                          only=["network_policy"])
    assert report.errors == [] and report.warnings and "portkey_network_policy.x" in report.warnings[0]
    with pytest.raises(Exception, match="unknown input section"):
        check_inputs({}, only=["nothing"])
    # no section at all (render.yml / uninstall.yml: the step flags only): nothing is checked
    assert check_inputs({"portkey_namespace": "Bad", "portkey_helm_timeout": "soon"}, only=[]).errors == []
    assert check_inputs({"portkey_namespace": "Bad"}).errors
    assert set(SECTIONS) == {"chart", "helm", "cluster", "aws", "values", "network_policy", "lb_security_group",
                             "vpc_peering", "log_store", "cache", "rollout"}


def test_durations_and_regions():
    assert duration_seconds("5m") == 300 and duration_seconds("300s") == 300 and duration_seconds("1h30m") == 5400
    assert duration_seconds("5") is None and duration_seconds(True) is None
    regions = known_regions()
    assert {"us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1"} <= regions


def test_url_credentials_are_redacted_in_messages_and_never_written(tmp_path):
    url = "https://x-access-token:ghp_SECRET123@github.example/org/chart.git"
    assert redact_url("cannot clone %s: denied" % url) == \
        "cannot clone https://***@github.example/org/chart.git: denied"
    write_selected(str(tmp_path), {"commit": "abc", "url": url})
    assert "ghp_SECRET123" not in (tmp_path / "selected.json").read_text()
    assert json.loads((tmp_path / "selected.json").read_text())["url"] == "https://***@github.example/org/chart.git"
    found = errors(portkey_environment={"REDIS_URL": "redis://user:pw-SECRET@cache:6379", "CACHE_STORE": "nope"})
    assert found and not any("pw-SECRET" in e for e in found)


def test_chart_defaults(tmp_path):
    (tmp_path / "values.yaml").write_text("autoscaling:\n  enabled: false\n  minReplicas: 2\n  maxReplicas: 20\n")
    assert chart_defaults(str(tmp_path)) == {"autoscaling": {"minReplicas": 2, "maxReplicas": 20}}
    assert chart_defaults(str(tmp_path / "missing")) == {}


def test_without_a_chart_only_errors_of_both_generations_are_reported():
    # service.port 9000 is an error for chart 1.0.x only: it waits for the chart; a bad namespace does not
    assert errors(chart=None, portkey_service={"port": 9000}) == []
    chart_10 = {"chart_name": "gateway", "chart_version": "1.0.8"}
    assert any(e.startswith("portkey_service.port: ") for e in errors(chart=chart_10, portkey_service={"port": 9000}))
    assert [e.split(":")[0] for e in errors(chart=None, portkey_namespace="a.b")] == ["portkey_namespace"]
    assert any(e.startswith("portkey_chart_generation: ")
               for e in errors(chart=None, portkey_chart_generation="2.0"))


def test_step_flags_are_defined_once():
    assert steps({}) == {"log_store": False, "mongodb_access": False, "network_policy": True,
                         "lb_security_group": False, "private_link": False, "vpc_peering": False,
                         "aws_identity": False}
    assert steps({"portkey_private_link": {"enabled": True}})["aws_identity"] is True
    assert steps({"portkey_network_policy": {"enabled": "no"}, "portkey_log_store_aws": {"enabled": "yes"},
                  "portkey_environment": {"LOG_STORE": "s3_assume"}})["aws_identity"] is True
    assert steps({"portkey_log_store_aws": {"enabled": True, "mode": "s3"}})["aws_identity"] is False
    assert steps({"portkey_vpc_peering": {"enabled": True}})["aws_identity"] is True


@pytest.mark.parametrize("changes, variable", [
    ({"portkey_chart_source": "svn"}, "portkey_chart_source: "),
    ({"portkey_chart_source": "repo"}, "portkey_chart_version: "),
    ({"portkey_chart_source": "path"}, "portkey_chart_local_path: "),
    ({"portkey_chart_git_url": ""}, "portkey_chart_git_url: "),
])
def test_chart_source_settings(changes, variable):
    variables = dict(GOOD, **changes)
    found = check_inputs(variables, only=["chart"]).errors
    assert len(found) == 1 and found[0].startswith(variable), found


def test_log_store_bucket_given_twice_must_agree_and_policy_name_is_checked():
    variables = {"portkey_log_store_aws": {"enabled": True, "mode": "s3", "bucket": "pk-logs", "policy_name": "bad name"},
                 "portkey_environment": {"LOG_STORE": "s3", "LOG_STORE_GENERATIONS_BUCKET": "other-logs"}}
    errors = check_inputs(variables, only=["log_store"]).errors
    assert any(e.startswith("portkey_log_store_aws.bucket: ") and "LOG_STORE_GENERATIONS_BUCKET" in e for e in errors)
    assert any(e.startswith("portkey_log_store_aws.policy_name: ") for e in errors)
    # no bucket at all: the log_store role's per-cluster default applies (its plan checks the computed name)
    assert not check_inputs({"portkey_log_store_aws": {"enabled": True, "mode": "s3"}}, only=["log_store"]).errors


def test_the_gateway_bucket_comes_from_the_log_store_when_not_set():
    variables = {"portkey_log_store_aws": {"enabled": True, "mode": "s3_assume",
                                           "oidc_issuer_url": "https://oidc.eks.us-east-1.amazonaws.com/id/X"},
                 "portkey_environment": {"LOG_STORE": "s3_assume", "LOG_STORE_REGION": "us-east-1"}}
    assert not [e for e in check_inputs(variables, only=["values"]).errors if "LOG_STORE_GENERATIONS_BUCKET" in e]
    variables["portkey_log_store_aws"]["enabled"] = False
    assert [e for e in check_inputs(variables, only=["values"]).errors if "LOG_STORE_GENERATIONS_BUCKET" in e]


@pytest.mark.parametrize("value, ok", [
    (0, True), (100, True), ("25", True), (12.5, True), (-1, False), (101, False), ("half", False), (True, False),
    ([], False),
])
def test_max_fail_percentage(value, ok):
    found = check_inputs({"portkey_max_fail_percentage": value}, only=["rollout"]).errors
    assert (found == []) is ok, found
    if not ok:
        assert found[0].startswith("portkey_max_fail_percentage: ") and "from 0" in found[0]
