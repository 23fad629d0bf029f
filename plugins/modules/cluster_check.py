#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cluster_check
short_description: Check that the Kubernetes API server answers with the given connection settings
version_added: 0.1.0
description:
  - Loads the Kubernetes connection (kubeconfig and context, or host and bearer token, as the other modules of
    the collection) and sends C(GET /version).
  - Every failure is one paragraph naming the setting to fix and the likely fix, never a traceback. A kubeconfig that
    does not exist, a context that is not in it, a failing credential plugin (C(aws eks get-token)), a refused
    connection, a TLS failure, a timeout, 401 Unauthorized (token missing, wrong or expired) and 403 Forbidden
    are each told apart.
  - Read-only; never reports changed.
author:
  - portkey_ai.gateway maintainers (@portkey-ai)
options:
  timeout:
    description: Seconds to wait for the API server's answer.
    type: int
    default: 10
  namespace:
    description:
      - Namespace of the credentialed read (its C(default) ServiceAccount; absent is fine, 401/403 are not).
      - C(GET /version) alone proves nothing about the credentials, it is anonymous on EKS.
    type: str
    default: default
extends_documentation_fragment:
  - portkey_ai.gateway.k8s_auth
  - portkey_ai.gateway.k8s_auth.validate_certs
  - ansible.builtin.action_common_attributes
  - portkey_ai.gateway.attributes.read_only
requirements:
  - kubernetes (Python library)
"""

EXAMPLES = r"""
- name: Check that the cluster answers before any change
  portkey_ai.gateway.cluster_check:
    kubeconfig: "{{ portkey_kubeconfig | default(omit) }}"
    context: "{{ portkey_kube_context | default(omit) }}"
"""

RETURN = r"""
cluster:
  description: The API server that answered.
  returned: success
  type: dict
  contains:
    host: {description: The API server URL, type: str, sample: "https://ABC.gr7.eu-west-1.eks.amazonaws.com"}
    version: {description: Its Kubernetes version (gitVersion), type: str, sample: v1.30.14}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._k8s_auth import K8sAuth, check_cluster, k8s_auth_spec


def main():
    spec = dict(timeout=dict(type="int", default=10), namespace=dict(type="str", default="default"))
    spec.update(k8s_auth_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        cluster = check_cluster(K8sAuth.from_params(module.params), timeout=module.params["timeout"],
                                namespace=module.params["namespace"])
    except PortkeyError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, cluster=cluster,
                     msg="the Kubernetes API server at %s answered (%s)" % (cluster["host"], cluster["version"]))


if __name__ == "__main__":
    main()
