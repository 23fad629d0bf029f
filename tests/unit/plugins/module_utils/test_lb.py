# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of lb_security_group: sources -> rules, planning, matching, waiting."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _lb

DESC = "portkey_ai.gateway:portkey-gateway"


def rule(value, kind=_lb.KIND_IPV4, port=8787, desc=DESC, proto="tcp"):
    return dict(protocol=proto, from_port=port, to_port=port, kind=kind, value=value, description=desc)


def test_desired_rules_all_kinds_and_dedup():
    out = _lb.desired_rules(dict(cidrs=["44.221.117.129/32", "44.221.117.129/32", "2001:db8::/32"],
                                 security_group_ids=["sg-1"], prefix_list_ids=["pl-1"]), 8787, DESC)
    assert [(r["kind"], r["value"]) for r in out] == [
        (_lb.KIND_IPV4, "44.221.117.129/32"), (_lb.KIND_IPV6, "2001:db8::/32"),
        (_lb.KIND_SG, "sg-1"), (_lb.KIND_PL, "pl-1")]
    assert all(r["from_port"] == 8787 and r["to_port"] == 8787 and r["description"] == DESC for r in out)


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_world_refused_unless_allowed(cidr):
    with pytest.raises(_lb.LbError) as exc:
        _lb.desired_rules(dict(cidrs=[cidr]), 443, DESC, world_option="lb_security_group_allow_world")
    assert "lb_security_group_allow_world" in str(exc.value) and cidr in str(exc.value)
    assert _lb.desired_rules(dict(cidrs=[cidr]), 443, DESC, allow_world=True)[0]["value"] == cidr


@pytest.mark.parametrize("sources, match", [
    (dict(cidrs=["10.0.0.1/24"]), "not a valid CIDR"),
    (dict(cidrs=["nope"]), "not a valid CIDR"),
    (dict(security_group_ids=["abc"]), "security group id"),
    (dict(prefix_list_ids=["sg-1"]), "prefix list id"),
])
def test_bad_sources(sources, match):
    with pytest.raises(_lb.LbError, match=match):
        _lb.desired_rules(sources, 1, DESC)


def test_flatten_and_back_roundtrip():
    perms = [dict(IpProtocol="tcp", FromPort=8787, ToPort=8787,
                  IpRanges=[dict(CidrIp="1.2.3.4/32", Description=DESC)],
                  Ipv6Ranges=[dict(CidrIpv6="2001:db8::/32")],
                  UserIdGroupPairs=[dict(GroupId="sg-1", UserId="123", Description="x")],
                  PrefixListIds=[dict(PrefixListId="pl-1")]),
             dict(IpProtocol="-1", IpRanges=[dict(CidrIp="10.0.0.0/8")])]
    flat = _lb.flatten_permissions(perms)
    assert len(flat) == 5
    assert flat[-1]["from_port"] is None and flat[-1]["protocol"] == "-1"
    back = _lb.rules_to_permissions(flat)
    assert _lb.flatten_permissions(back) == flat


def test_plan_adds_missing_and_skips_foreign_duplicates():
    existing = [rule("1.1.1.1/32", desc="someone else"), rule("2.2.2.2/32")]
    desired = [rule("1.1.1.1/32"), rule("2.2.2.2/32"), rule("3.3.3.3/32")]
    add, remove = _lb.plan_rules(existing, desired, DESC, purge=True)
    assert [r["value"] for r in add] == ["3.3.3.3/32"]
    assert remove == []


def test_plan_purge_removes_only_owned():
    existing = [rule("9.9.9.9/32", desc="foreign"), rule("8.8.8.8/32"), rule("7.7.7.7/32", port=9000)]
    desired = [rule("1.1.1.1/32")]
    add, remove = _lb.plan_rules(existing, desired, DESC, purge=False)
    assert remove == [] and len(add) == 1
    add, remove = _lb.plan_rules(existing, desired, DESC, purge=True)
    assert sorted(r["value"] for r in remove) == ["7.7.7.7/32", "8.8.8.8/32"]


def test_world_open_on_port():
    assert _lb.world_open_on_port([rule("0.0.0.0/0", desc="k8s")], 8787)
    assert _lb.world_open_on_port([dict(rule("0.0.0.0/0"), protocol="-1", from_port=None, to_port=None)], 1)
    assert not _lb.world_open_on_port([rule("0.0.0.0/0", port=80)], 8787)
    assert not _lb.world_open_on_port([rule("10.0.0.0/8")], 8787)


def test_format_rule():
    assert _lb.format_rule(rule("1.2.3.4/32")) == "tcp/8787 from 1.2.3.4/32 (%s)" % DESC
    assert _lb.format_rule(dict(protocol="-1", from_port=None, to_port=None, kind="cidr_ipv4", value="x",
                                description="")) == "all/all from x"


def test_suggest_source_ranges():
    assert _lb.suggest_source_ranges(dict(cidrs=["44.221.117.129/32", "44.221.117.129/32"],
                                          security_group_ids=["sg-1"])) == ["44.221.117.129/32"]


ELBV2 = [dict(LoadBalancerArn="arn:alb", DNSName="alb-1.us-east-1.elb.amazonaws.com", LoadBalancerName="alb",
              Type="application", SecurityGroups=["sg-a"], VpcId="vpc-1", Scheme="internet-facing"),
         dict(LoadBalancerArn="arn:nlb", DNSName="nlb-1.elb.us-east-1.amazonaws.com", LoadBalancerName="nlb",
              Type="network", VpcId="vpc-1")]
CLASSIC = [dict(LoadBalancerName="clb", DNSName="clb-1.us-east-1.elb.amazonaws.com", SecurityGroups=["sg-c"],
                VPCId="vpc-1", Scheme="internet-facing")]


@pytest.mark.parametrize("hostname, kind, name, groups", [
    ("alb-1.us-east-1.elb.amazonaws.com", "application", "alb", ["sg-a"]),
    ("ALB-1.us-east-1.elb.amazonaws.com.", "application", "alb", ["sg-a"]),
    ("dualstack.alb-1.us-east-1.elb.amazonaws.com", "application", "alb", ["sg-a"]),
    ("nlb-1.elb.us-east-1.amazonaws.com", "network", "nlb", []),
    ("clb-1.us-east-1.elb.amazonaws.com", "classic", "clb", ["sg-c"]),
])
def test_find_load_balancer(hostname, kind, name, groups):
    lb = _lb.find_load_balancer(hostname, ELBV2, CLASSIC)
    assert (lb["type"], lb["name"], lb["security_groups"]) == (kind, name, groups)


def test_find_load_balancer_none():
    assert _lb.find_load_balancer("other.example.com", ELBV2, CLASSIC) is None


def test_service_hostname_and_port():
    svc = dict(spec=dict(type="LoadBalancer", ports=[dict(name="x", port=1), dict(name="gateway", port=8787)]),
               status=dict(loadBalancer=dict(ingress=[dict(hostname="h.example")])))
    assert _lb.service_hostname(svc) == "h.example"
    assert _lb.service_port(svc) == 8787
    assert _lb.service_port(svc, 443) == 443
    assert _lb.service_hostname(dict(status={})) is None
    with pytest.raises(_lb.LbError, match="only an IP"):
        _lb.service_hostname(dict(status=dict(loadBalancer=dict(ingress=[dict(ip="1.2.3.4")]))))
    with pytest.raises(_lb.LbError, match="no ports"):
        _lb.service_port(dict(spec=dict(ports=[])))


def test_wait_for_is_bounded():
    clock = [0.0]
    sleeps = []

    def sleep(s):
        sleeps.append(s)
        clock[0] += s

    value, waited = _lb.wait_for(lambda: None, 10, 3, clock=lambda: clock[0], sleep=sleep)
    assert value is None and waited == 10 and sleeps == [3, 3, 3, 1]
    calls = iter([None, None, "h"])
    value, waited = _lb.wait_for(lambda: next(calls), 10, 2, clock=lambda: clock[0], sleep=sleep)
    assert value == "h"
