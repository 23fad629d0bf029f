# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_security_group main() against moto in-process, with the Kubernetes read faked."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")


from ansible_collections.portkey_ai.gateway.plugins.modules import lb_security_group  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from module_runner import moto_vpc, run_module  # noqa: E402

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    with moto_vpc(monkeypatch, REGION) as (ec2, elbv2, vpc, subnets):
        sg = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
        alb = elbv2.create_load_balancer(Name="alb", Subnets=subnets, SecurityGroups=[sg], Type="application")
        nlb = elbv2.create_load_balancer(Name="nlb", Subnets=subnets, Type="network")
        yield dict(ec2=ec2, vpc=vpc, sg=sg, alb=alb["LoadBalancers"][0], nlb=nlb["LoadBalancers"][0])


def fake_service(monkeypatch, hostname, ports=(8787,)):
    svc = dict(spec=dict(type="LoadBalancer", ports=[dict(port=p) for p in ports]),
               status=dict(loadBalancer=dict(ingress=[dict(hostname=hostname)] if hostname else [])))
    monkeypatch.setattr(lb_security_group, "HAS_K8S", True)
    monkeypatch.setattr(lb_security_group, "service_reader", lambda *args: (lambda: svc))


def run(args, capsys, check=False, diff=False):
    return run_module(lb_security_group, args, capsys, check=check, diff=diff)[1]


def ingress(ec2, sg):
    return ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"]


def test_alb_check_then_apply_then_idempotent(aws, monkeypatch, capsys):
    fake_service(monkeypatch, aws["alb"]["DNSName"])
    args = dict(service_name="portkey-gateway", rule_description="portkey_ai.gateway:rel", region=REGION)
    out = run(args, capsys, check=True, diff=True)
    assert out["changed"] and ingress(aws["ec2"], aws["sg"]) == []
    assert out["diff"]["after"][aws["sg"]] == ["tcp/8787 from 44.221.117.129/32 (portkey_ai.gateway:rel)"]
    out = run(args, capsys)
    assert out["changed"] and out["load_balancer"]["type"] == "application"
    assert [r["source"] for r in out["rules_added"]] == ["44.221.117.129/32"]
    assert run(args, capsys)["changed"] is False


def test_nlb_without_groups_suggests_source_ranges(aws, monkeypatch, capsys):
    fake_service(monkeypatch, aws["nlb"]["DNSName"])
    out = run(dict(service_name="s", region=REGION), capsys)
    assert out["changed"] is False and out.get("failed") is not True
    assert out["source_ranges_suggestion"] == ["44.221.117.129/32"]
    assert any("loadBalancerSourceRanges" in str(w) for w in out["warnings"]), out["warnings"]


def test_world_is_refused(aws, monkeypatch, capsys):
    fake_service(monkeypatch, aws["alb"]["DNSName"])
    out = run(dict(service_name="s", sources=dict(cidrs=["0.0.0.0/0"]), region=REGION), capsys)
    assert out["failed"] and "allow_world" in out["msg"]


def test_unknown_hostname_fails(aws, monkeypatch, capsys):
    fake_service(monkeypatch, "nothing.example.com")
    out = run(dict(service_name="s", region=REGION, wait_timeout=1, wait_interval=1), capsys)
    assert out["failed"] and "nothing.example.com" in out["msg"]


def test_missing_hostname_waits_bounded(aws, monkeypatch, capsys):
    fake_service(monkeypatch, None)
    out = run(dict(service_name="s", region=REGION, wait_timeout=1, wait_interval=1), capsys)
    assert out["failed"] and "wait_timeout" in out["msg"]


def test_direct_mode_purge_and_absent_keep_foreign(aws, capsys):
    ec2, sg = aws["ec2"], aws["sg"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[dict(
        IpProtocol="tcp", FromPort=8787, ToPort=8787, IpRanges=[dict(CidrIp="192.0.2.0/24", Description="foreign")])])
    base = dict(target_security_group_ids=[sg], port=8787, rule_description="mine", region=REGION)
    run(dict(base, sources=dict(cidrs=["10.1.0.0/16", "10.2.0.0/16"])), capsys)
    out = run(dict(base, sources=dict(cidrs=["10.1.0.0/16"]), purge=True), capsys)
    assert [r["source"] for r in out["rules_removed"]] == ["10.2.0.0/16"]
    out = run(dict(base, state="absent"), capsys)
    assert [r["source"] for r in out["rules_removed"]] == ["10.1.0.0/16"]
    left = [(r["CidrIp"], r.get("Description")) for p in ingress(ec2, sg) for r in p["IpRanges"]]
    assert left == [("192.0.2.0/24", "foreign")]


def test_direct_mode_needs_description(aws, capsys):
    out = run(dict(target_security_group_ids=[aws["sg"]], port=1, region=REGION), capsys)
    assert out["failed"] and "rule_description" in out["msg"]
