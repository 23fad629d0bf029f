# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
name: k8s_credential_hint
short_description: What to run when a cluster refuses the kubeconfig's credentials
version_added: 0.1.0
description:
  - Reads the user of the kubeconfig context and returns one paragraph naming C(portkey_kubeconfig) /
    C(portkey_kube_context) and what to run.
  - For an EKS kubeconfig (exec plugin C(aws eks get-token)) it runs the plugin once and quotes its error, then
    names C(aws sso login) and C(aws eks update-kubeconfig).
options:
  _input:
    description: The kubeconfig path (empty for the default, C(KUBECONFIG) or C(~/.kube/config)).
    type: str
    required: true
  context:
    description: The kubeconfig context (empty for the current context).
    type: str
"""

EXAMPLES = r"""
- name: Fail with what to run
  ansible.builtin.fail:
    msg: "{{ portkey_kubeconfig | default('') | portkey_ai.gateway.k8s_credential_hint(portkey_kube_context | default('')) }}"
"""

RETURN = r"""
_value:
  description: The hint (one paragraph).
  type: str
"""

from ansible_collections.portkey_ai.gateway.plugins.module_utils._k8s_auth import credential_hint


def k8s_credential_hint(kubeconfig, context=None):
    return credential_hint(kubeconfig or None, context or None)


class FilterModule(object):
    def filters(self):
        return {"k8s_credential_hint": k8s_credential_hint}
