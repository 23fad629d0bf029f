# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
name: gateway_pod_selector
short_description: The label selector of the gateway pods of a release
version_added: 0.1.0
description:
  - Returns the C(LabelSelector) (C(matchLabels) and C(matchExpressions)) that selects the gateway pods of a release
    and not its dataservice pods, as the modules use it (one definition, in the collection's C(_objects) utility).
options:
  _input:
    description: The Helm release name.
    type: str
    required: true
  chart_name:
    description: The chart name (the pods' C(app.kubernetes.io/name) label).
    type: str
    default: gateway
"""

EXAMPLES = r"""
- name: A PodDisruptionBudget selector
  ansible.builtin.set_fact:
    selector: "{{ 'portkey-gateway' | portkey_ai.gateway.gateway_pod_selector('gateway') }}"
"""

RETURN = r"""
_value:
  description: The label selector.
  type: dict
"""

from ansible_collections.portkey_ai.gateway.plugins.module_utils._objects import gateway_label_selector


def gateway_pod_selector(release, chart_name="gateway"):
    return gateway_label_selector(release, chart_name or "gateway")


class FilterModule(object):
    def filters(self):
        return {"gateway_pod_selector": gateway_pod_selector}
