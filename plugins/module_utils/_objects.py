# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change without notice.
"""The gateway's Kubernetes object facts, in one place: the chart's labels, the gateway pod selector (in the
label-selector string form and the ``matchLabels``/``matchExpressions`` form), the gateway port, the Service port
to use, and the load-balancer address a Service publishes.

Gateway pods carry ``app.kubernetes.io/name=<chart>`` and ``app.kubernetes.io/instance=<release>``; the dataservice
pods carry the same two labels plus ``app.kubernetes.io/component``, so the gateway selector excludes that label.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "portkey_ai.gateway"
# The labels the chart owns on the gateway pods (a user's podLabels must not set them).
SELECTOR_LABELS = (NAME_LABEL, INSTANCE_LABEL)

# The port the gateway container listens on, and the chart's default Service port.
GATEWAY_PORT = 8787
# Service port names the gateway port is published under, preferred first.
PORT_NAMES = ("gateway", "http")


def gateway_selector(release, chart_name):
    """The gateway pods' label selector as a string (``kubectl -l`` / list_namespaced_pod form)."""
    return "%s=%s,%s=%s,!%s" % (INSTANCE_LABEL, release, NAME_LABEL, chart_name, COMPONENT_LABEL)


def gateway_label_selector(release, chart_name):
    """The gateway pods' label selector as a ``LabelSelector`` object (PDB, topology spread, anti-affinity)."""
    return {"matchLabels": {NAME_LABEL: chart_name, INSTANCE_LABEL: release},
            "matchExpressions": [{"key": COMPONENT_LABEL, "operator": "DoesNotExist"}]}


def is_gateway_pod_labels(labels, chart_name):
    """True when pod labels are a gateway pod's (the chart's name label, no component label)."""
    labels = labels or {}
    return COMPONENT_LABEL not in labels and labels.get(NAME_LABEL) == chart_name


def _spec_ports(service):
    """The ports of a Service object or of its ``spec`` (both are accepted)."""
    service = service or {}
    spec = service.get("spec") if "spec" in service else service
    return (spec or {}).get("ports") or []


def gateway_service_port(service):
    """The Service port that publishes the gateway: the one named ``gateway``, else ``http``, else the first;
    None when the Service has no ports. ``service`` is a Service object or its spec."""
    ports = _spec_ports(service)
    for wanted in PORT_NAMES:
        for port in ports:
            if port.get("name") == wanted:
                return int(port["port"])
    return int(ports[0]["port"]) if ports else None


def normalize_hostname(name):
    """A load balancer DNS name for comparison: lower case, no trailing dot, no ``dualstack.`` prefix."""
    name = (name or "").strip().lower().rstrip(".")
    if name.startswith("dualstack."):
        name = name[len("dualstack."):]
    return name


def lb_address(service):
    """``(hostname, ips)`` the Service's load balancer publishes in ``status.loadBalancer.ingress``: the first
    entry with a hostname (as published, or None) and every published IP address."""
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    hostname = next((item["hostname"] for item in ingress if item.get("hostname")), None)
    return hostname, [item["ip"] for item in ingress if item.get("ip")]
