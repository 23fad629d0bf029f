# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vpc_endpoint_service main() against moto in-process, with the Kubernetes read faked."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")


from ansible_collections.portkey_ai.gateway.plugins.modules import vpc_endpoint_service  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from module_runner import moto_vpc, run_module  # noqa: E402

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    with moto_vpc(monkeypatch, REGION) as (ec2, elbv2, _vpc, subnets):
        lbs = dict((name, elbv2.create_load_balancer(Name=name, Subnets=subnets, Type=kind, Scheme=scheme)
                    ["LoadBalancers"][0])
                   for name, kind, scheme in (("internal", "network", "internal"),
                                              ("public", "network", "internet-facing"),
                                              ("alb", "application", "internal")))
        yield dict(ec2=ec2, lbs=lbs)


def fake_service(monkeypatch, hostname):
    svc = dict(spec=dict(type="LoadBalancer", ports=[dict(port=8787)]),
               status=dict(loadBalancer=dict(ingress=[dict(hostname=hostname)])))
    monkeypatch.setattr(vpc_endpoint_service, "HAS_K8S", True)
    monkeypatch.setattr(vpc_endpoint_service, "service_reader", lambda *args: (lambda: svc))


def run(args, capsys, check=False, diff=False):
    return run_module(vpc_endpoint_service, dict(dict(owner="ns/rel", region=REGION), **args), capsys, check=check,
                      diff=diff)[1]


def test_converge_check_rerun_and_absent(aws, monkeypatch, capsys):
    fake_service(monkeypatch, aws["lbs"]["internal"]["DNSName"])
    args = dict(service_name="gw", wait_timeout=1, wait_interval=1)
    out = run(args, capsys, check=True, diff=True)
    assert out["changed"] and out["created"] and out["service_id"] is None
    assert aws["ec2"].describe_vpc_endpoint_service_configurations()["ServiceConfigurations"] == []
    out = run(args, capsys)
    assert out["changed"] and out["allowed_principals"] == ["arn:aws:iam::299329113195:root"] and out["port"] == 8787
    assert out["connections"] is None  # moto: no DescribeVpcEndpointConnections, a warning instead
    assert run(args, capsys)["changed"] is False
    out = run(dict(state="absent"), capsys)
    assert out["removed"] == [out["removed"][0]] and out["changed"]
    assert run(dict(state="absent"), capsys)["changed"] is False


@pytest.mark.parametrize("lb, match", [("public", "portkey_load_balancer.scheme"),
                                       ("alb", "needs a network load balancer")])
def test_wrong_load_balancer_is_refused_before_any_write(aws, monkeypatch, capsys, lb, match):
    fake_service(monkeypatch, aws["lbs"][lb]["DNSName"])
    out = run(dict(service_name="gw", wait_timeout=1, wait_interval=1), capsys)
    assert out["failed"] and match in out["msg"], out["msg"]
    assert aws["ec2"].describe_vpc_endpoint_service_configurations()["ServiceConfigurations"] == []


def test_bad_principal_names_the_variable(aws, monkeypatch, capsys):
    fake_service(monkeypatch, aws["lbs"]["internal"]["DNSName"])
    out = run(dict(service_name="gw", allowed_principals=["299329113195"]), capsys)
    assert out["failed"] and "portkey_private_link.allowed_principals" in out["msg"]
