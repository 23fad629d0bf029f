# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_info helpers: finding the gateway objects in a manifest, rollout state, problems."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._health import (
    find_gateway_objects, lb_hostname, pod_state, problems_of, proxy_path, rollout_state,
)

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: redis}
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/name: redis, app.kubernetes.io/instance: portkey-ai}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: portkey-ai-gateway-dataservice}
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/name: gateway, app.kubernetes.io/instance: portkey-ai,
               app.kubernetes.io/component: portkey-ai-gateway-dataservice}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: portkey-ai-gateway}
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/name: gateway, app.kubernetes.io/instance: portkey-ai}
---
apiVersion: v1
kind: Service
metadata: {name: redis}
spec:
  selector: {app.kubernetes.io/name: redis, app.kubernetes.io/instance: portkey-ai}
---
apiVersion: v1
kind: Service
metadata: {name: portkey-ai-gateway}
spec:
  ports: [{name: gateway, port: 8787}]
  selector: {app.kubernetes.io/name: gateway, app.kubernetes.io/instance: portkey-ai}
"""


def test_find_gateway_objects_by_labels_not_names():
    dep, svc = find_gateway_objects(MANIFEST, "gateway")
    assert dep["metadata"]["name"] == "portkey-ai-gateway" and svc["metadata"]["name"] == "portkey-ai-gateway"
    assert find_gateway_objects("", "gateway") == (None, None)


def test_proxy_path():
    assert proxy_path("portkeyai", "portkey-gateway", 8787, "/v1/health") == \
        "/api/v1/namespaces/portkeyai/services/portkey-gateway:8787/proxy/v1/health"


def test_lb_hostname_shows_the_dns_name_else_the_ip():
    def svc(*ingress):
        return {"status": {"loadBalancer": {"ingress": list(ingress)}}}
    assert lb_hostname(svc({"ip": "1.2.3.4"}, {"hostname": "lb.example"})) == "lb.example"
    assert lb_hostname(svc({"ip": "1.2.3.4"})) == "1.2.3.4"
    assert lb_hostname(svc()) is None


@pytest.mark.parametrize("status, complete", [
    (dict(observedGeneration=2, replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2), True),
    (dict(observedGeneration=1, replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2), False),
    (dict(observedGeneration=2, replicas=3, updatedReplicas=2, readyReplicas=2, availableReplicas=2), False),
    (dict(observedGeneration=2, replicas=2, updatedReplicas=2, readyReplicas=1, availableReplicas=1), False),
    ({}, False),
])
def test_rollout_state(status, complete):
    dep = dict(metadata=dict(name="d", generation=2), spec=dict(replicas=2), status=status)
    assert rollout_state(dep)["rollout_complete"] is complete


def test_pod_state():
    pod = dict(metadata=dict(name="p"), spec=dict(containers=[dict(image="img:1")]),
               status=dict(phase="Running", conditions=[dict(type="Ready", status="True")]))
    assert pod_state(pod) == dict(name="p", ready=True, phase="Running", image="img:1")


def test_problems_of():
    healthy = dict(release=dict(name="r", namespace="n", status="deployed"),
                   deployment=dict(name="d", rollout_complete=True), pods=[dict(ready=True)],
                   service=dict(name="s", port=8787), health=dict(path="/v1/health", ok=True, status=200),
                   selector="sel")
    assert problems_of(healthy) == []
    sick = dict(healthy, pods=[dict(ready=False)], health=dict(path="/v1/health", ok=False, status=503))
    problems = problems_of(sick)
    assert len(problems) == 2 and "no gateway pod is Ready (selector sel)" in problems
    assert "503" in problems[1]
    assert problems_of(dict(healthy, release=dict(name="r", namespace="n", status=None))) == \
        ["release r in namespace n is not installed"]
