# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway's Kubernetes object facts: labels, selectors, ports, the load-balancer address."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.portkey_ai.gateway.plugins.filter.gateway_pod_selector import FilterModule
from ansible_collections.portkey_ai.gateway.plugins.module_utils import _objects


def test_selector_string_excludes_the_dataservice_pods():
    assert _objects.gateway_selector("portkey-ai", "gateway") == \
        "app.kubernetes.io/instance=portkey-ai,app.kubernetes.io/name=gateway,!app.kubernetes.io/component"


def test_label_selector_and_the_filter_agree():
    selector = _objects.gateway_label_selector("rel", "gateway")
    assert selector == {"matchLabels": {"app.kubernetes.io/name": "gateway", "app.kubernetes.io/instance": "rel"},
                        "matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "DoesNotExist"}]}
    assert FilterModule().filters()["gateway_pod_selector"]("rel", "gateway") == selector
    assert FilterModule().filters()["gateway_pod_selector"]("rel", "") == selector


def test_gateway_pod_labels():
    assert _objects.is_gateway_pod_labels({"app.kubernetes.io/name": "gateway"}, "gateway")
    assert not _objects.is_gateway_pod_labels({"app.kubernetes.io/name": "gateway",
                                               "app.kubernetes.io/component": "ds"}, "gateway")
    assert not _objects.is_gateway_pod_labels({"app.kubernetes.io/name": "redis"}, "gateway")


@pytest.mark.parametrize("ports, expected", [
    ([{"name": "x", "port": 1}, {"name": "gateway", "port": 8787}], 8787),
    ([{"name": "http", "port": 80}, {"name": "gateway", "port": 8787}], 8787),
    ([{"name": "x", "port": 1}, {"name": "http", "port": 80}], 80),
    ([{"port": 80}], 80),
    ([{"name": "a", "port": 81}, {"name": "b", "port": 82}], 81),
    ([], None),
])
def test_gateway_service_port_from_a_service_or_its_spec(ports, expected):
    assert _objects.gateway_service_port({"ports": ports}) == expected
    assert _objects.gateway_service_port({"spec": {"ports": ports}}) == expected


def test_gateway_service_port_of_nothing():
    assert _objects.gateway_service_port(None) is None and _objects.gateway_service_port({}) is None


@pytest.mark.parametrize("name, expected", [
    ("DualStack.LB-1.elb.amazonaws.com.", "lb-1.elb.amazonaws.com"),
    (" lb.example ", "lb.example"),
    (None, ""),
])
def test_normalize_hostname(name, expected):
    assert _objects.normalize_hostname(name) == expected


def test_lb_address_takes_the_first_hostname_and_every_ip():
    def svc(*ingress):
        return {"status": {"loadBalancer": {"ingress": list(ingress)}}}
    assert _objects.lb_address(svc({"ip": "1.2.3.4"}, {"hostname": "h.example"}, {"ip": "5.6.7.8"})) == \
        ("h.example", ["1.2.3.4", "5.6.7.8"])
    assert _objects.lb_address(svc()) == (None, [])
    assert _objects.lb_address({}) == (None, [])
    assert _objects.lb_address(None) == (None, [])
