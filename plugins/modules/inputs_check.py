#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: inputs_check
short_description: Check every portkey_* inventory variable before any change
version_added: 0.1.0
description:
  - The input model of the collection. The chart source settings, helm settings (C(portkey_helm_timeout) as a duration), the kubeconfig file
    and context, AWS regions (botocore's partition data), the gateway values (the same rules as
    M(portkey_ai.gateway.gateway_values) - namespace and release names, HPA bounds against the chart's defaults, the
    chart generation against C(Chart.yaml)), network policy, load balancer security group, VPC peering and log store
    settings (CIDRs with Python's C(ipaddress), AWS ids, account ids, bucket names).
  - Reports every problem at once, each naming the C(portkey_*) inventory variable and the fix. Credentials in
    URLs are redacted from the messages.
  - Runs on the controller (an action plugin); reads local files only (kubeconfig, the chart's C(values.yaml)),
    never the cluster or AWS. Never reports changed.
author:
  - portkey_ai.gateway maintainers (@portkey-ai)
options:
  variables:
    description:
      - The C(portkey_*) variables to check, by name. Default is every C(portkey_*) variable of the host.
      - Roles pass their effective settings here under the inventory variable's name, so the messages name it.
    type: dict
  only:
    description:
      - Check only these sections. Default is all.
      - An empty list checks nothing and only reports RV(steps). Playbooks that must not be blocked by unrelated
        settings (C(render.yml), C(uninstall.yml)) learn from it which steps are enabled, from the one definition.
    type: list
    elements: str
    choices: [chart, helm, cluster, aws, values, network_policy, lb_security_group, vpc_peering, log_store, cache,
              rollout]
  chart:
    description:
      - The chart (the result of M(portkey_ai.gateway.chart_source), with C(path), C(chart_name),
        C(chart_version)); the chart's generation and defaults are checked against the inputs.
    type: dict
  facts:
    description:
      - Read-only look-ups the model cannot make itself, when known.
      - C(account_id) (the AWS caller's account) and C(vpc_cidrs) (the cluster VPC's CIDRs, for the peer CIDR
        overlap check).
    type: dict
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - portkey_ai.gateway.attributes.read_only
"""

EXAMPLES = r"""
- name: Check every portkey_* input before any change
  portkey_ai.gateway.inputs_check:
    chart: "{{ chart_source_result }}"

- name: Check a role's effective settings, named as the inventory variables
  portkey_ai.gateway.inputs_check:
    only: [lb_security_group]
    variables:
      portkey_lb_security_group:
        enabled: true
        cidrs: ["44.221.117.129/32"]
"""

RETURN = r"""
errors:
  description: "Every problem found, each C(<portkey_* variable>: <problem>; <fix>)."
  returned: always
  type: list
  elements: str
  sample: ["portkey_helm_timeout: '5 minutes' is not a positive duration; write it as helm does, e.g. 5m"]
steps:
  description:
    - Which optional steps of C(site.yml) run (the C(enabled) of C(portkey_log_store_aws), C(portkey_network_policy),
      C(portkey_lb_security_group), C(portkey_vpc_peering)), and C(aws_identity), whether the AWS caller must be known
      before any change. The one definition of these conditions; C(site.yml) and the preflight role read it.
  returned: always
  type: dict
  sample: {log_store: false, network_policy: true, lb_security_group: false, vpc_peering: false, aws_identity: false}
checked:
  description: The sections checked (C(all) when every section was).
  returned: always
  type: raw
  sample: all
"""
