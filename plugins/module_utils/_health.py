# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change without notice.
"""Read-only health of a deployed gateway release: release status (helm), rollout, pods, Service, and an HTTP GET
of the health path through the API server's service proxy. Uses the plain ``kubernetes`` Python client.

Objects are found from the release manifest (never from names): the gateway Deployment is the one whose pod
labels carry ``app.kubernetes.io/name=<chart>`` and no ``app.kubernetes.io/component`` (dataservice pods have one;
redis pods have another name), the gateway Service is the one whose selector matches those pod labels.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import time

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._objects import (
    COMPONENT_LABEL, NAME_LABEL, gateway_selector, gateway_service_port, is_gateway_pod_labels, lb_address)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._manifest import release_docs
from ansible_collections.portkey_ai.gateway.plugins.module_utils._release import release_info

BODY_CHARS = 200
REQUEST_TIMEOUT = 10


def _pod_labels(doc):
    return ((((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})


def find_gateway_objects(manifest, chart_name):
    """(deployment doc or None, service doc or None) of the gateway in a release manifest."""
    docs = release_docs(manifest)
    deployment = None
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        labels = _pod_labels(doc)
        if is_gateway_pod_labels(labels, chart_name):
            deployment = doc
            break
        if deployment is None and COMPONENT_LABEL not in labels and NAME_LABEL not in labels:
            deployment = doc  # a chart without the name label: the first Deployment that is not a component
    service = None
    if deployment is not None:
        labels = _pod_labels(deployment)
        for doc in docs:
            if doc.get("kind") != "Service":
                continue
            selector = (doc.get("spec") or {}).get("selector") or {}
            if selector and COMPONENT_LABEL not in selector and all(labels.get(k) == v for k, v in selector.items()):
                service = doc
                break
    return deployment, service


def proxy_path(namespace, service, port, path):
    return "/api/v1/namespaces/%s/services/%s:%s/proxy/%s" % (namespace, service, port, (path or "/").lstrip("/"))


def rollout_state(dep):
    """Deployment status -> the ``deployment`` return value (kubectl rollout status rules)."""
    meta = dep.get("metadata") or {}
    spec = dep.get("spec") or {}
    status = dep.get("status") or {}
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    ready = status.get("readyReplicas") or 0
    complete = ((status.get("observedGeneration") or 0) >= (meta.get("generation") or 0)
                and updated >= replicas and total <= updated and available >= updated and ready >= replicas)
    return dict(name=meta.get("name"), replicas=replicas, ready_replicas=ready, updated_replicas=updated,
                available_replicas=available, rollout_complete=bool(complete))


def pod_state(pod):
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return dict(name=meta.get("name"), ready=ready, phase=status.get("phase"),
                image=containers[0].get("image") if containers else None)


def lb_hostname(svc):
    """The address to show for the Service's load balancer: its DNS name, else its first IP address."""
    hostname, ips = lb_address(svc)
    return hostname or (ips[0] if ips else None)


def problems_of(result):
    """Human-readable reasons why ``result`` is not healthy (empty list when healthy)."""
    problems = []
    rel = result["release"]
    if rel.get("status") != "deployed":
        problems.append("release %s in namespace %s is %s" % (rel.get("name"), rel.get("namespace"),
                                                              rel.get("status") or "not installed"))
        return problems
    dep = result["deployment"]
    if not dep.get("name"):
        problems.append("no gateway Deployment in the release manifest")
    elif not dep.get("rollout_complete"):
        problems.append("Deployment %s rollout not complete: %s/%s ready, %s updated, %s available"
                        % (dep["name"], dep.get("ready_replicas"), dep.get("replicas"), dep.get("updated_replicas"),
                           dep.get("available_replicas")))
    ready = [p for p in result["pods"] if p["ready"]]
    if not ready:
        problems.append("no gateway pod is Ready (selector %s)" % result["selector"])
    health = result["health"]
    if not result["service"].get("name"):
        problems.append("no gateway Service in the release manifest")
    elif not health.get("ok"):
        problems.append("GET %s through the service proxy of %s:%s answered %s%s"
                        % (health.get("path"), result["service"]["name"], result["service"].get("port"),
                           health.get("status") or "nothing", (": " + health["error"]) if health.get("error") else ""))
    return problems


class KubeReader(object):
    """The few GETs gateway_info needs, through the plain kubernetes client (kubeconfig / context)."""

    def __init__(self, kubeconfig=None, context=None, auth=None):
        """``auth`` (a _k8s_auth.K8sAuth: kubeconfig / context / host / api_key / ...) wins over the two
        positional arguments, kept for callers that only have a kubeconfig."""
        from ansible_collections.portkey_ai.gateway.plugins.module_utils._k8s_auth import K8sAuth
        try:
            import kubernetes
        except ImportError:
            raise PortkeyError("the kubernetes Python library is required (pip install 'kubernetes<37')")
        self._k = kubernetes
        auth = auth or K8sAuth(kubeconfig=kubeconfig, context=context)
        self.api = auth.api_client()

    def get(self, path, query=None):
        """GET a JSON object; None on 404."""
        try:
            resp = self.api.call_api(path, "GET", query_params=list((query or {}).items()),
                                     header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
                                     _preload_content=False, _return_http_data_only=True,
                                     _request_timeout=REQUEST_TIMEOUT)
            data = json.loads(resp.data.decode("utf-8"))
        except self._k.client.exceptions.ApiException as exc:
            if exc.status == 404:
                return None
            raise PortkeyError("GET %s failed: %s %s" % (path, exc.status, exc.reason))
        except Exception as exc:  # urllib3 connection errors and the like
            raise PortkeyError("GET %s failed: %s" % (path, exc))
        return data

    def http_get(self, path):
        """(status, body text, error) of a GET; never raises for HTTP or connection errors."""
        try:
            resp = self.api.call_api(path, "GET", header_params={"Accept": "*/*"}, auth_settings=["BearerToken"],
                                     _preload_content=False, _return_http_data_only=True,
                                     _request_timeout=REQUEST_TIMEOUT)
            return resp.status, resp.data.decode("utf-8", "replace"), None
        except self._k.client.exceptions.ApiException as exc:
            body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else (exc.body or "")
            return exc.status, body, exc.reason
        except Exception as exc:
            return None, "", str(exc)


def observe(kube, release, name, namespace, health_path):
    """One read of everything; returns the module result shape (without ``healthy``)."""
    info = release_info(release, name, namespace)
    chart_name = info.get("chart")
    empty_deployment = dict(name=None, replicas=None, ready_replicas=None, updated_replicas=None,
                            available_replicas=None, rollout_complete=False)
    result = dict(release=info, deployment=empty_deployment,
                  pods=[], service=dict(name=None, type=None, port=None, hostname=None),
                  health=dict(path=health_path, status=None, ok=False, body=None),
                  selector=gateway_selector(info.get("name"), chart_name) if chart_name else None)
    if not release:
        return result
    dep_doc, svc_doc = find_gateway_objects(release.get("manifest"), chart_name)
    if dep_doc is not None:
        name = dep_doc["metadata"]["name"]
        live = kube.get("/apis/apps/v1/namespaces/%s/deployments/%s" % (namespace, name))
        result["deployment"] = rollout_state(live) if live else dict(result["deployment"], name=name)
    pods = kube.get("/api/v1/namespaces/%s/pods" % namespace, {"labelSelector": result["selector"]}) or {}
    result["pods"] = sorted((pod_state(p) for p in pods.get("items") or []), key=lambda p: p["name"] or "")
    if svc_doc is not None:
        name = svc_doc["metadata"]["name"]
        live = kube.get("/api/v1/namespaces/%s/services/%s" % (namespace, name)) or svc_doc
        spec = live.get("spec") or {}
        port = gateway_service_port(spec)
        result["service"] = dict(name=name, type=spec.get("type", "ClusterIP"), port=port, hostname=lb_hostname(live))
        status, body, error = kube.http_get(proxy_path(namespace, name, port, health_path))
        result["health"] = dict(path=health_path, status=status, ok=status is not None and 200 <= status < 300,
                                body=(body or "")[:BODY_CHARS])
        if error and not result["health"]["ok"]:
            result["health"]["error"] = error
    return result


def check_health(helm, kube, name, namespace, health_path="/v1/health", timeout=60, wait_healthy=False,
                 poll_interval=2.0, clock=time.monotonic, sleep=time.sleep):
    """Poll (bounded by ``timeout`` seconds) until healthy.

    Without wait_healthy only a failing health GET is retried (the rollout may still be settling); with it the
    whole state is polled, and PortkeyError says what is not healthy when the time is up.
    """
    deadline = clock() + max(0, timeout)
    release = helm.release(name, namespace, with_values=False)
    while True:
        result = observe(kube, release, name, namespace, health_path)
        problems = problems_of(result)
        result["healthy"] = not problems
        result["problems"] = problems
        remaining = deadline - clock()
        if not problems or remaining <= 0 or release is None:
            break
        if not wait_healthy and (result["health"]["ok"] or not result["service"]["name"]):
            break
        sleep(min(poll_interval, remaining))
        if wait_healthy and release.get("info", {}).get("status") != "deployed":
            release = helm.release(name, namespace, with_values=False)
    if wait_healthy and problems:
        raise PortkeyError("gateway release %s in namespace %s is not healthy after %ss: %s"
                           % (name, namespace, timeout, "; ".join(problems)), **result)
    return result
