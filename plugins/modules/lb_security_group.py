#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: lb_security_group
short_description: Open the gateway's load balancer port to the Portkey control plane
version_added: 0.1.0
description:
  - Reads the gateway's Kubernetes Service of type C(LoadBalancer), waits (bounded) for its
    C(status.loadBalancer.ingress[].hostname), finds the AWS load balancer with that DNS name
    (ELBv2 application or network load balancer, or classic ELB) and its security groups.
  - Reconciles inbound rules on the Service port for the control plane's sources (CIDRs, security groups,
    prefix lists). Every rule it adds carries O(rule_description); it only ever removes rules with that exact
    description (with O(purge=true) or O(state=absent)), so rules written by others are never touched.
  - Refuses C(0.0.0.0/0) and C(::/0) unless O(allow_world=true).
  - With O(exclusive=true), rules of anybody else that reach the port from other sources are removed too (rules
    that open the port to the world included); without it, such a world-open rule on the load balancer's port
    fails the run before any change.
  - A network load balancer without security groups cannot be restricted this way; the module then warns,
    changes nothing, and returns the Service C(spec.loadBalancerSourceRanges) to use instead
    (RV(source_ranges_suggestion)).
  - Without O(service_name), it works directly on O(target_security_group_ids) (for example the VPC peering
    rule of the C(vpc_peering) role).
author:
  - portkey_ai.gateway maintainers (@portkey-ai)
options:
  state:
    description:
      - V(present) adds the missing rules (and with O(purge=true) removes stale owned rules).
      - V(absent) removes every rule carrying O(rule_description), on any port.
    type: str
    choices: [present, absent]
    default: present
  service_name:
    description:
      - Name of the gateway's Service of type C(LoadBalancer).
      - One of O(service_name) and O(target_security_group_ids) is required.
    type: str
  namespace:
    description: Namespace of the Service.
    type: str
    default: portkeyai
  target_security_group_ids:
    description:
      - Security groups to edit.
      - With O(service_name), a subset of the load balancer's security groups (default the first one).
      - Without O(service_name), the groups edited directly (O(port) is then required for O(state=present)).
    type: list
    elements: str
  sources:
    description: Who may connect.
    type: dict
    suboptions:
      cidrs:
        description: IPv4 / IPv6 CIDRs. Defaults to the documented control-plane address when O(sources) is not given.
        type: list
        elements: str
      security_group_ids:
        description: Source security group ids.
        type: list
        elements: str
      prefix_list_ids:
        description: Managed prefix list ids.
        type: list
        elements: str
  port:
    description: TCP port to open. Defaults to the Service port (the only one, else the one named C(gateway)).
    type: int
  purge:
    description: Remove rules carrying O(rule_description) that are no longer wanted.
    type: bool
    default: false
  exclusive:
    description:
      - With O(state=present), remove every inbound rule of anybody that lets traffic reach O(port) (exact port,
        port range or all traffic) from a source that is not in O(sources), so the port is reachable only from
        O(sources). Rules on other ports are left alone.
    type: bool
    default: false
  allow_world:
    description:
      - Allow C(0.0.0.0/0) or C(::/0) in O(sources.cidrs). Without it such a source is an error.
      - Without it, a rule of somebody else that opens the load balancer's port to the world (with O(service_name))
        fails the run before any change, unless O(exclusive=true) removes it.
    type: bool
    default: false
  rule_description:
    description:
      - Description that marks the rules this module owns, for example C(portkey_ai.gateway:portkey-gateway).
      - Defaults to C(portkey_ai.gateway:<service_name>); required without O(service_name).
    type: str
  wait_timeout:
    description: Seconds to wait for the Service's load-balancer hostname and the load balancer with that DNS name.
    type: int
    default: 300
  wait_interval:
    description: Seconds between two reads of the Service while waiting.
    type: int
    default: 5
extends_documentation_fragment:
  - portkey_ai.gateway.attributes.plan
  - portkey_ai.gateway.k8s_auth
  - portkey_ai.gateway.k8s_auth.aws
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  diff_mode:
    support: full
    details: Before/after lists of inbound rules per security group.
requirements:
  - kubernetes (Python client) when O(service_name) is used
notes:
  - Controllers that manage a load balancer's security group themselves (the in-tree AWS cloud provider for
    classic ELBs, the AWS Load Balancer Controller's managed groups) may rewrite its rules; for those prefer
    the Service's C(loadBalancerSourceRanges) or bring your own security group.
"""

EXAMPLES = r"""
- name: Allow the Portkey control plane to reach the gateway's load balancer
  portkey_ai.gateway.lb_security_group:
    service_name: portkey-gateway
    namespace: portkeyai
    rule_description: "portkey_ai.gateway:portkey-gateway"
    region: us-east-1

- name: Allow an internal network and a security group, removing older rules of ours
  portkey_ai.gateway.lb_security_group:
    service_name: portkey-gateway
    sources:
      cidrs: [10.20.0.0/16]
      security_group_ids: [sg-0123456789abcdef0]
    purge: true

- name: Open the gateway port to a peered VPC on given security groups
  portkey_ai.gateway.lb_security_group:
    target_security_group_ids: [sg-0123456789abcdef0]
    port: 8787
    sources: {cidrs: [10.99.0.0/16]}
    rule_description: "portkey_ai.gateway:portkey-gateway:vpc-peering"
"""

RETURN = r"""
load_balancer:
  description: The load balancer found for the Service (empty without O(service_name)).
  returned: always
  type: dict
  contains:
    type: {description: "application, network or classic", type: str, sample: network}
    arn: {description: ELBv2 ARN (null for classic), type: str}
    name: {description: Load balancer name, type: str}
    dns_name: {description: DNS name, type: str}
    security_groups: {description: Its security groups, type: list, elements: str}
service:
  description: The Service read (empty without O(service_name)).
  returned: always
  type: dict
  sample: {name: portkey-gateway, namespace: portkeyai, hostname: "a1.elb.amazonaws.com", port: 8787}
port:
  description: The TCP port the rules are for.
  returned: always
  type: int
  sample: 8787
security_group_ids:
  description: The security groups reconciled.
  returned: always
  type: list
  elements: str
rules_added:
  description: Rules added (or that would be added in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{security_group_id: sg-1, protocol: tcp, from_port: 8787, to_port: 8787, source_type: cidr_ipv4,
            source: 44.221.117.129/32, description: "portkey_ai.gateway:portkey-gateway"}]
rules_removed:
  description: Owned rules removed (or that would be removed in check mode).
  returned: always
  type: list
  elements: dict
rules:
  description: Rules carrying O(rule_description) after the run.
  returned: always
  type: list
  elements: dict
source_ranges_suggestion:
  description:
    - When the load balancer has no security groups, the CIDRs to set as the Service's
      C(spec.loadBalancerSourceRanges) (or annotation C(service.beta.kubernetes.io/load-balancer-source-ranges)).
    - Empty otherwise.
  returned: always
  type: list
  elements: str
  sample: [44.221.117.129/32]
world_open:
  description: Whether, after the run, some rule still opens the port to 0.0.0.0/0 or ::/0 (a warning is issued).
  returned: always
  type: bool
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.portkey_ai.gateway.plugins.module_utils import _lb
from ansible_collections.portkey_ai.gateway.plugins.module_utils._k8s_auth import (
    AWS_VALIDATE_CERTS_NAME, HAS_KUBERNETES as HAS_K8S, aws_service_spec, service_reader,
)


def locate(module, ec2, result):
    """Fill ``result`` with the Service and load balancer; return (target groups, port) or None to stop."""
    p = module.params
    label = "%s/%s" % (p["namespace"], p["service_name"])
    read = service_reader(p, p["service_name"], p["namespace"], AWS_VALIDATE_CERTS_NAME, _lb.LbError)
    service, hostname, lb = _lb.locate_load_balancer(
        read, lambda: _lb.list_elbv2(module.client("elbv2")), lambda: _lb.list_classic(module.client("elb")),
        label, p["wait_timeout"], p["wait_interval"], region=module.region, absent=p["state"] == "absent",
        warn=module.warn)
    if lb is None:
        return None
    port = _lb.service_port(service, p["port"])
    result["port"] = port
    result["service"] = dict(name=p["service_name"], namespace=p["namespace"], hostname=hostname, port=port)
    result["load_balancer"] = lb
    groups = lb["security_groups"]
    if not groups:
        result["source_ranges_suggestion"] = _lb.suggest_source_ranges(p["sources"])
        module.warn("the %s load balancer %s has no security groups; restrict it with the Service's "
                    "spec.loadBalancerSourceRanges instead: %s"
                    % (lb["type"], lb["name"], result["source_ranges_suggestion"]))
        return None
    if p["target_security_group_ids"]:
        foreign = [g for g in p["target_security_group_ids"] if g not in groups]
        if foreign:
            raise _lb.LbError("target_security_group_ids %s are not security groups of load balancer %s (%s)"
                              % (foreign, lb["name"], groups))
        return list(p["target_security_group_ids"]), port
    return [groups[0]], port


def describe_rules(module, ec2, group_ids):
    try:
        groups = ec2.describe_security_groups(aws_retry=True, GroupIds=group_ids)["SecurityGroups"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to describe security groups %s" % group_ids)
    found = dict((g["GroupId"], _lb.flatten_permissions(g.get("IpPermissions"))) for g in groups)
    missing = [g for g in group_ids if g not in found]
    if missing:
        raise _lb.LbError("security groups not found: %s" % missing)
    return found


def reconcile(module):
    p = module.params
    result = dict(changed=False, load_balancer={}, service={}, port=p["port"], security_group_ids=[],
                  rules_added=[], rules_removed=[], rules=[], source_ranges_suggestion=[], world_open=False)
    if p["sources"] is None:
        p["sources"] = dict(cidrs=list(_lb.CONTROL_PLANE_CIDRS))
    description = p["rule_description"] or "portkey_ai.gateway:%s" % p["service_name"]
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    if p["service_name"]:
        located = locate(module, ec2, result)
        if located is None:
            return result
        group_ids, port = located
    else:
        group_ids, port = list(p["target_security_group_ids"]), p["port"]
        if port is None and p["state"] == "present":
            raise _lb.LbError("port is required when target_security_group_ids is used without service_name")
    result["port"] = port
    result["security_group_ids"] = group_ids
    desired = []
    if p["state"] == "present":
        desired = _lb.desired_rules(p["sources"], port, description, p["allow_world"])

    current = describe_rules(module, ec2, group_ids)
    before, after, plans = {}, {}, []
    for gid in group_ids:
        existing = current[gid]
        if p["state"] == "present":
            to_add, to_remove = _lb.plan_rules(existing, desired, description, p["purge"] or p["exclusive"])
            if p["exclusive"]:
                to_remove += [r for r in _lb.plan_exclusive(existing, desired, port) if r not in to_remove]
        else:
            to_add, to_remove = [], _lb.owned(existing, description)
        remaining = [r for r in existing if r not in to_remove] + to_add
        before[gid] = sorted(_lb.format_rule(r) for r in existing)
        after[gid] = sorted(_lb.format_rule(r) for r in remaining)
        result["rules_added"].extend(_lb.public_rule(r, gid) for r in to_add)
        result["rules_removed"].extend(_lb.public_rule(r, gid) for r in to_remove)
        result["rules"].extend(_lb.public_rule(r, gid) for r in _lb.owned(remaining, description))
        if p["state"] == "present" and port and _lb.world_open_on_port(remaining, port) and not p["allow_world"]:
            result["world_open"] = True
            msg = ("security group %s opens port %s to the whole internet through a rule this module does not own "
                   "(%s), so the allow-list has no effect" % (gid, port, ", ".join(
                       _lb.format_rule(r) for r in remaining if _lb.is_world_rule(r) and _lb.covers_port(r, port))))
            if p["service_name"]:
                # the load balancer's port: refuse before any change
                raise _lb.LbError(msg + "; remove it with portkey_lb_security_group.purge: true (exclusive: the port "
                                  "stays reachable only from the allowed sources), or keep it deliberately with "
                                  "portkey_lb_security_group.allow_world: true", world_open=True)
            module.warn(msg)
        plans.append((gid, to_add, to_remove))
    for gid, to_add, to_remove in plans:
        if (to_add or to_remove) and not module.check_mode:
            apply_changes(module, ec2, gid, to_add, to_remove)
        result["changed"] = result["changed"] or bool(to_add or to_remove)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    return result


def apply_changes(module, ec2, gid, to_add, to_remove):
    try:
        if to_remove:
            ec2.revoke_security_group_ingress(aws_retry=True, GroupId=gid,
                                              IpPermissions=_lb.rules_to_permissions(to_remove))
        if to_add:
            ec2.authorize_security_group_ingress(aws_retry=True, GroupId=gid,
                                                 IpPermissions=_lb.rules_to_permissions(to_add))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to update the inbound rules of security group %s" % gid)


def main():
    argument_spec = aws_service_spec(
        target_security_group_ids=dict(type="list", elements="str"),
        sources=dict(type="dict", options=dict(
            cidrs=dict(type="list", elements="str"),
            security_group_ids=dict(type="list", elements="str"),
            prefix_list_ids=dict(type="list", elements="str"),
        )),
        port=dict(type="int"),
        purge=dict(type="bool", default=False),
        exclusive=dict(type="bool", default=False),
        allow_world=dict(type="bool", default=False),
        rule_description=dict(type="str"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[("service_name", "target_security_group_ids")],
    )
    if module.params["service_name"] and not HAS_K8S:
        module.fail_json(msg=missing_required_lib("kubernetes"))
    if not module.params["service_name"] and not module.params["rule_description"]:
        module.fail_json(msg="rule_description is required when target_security_group_ids is used without service_name")
    try:
        module.exit_json(**reconcile(module))
    except _lb.LbError as exc:
        module.fail_json(msg=str(exc), **exc.details)


if __name__ == "__main__":
    main()
