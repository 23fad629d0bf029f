#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vpc_peering_routes
short_description: Add or remove exactly one peering route in existing route tables
version_added: 0.1.0
description:
  - Ensures that each of O(route_table_ids) routes O(destination_cidr_block) to the VPC peering connection
    O(vpc_peering_connection_id), and with O(state=absent) removes exactly that route (same destination, same
    peering connection), leaving every other route alone.
  - C(amazon.aws.ec2_vpc_route_table) adds routes with C(purge_routes=false) but cannot remove a single route
    without restating all the others, and it replaces a route to the same destination that points elsewhere;
    this module refuses to do that instead.
author:
  - portkey_ai.gateway maintainers (@portkey-ai)
options:
  route_table_ids:
    description: Route tables to edit.
    type: list
    elements: str
    required: true
  destination_cidr_block:
    description: The peer VPC's CIDR.
    type: str
    required: true
  vpc_peering_connection_id:
    description: The peering connection (C(pcx-...)) the route targets.
    type: str
    required: true
  state:
    description: Whether the route should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - portkey_ai.gateway.attributes.plan
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  diff_mode:
    support: full
    details: Before/after lists of routes per route table.
"""

EXAMPLES = r"""
- name: Route the control plane's VPC through the peering connection
  portkey_ai.gateway.vpc_peering_routes:
    route_table_ids: [rtb-0123456789abcdef0]
    destination_cidr_block: 10.99.0.0/16
    vpc_peering_connection_id: pcx-0123456789abcdef0

- name: Remove exactly that route again
  portkey_ai.gateway.vpc_peering_routes:
    route_table_ids: [rtb-0123456789abcdef0]
    destination_cidr_block: 10.99.0.0/16
    vpc_peering_connection_id: pcx-0123456789abcdef0
    state: absent
"""

RETURN = r"""
routes_added:
  description: Routes created (or that would be in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{route_table_id: rtb-1, destination_cidr_block: 10.99.0.0/16, vpc_peering_connection_id: pcx-1}]
routes_removed:
  description: Routes deleted (or that would be in check mode).
  returned: always
  type: list
  elements: dict
"""


try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.portkey_ai.gateway.plugins.module_utils._checks import Invalid, parse_cidr


def route_target(route):
    for key in ("VpcPeeringConnectionId", "GatewayId", "NatGatewayId", "TransitGatewayId", "NetworkInterfaceId",
                "InstanceId", "CarrierGatewayId", "LocalGatewayId", "CoreNetworkArn"):
        if route.get(key):
            return route[key]
    return "unknown"


def plan(tables, cidr, pcx, state):
    """(to_add, to_remove, conflicts, before, after) for route tables described by EC2."""
    to_add, to_remove, conflicts, before, after = [], [], [], {}, {}
    for table in tables:
        tid = table["RouteTableId"]
        routes = [r for r in table.get("Routes") or [] if r.get("DestinationCidrBlock")]
        before[tid] = sorted("%s -> %s" % (r["DestinationCidrBlock"], route_target(r)) for r in routes)
        same = [r for r in routes if r["DestinationCidrBlock"] == cidr]
        ours = [r for r in same if r.get("VpcPeeringConnectionId") == pcx]
        item = dict(route_table_id=tid, destination_cidr_block=cidr, vpc_peering_connection_id=pcx)
        line = "%s -> %s" % (cidr, pcx)
        if state == "present":
            if same and not ours:
                conflicts.append("%s routes %s to %s" % (tid, cidr, route_target(same[0])))
            elif not ours:
                to_add.append(item)
                after[tid] = sorted(before[tid] + [line])
                continue
        elif ours:
            to_remove.append(item)
            after[tid] = sorted(x for x in before[tid] if x != line)
            continue
        after[tid] = before[tid]
    return to_add, to_remove, conflicts, before, after


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            route_table_ids=dict(type="list", elements="str", required=True),
            destination_cidr_block=dict(type="str", required=True),
            vpc_peering_connection_id=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        cidr = str(parse_cidr(p["destination_cidr_block"]))
    except Invalid as exc:
        module.fail_json(msg="destination_cidr_block: %s" % exc)
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        tables = ec2.describe_route_tables(aws_retry=True, RouteTableIds=p["route_table_ids"])["RouteTables"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to describe route tables %s" % p["route_table_ids"])
    to_add, to_remove, conflicts, before, after = plan(tables, cidr, p["vpc_peering_connection_id"], p["state"])
    if conflicts:
        module.fail_json(msg="refusing to replace existing routes: %s; remove them or choose other route tables "
                             "(vpc_peering_route_table_ids)" % "; ".join(conflicts))
    if not module.check_mode:
        try:
            for item in to_remove:
                ec2.delete_route(aws_retry=True, RouteTableId=item["route_table_id"], DestinationCidrBlock=cidr)
            for item in to_add:
                ec2.create_route(aws_retry=True, RouteTableId=item["route_table_id"], DestinationCidrBlock=cidr,
                                 VpcPeeringConnectionId=p["vpc_peering_connection_id"])
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Failed to update routes for %s" % cidr)
    result = dict(changed=bool(to_add or to_remove), routes_added=to_add, routes_removed=to_remove)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
