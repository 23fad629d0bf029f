#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_info
short_description: Health of a deployed Portkey gateway release (read-only)
version_added: "0.1.0"
description:
  - Reads the release (C(helm get all)), the rollout state of the gateway Deployment, the gateway pods, the gateway
    Service (type, port, load-balancer hostname) and GETs a health path through the Kubernetes API server's service
    proxy (C(/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH)), so no port-forward or load balancer is needed.
  - The gateway Deployment and Service are found from the release manifest, never from names. The Deployment is the
    one whose pod labels have C(app.kubernetes.io/name=<chart name>) and no C(app.kubernetes.io/component). Pods are
    listed with C(app.kubernetes.io/instance=<release>,app.kubernetes.io/name=<chart>,!app.kubernetes.io/component).
  - A failing health GET is retried every O(poll_interval) seconds within O(timeout). With O(wait_healthy=true) the
    whole state is polled until healthy and the module fails, saying what is not healthy, when O(timeout) runs out.
  - Uses the plain C(kubernetes) Python client with O(kubeconfig) and O(context) (or C(K8S_AUTH_KUBECONFIG),
    C(KUBECONFIG), C(K8S_AUTH_CONTEXT); in-cluster configuration when none is given inside a pod), or with
    O(host) and O(api_key) (C(K8S_AUTH_HOST), C(K8S_AUTH_API_KEY), as AWX's bearer-token credential injects them).
  - Never changes anything.
author:
  - portkey_ai.gateway maintainers (@portkey-ai)
requirements:
  - kubernetes (Python library)
  - helm 3.8+ or helm 4
options:
  release_name:
    description: Helm release name.
    type: str
    default: portkey-gateway
  namespace:
    description: Namespace of the release.
    type: str
    default: portkeyai
  health_path:
    description: HTTP path of the gateway's health endpoint (the chart's probes use C(/v1/health)).
    type: str
    default: /v1/health
  timeout:
    description: Seconds to keep retrying (the health GET, or everything with O(wait_healthy)).
    type: int
    default: 60
  poll_interval:
    description: Seconds between two polls.
    type: float
    default: 2
  wait_healthy:
    description: Poll until healthy and fail when not healthy within O(timeout).
    type: bool
    default: false
extends_documentation_fragment:
  - portkey_ai.gateway.attributes.helm
  - portkey_ai.gateway.k8s_auth
  - portkey_ai.gateway.k8s_auth.validate_certs
  - ansible.builtin.action_common_attributes
  - portkey_ai.gateway.attributes.read_only
"""

EXAMPLES = r"""
- name: Wait until the gateway is healthy
  portkey_ai.gateway.gateway_info:
    release_name: portkey-gateway
    namespace: portkeyai
    wait_healthy: true
    timeout: 300
  register: gateway

- name: Show where it listens
  ansible.builtin.debug:
    msg: "{{ gateway.service.hostname }}:{{ gateway.service.port }}"
"""

RETURN = r"""
release:
  description: The release (fields are null when it is not installed).
  returned: always
  type: dict
  contains:
    name: {description: Release name., type: str}
    namespace: {description: Namespace., type: str}
    revision: {description: Current revision., type: int}
    status: {description: helm status of the latest revision., type: str, sample: deployed}
    chart: {description: Chart name., type: str, sample: gateway}
    chart_version: {description: Chart version., type: str}
    app_version: {description: Chart appVersion., type: str}
    updated: {description: Time of the last deploy., type: str}
deployment:
  description: Rollout state of the gateway Deployment.
  returned: always
  type: dict
  contains:
    name: {description: Deployment name (from the manifest)., type: str}
    replicas: {description: Desired replicas., type: int}
    ready_replicas: {description: Ready replicas., type: int}
    updated_replicas: {description: Replicas of the current template., type: int}
    available_replicas: {description: Available replicas., type: int}
    rollout_complete: {description: The rollout is finished (as C(kubectl rollout status))., type: bool}
pods:
  description: Gateway pods.
  returned: always
  type: list
  elements: dict
  sample: [{name: portkey-gateway-7d9c-x2x, ready: true, phase: Running, image: "portkeyai/gateway_enterprise:1.11.4"}]
service:
  description: The gateway Service.
  returned: always
  type: dict
  contains:
    name: {description: Service name (from the manifest)., type: str}
    type: {description: Service type., type: str, sample: LoadBalancer}
    port: {description: Service port probed., type: int, sample: 8787}
    hostname: {description: Load-balancer hostname or IP (null until assigned)., type: str}
health:
  description: Result of the last health GET through the service proxy.
  returned: always
  type: dict
  contains:
    path: {description: The path., type: str}
    status: {description: HTTP status (null when no answer)., type: int}
    ok: {description: The status was 2xx., type: bool}
    body: {description: First 200 characters of the body., type: str}
selector:
  description: Label selector of the gateway pods.
  returned: always
  type: str
healthy:
  description: Release deployed, rollout complete, a Ready gateway pod and a 2xx health answer.
  returned: always
  type: bool
problems:
  description: What is not healthy (empty when healthy).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError, require_yaml
from ansible_collections.portkey_ai.gateway.plugins.module_utils._k8s_auth import K8sAuth, k8s_auth_spec


def gateway_health(module):
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._health import KubeReader, check_health
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import Helm

    p = module.params
    auth = K8sAuth.from_params(p)
    kube = KubeReader(auth=auth)
    with auth.helm_connection() as conn:
        helm = Helm(module.run_command, p["helm_binary"], kubeconfig=conn["kubeconfig"], context=conn["context"],
                    env=conn["env"], global_args=conn["global_args"])
        result = check_health(helm, kube, p["release_name"], p["namespace"], health_path=p["health_path"],
                              timeout=p["timeout"], wait_healthy=p["wait_healthy"],
                              poll_interval=p["poll_interval"])
    result["changed"] = False
    return result


def main():
    spec = dict(
        release_name=dict(type="str", default="portkey-gateway"),
        namespace=dict(type="str", default="portkeyai"),
        health_path=dict(type="str", default="/v1/health"),
        timeout=dict(type="int", default=60),
        poll_interval=dict(type="float", default=2),
        wait_healthy=dict(type="bool", default=False),
        helm_binary=dict(type="str", default="helm"),
    )
    spec.update(k8s_auth_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    require_yaml(module)
    try:
        module.exit_json(**gateway_health(module))
    except PortkeyError as exc:
        module.fail_json(msg=str(exc), changed=False, **exc.details)


if __name__ == "__main__":
    main()
