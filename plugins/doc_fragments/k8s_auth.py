# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    """Kubernetes connection options of the cluster modules (plugins/module_utils/_k8s_auth.py K8S_AUTH_ARG_SPEC).

    Same names, environment variables and precedence as kubernetes.core's connection options (the subset these
    modules support). C(AWS) is for AWS modules, whose own O(validate_certs) is about AWS.
    """

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path of the kubeconfig file.
      - Defaults to the environment variable E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG) (as kubernetes.core), then
        the client's default (C(~/.kube/config)), then the in-cluster service account when running in a pod.
      - Not read when O(host) and O(api_key) are both set.
    type: path
  context:
    description:
      - The name of a context of the kubeconfig file. Defaults to the environment variable E(K8S_AUTH_CONTEXT),
        then the kubeconfig's current context.
    type: str
  host:
    description:
      - URL of the Kubernetes API server. Defaults to the environment variable E(K8S_AUTH_HOST).
      - With O(api_key) it is a complete connection (no kubeconfig is read), as AWX's C(OpenShift or Kubernetes
        API Bearer Token) credential injects it; alone it overrides the kubeconfig's server.
      - helm gets host and token through a kubeconfig written with mode 0600 in a private temporary directory that
        is removed before the module returns, so the token is never on a command line.
    type: str
  api_key:
    description:
      - Bearer token to authenticate with the API server. Defaults to the environment variable E(K8S_AUTH_API_KEY).
      - Never shown in the module's output.
    type: str
  ca_cert:
    description:
      - Path of a CA certificate file to verify the API server's certificate with. Defaults to the environment
        variable E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
"""

    # Kubernetes TLS verification of the cluster-only modules.
    VALIDATE_CERTS = r"""
options:
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Defaults to the environment variable
        E(K8S_AUTH_VERIFY_SSL), then the kubeconfig's setting (verification on).
    type: bool
    aliases: [verify_ssl]
"""

    # Kubernetes TLS verification of modules whose own validate_certs is about AWS.
    AWS = r"""
options:
  k8s_validate_certs:
    description:
      - Whether to verify the Kubernetes API server's TLS certificate (kubernetes.core's C(validate_certs); this
        module's O(validate_certs) is about AWS). Defaults to the environment variable E(K8S_AUTH_VERIFY_SSL), then
        the kubeconfig's setting (verification on).
    type: bool
"""
