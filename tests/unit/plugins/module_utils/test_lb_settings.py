# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""portkey_load_balancer / portkey_private_link: validation, Service annotations, exclusive rule planning."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _lb
from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import build_values

A = "service.beta.kubernetes.io/aws-load-balancer-"
RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0123abcd-0000-1111-2222-333344445555"


def annotations(lb=None, link=None, port=8787, container_port=8787):
    settings, errors = _lb.load_balancer_settings(lb, link)
    assert errors == []
    return _lb.service_annotations(settings, port, container_port)


def test_not_enabled_renders_nothing():
    assert annotations() == {} and annotations({"scheme": "internal"}) == {}


def test_safe_defaults_internet_facing_only_to_the_control_plane():
    out = annotations({"enabled": True})
    assert out == {A + "type": "external", A + "nlb-target-type": "ip", A + "scheme": "internet-facing",
                   A + "healthcheck-protocol": "http", A + "healthcheck-path": "/v1/health",
                   A + "healthcheck-port": "8787", RANGES: "44.221.117.129/32"}


def test_private_link_defaults_to_internal_without_source_ranges():
    out = annotations(None, {"enabled": True})
    assert out[A + "scheme"] == "internal" and RANGES not in out


def test_tls_listener_on_the_service_port_and_health_check_port():
    out = annotations({"enabled": True, "certificate_arn": CERT, "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                       "target_type": "instance", "cidrs": ["10.1.0.0/16", "10.1.0.0/16"]}, port=443,
                      container_port=9000)
    assert out[A + "ssl-cert"] == CERT and out[A + "ssl-ports"] == "443"
    assert out[A + "ssl-negotiation-policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert out[A + "nlb-target-type"] == "instance" and out[A + "healthcheck-port"] == "9000"
    assert out[RANGES] == "10.1.0.0/16"


@pytest.mark.parametrize("lb, link, var", [
    ({"enabled": True, "cidrs": ["office"]}, None, "portkey_load_balancer.cidrs"),
    ({"enabled": True, "cidrs": ["10.0.0.1/8"]}, None, "portkey_load_balancer.cidrs"),
    ({"enabled": True, "cidrs": ["0.0.0.0/0"]}, None, "portkey_load_balancer.cidrs"),
    ({"enabled": True, "cidrs": []}, None, "portkey_load_balancer.cidrs"),
    ({"enabled": True, "cidrs": "10.0.0.0/8"}, None, "portkey_load_balancer.cidrs"),
    ({"enabled": True, "certificate_arn": "my-cert"}, None, "portkey_load_balancer.certificate_arn"),
    ({"enabled": True, "ssl_policy": "x"}, None, "portkey_load_balancer.ssl_policy"),
    ({"enabled": True, "scheme": "public"}, None, "portkey_load_balancer.scheme"),
    ({"enabled": True, "type": "alb"}, None, "portkey_load_balancer.type"),
    ({"enabled": True, "target_type": "pod"}, None, "portkey_load_balancer.target_type"),
    ({"enabled": True, "health_check_path": "health"}, None, "portkey_load_balancer.health_check_path"),
    ({"enabled": True, "sources": []}, None, "portkey_load_balancer.sources"),
    ({"enabled": "maybe"}, None, "portkey_load_balancer.enabled"),
    ({"scheme": "internet-facing"}, {"enabled": True}, "portkey_private_link.enabled"),
    (None, {"enabled": True, "allowed_principals": ["299329113195"]}, "portkey_private_link.allowed_principals"),
    (None, {"enabled": True, "allowed_principals": "arn:aws:iam::299329113195:root"},
     "portkey_private_link.allowed_principals"),
    (None, {"enabled": True, "wait_timeout": "soon"}, "portkey_private_link.wait_timeout"),
    (None, {"enabled": True, "endpoint": "x"}, "portkey_private_link.endpoint"),
])
def test_bad_settings_name_the_variable(lb, link, var):
    _settings, errors = _lb.load_balancer_settings(lb, link)
    assert any(var in "%s: %s" % e for e in errors), errors


def test_world_needs_the_opt_in():
    settings, errors = _lb.load_balancer_settings({"enabled": True, "cidrs": ["0.0.0.0/0"], "allow_world": True})
    assert errors == [] and settings["cidrs"] == ["0.0.0.0/0"]


def test_principals_default_to_portkey_and_accounts():
    settings, errors = _lb.check_private_link({"enabled": True})
    assert errors == [] and settings["allowed_principals"] == [_lb.PORTKEY_PRINCIPAL]
    assert settings["acceptance_required"] is True and settings["accept_connections"] is False
    assert _lb.principal_account("arn:aws:iam::123456789012:role/x") == "123456789012"
    assert _lb.principal_account("123456789012") is None


BASE = {"client_auth": "ck-test-0123456789", "organisations_to_sync": "org", "image_pull_secret": "pull"}


def test_values_carry_the_annotations_and_refuse_conflicts():
    values = build_values(dict(BASE, load_balancer={"enabled": True}), {"name": "gateway", "version": "1.7.7"}).values
    assert values["service"]["annotations"][A + "scheme"] == "internet-facing"
    with pytest.raises(PortkeyError) as exc:
        build_values(dict(BASE, load_balancer={"enabled": True}, service={"type": "ClusterIP", "annotations": {
            A + "scheme": "internal"}}), {"name": "gateway", "version": "1.7.7"})
    text = "\n".join(exc.value.errors)
    assert "portkey_service.annotations.%sscheme" % A in text and "portkey_service.type" in text
    with pytest.raises(PortkeyError) as exc:
        build_values(dict(BASE, extra_values={"service": {"loadBalancerSourceRanges": ["10.0.0.0/8"]}}),
                     {"name": "gateway", "version": "1.0.8"})
    assert "portkey_extra_values.service.loadBalancerSourceRanges" in "\n".join(exc.value.errors)


def rule(value, port=8787, proto="tcp", to_port=None, kind=_lb.KIND_IPV4, desc="x"):
    return dict(protocol=proto, from_port=port, to_port=to_port or port, kind=kind, value=value, description=desc)


def test_exclusive_removes_other_sources_reaching_the_port_only():
    desired = [rule("44.221.117.129/32")]
    existing = [rule("44.221.117.129/32", desc="other"), rule("0.0.0.0/0"), rule("10.0.0.0/8", port=8000, to_port=9000),
                rule("0.0.0.0/0", port=443), rule("sg-1", kind=_lb.KIND_SG), rule("::/0", proto="-1", port=None)]
    removed = _lb.plan_exclusive(existing, desired, 8787)
    assert [r["value"] for r in removed] == ["0.0.0.0/0", "10.0.0.0/8", "sg-1", "::/0"]
    assert _lb.world_open_on_port(existing, 8787) and not _lb.world_open_on_port(existing[2:3], 8787)


def test_locate_waits_for_the_load_balancer_then_names_the_timeout_variable():
    svc = {"spec": {"type": "LoadBalancer", "ports": [{"port": 8787}]},
           "status": {"loadBalancer": {"ingress": [{"hostname": "nlb-1.elb.amazonaws.com"}]}}}
    lbs = []
    calls = []

    def list_v2():
        calls.append(1)
        if len(calls) == 2:  # the controller lists the NLB a little after publishing the name
            lbs.append({"DNSName": "nlb-1.elb.amazonaws.com", "Type": "network", "LoadBalancerArn": "arn:1"})
        return lbs

    clock = iter(range(100))
    _svc, host, lb = _lb.locate_load_balancer(lambda: svc, list_v2, lambda: [], "ns/s", 10, 1,
                                              sleep=lambda s: None, clock=lambda: next(clock))
    assert host == "nlb-1.elb.amazonaws.com" and lb["arn"] == "arn:1" and len(calls) == 2
    clock = iter(range(100))
    with pytest.raises(_lb.LbError) as exc:
        _lb.locate_load_balancer(lambda: svc, lambda: [], lambda: [], "ns/s", 3, 1, timeout_var="portkey_x.wait",
                                 sleep=lambda s: None, clock=lambda: next(clock))
    assert "portkey_x.wait" in str(exc.value) and "nlb-1.elb.amazonaws.com" in str(exc.value)
    warned = []
    assert _lb.locate_load_balancer(lambda: None, list_v2, list, "ns/s", 3, 1, absent=True,
                                    warn=warned.append) == (None, None, None) and warned
