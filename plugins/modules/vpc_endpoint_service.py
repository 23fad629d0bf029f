#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vpc_endpoint_service
short_description: AWS PrivateLink to the gateway - a VPC endpoint service on the Service's network load balancer
version_added: 0.1.0
description:
  - Reads the gateway's Kubernetes Service of type C(LoadBalancer), waits (bounded by O(wait_timeout)) for its
    load-balancer hostname and for the network load balancer with that DNS name.
  - Creates or updates the VPC endpoint service on that load balancer (acceptance required by default) and its
    allowed principals (by default Portkey's C(arn:aws:iam::299329113195:root)), tagged
    C(portkey_ai.gateway=<owner>) so that O(state=absent) removes only what this module created.
  - With O(accept_connections=true), accepts pending connection requests whose endpoint owner is the account of
    one of O(allowed_principals), and no others.
  - Neither amazon.aws nor community.aws has a module for endpoint service configurations (only consumer endpoints
    and an info module), hence this one.
author:
  - portkey_ai.gateway maintainers (@portkey-ai)
options:
  state:
    description:
      - V(present) creates or updates the endpoint service.
      - V(absent) deletes the endpoint services tagged with O(owner) (rejecting their live connections first); the
        Service is not read.
    type: str
    choices: [present, absent]
    default: present
  service_name:
    description: Name of the gateway's Service of type C(LoadBalancer). Required with O(state=present).
    type: str
  namespace:
    description: Namespace of the Service.
    type: str
    default: portkeyai
  owner:
    description: Value of the C(portkey_ai.gateway) tag that marks the endpoint service of this gateway.
    type: str
    required: true
  allowed_principals:
    description: IAM principal ARNs allowed to connect (the list replaces the service's allowed principals).
    type: list
    elements: str
    default: ["arn:aws:iam::299329113195:root"]
  acceptance_required:
    description: Whether connection requests need acceptance.
    type: bool
    default: true
  accept_connections:
    description: Accept pending connection requests from the accounts of O(allowed_principals).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the Service's load-balancer hostname and its network load balancer.
    type: int
    default: 300
  wait_interval:
    description: Seconds between two looks while waiting.
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
    details: Before/after load balancer ARNs, acceptance and allowed principals.
requirements:
  - kubernetes (Python client)
notes:
  - "IAM: C(ec2:CreateVpcEndpointServiceConfiguration), C(ec2:DescribeVpcEndpointServiceConfigurations),
    C(ec2:ModifyVpcEndpointServiceConfiguration), C(ec2:DeleteVpcEndpointServiceConfigurations),
    C(ec2:DescribeVpcEndpointServicePermissions), C(ec2:ModifyVpcEndpointServicePermissions),
    C(ec2:DescribeVpcEndpointConnections), C(ec2:AcceptVpcEndpointConnections),
    C(ec2:RejectVpcEndpointConnections), C(ec2:CreateTags), C(elasticloadbalancing:DescribeLoadBalancers)."
  - When the endpoint connections cannot be listed, a warning says so and RV(connections) is null.
"""

EXAMPLES = r"""
- name: Offer the gateway to Portkey's control plane over PrivateLink
  portkey_ai.gateway.vpc_endpoint_service:
    service_name: portkey-gateway
    namespace: portkeyai
    owner: portkeyai/portkey-gateway
    region: us-east-1

- name: Also accept Portkey's pending connection request
  portkey_ai.gateway.vpc_endpoint_service:
    service_name: portkey-gateway
    owner: portkeyai/portkey-gateway
    accept_connections: true

- name: Remove it
  portkey_ai.gateway.vpc_endpoint_service:
    state: absent
    owner: portkeyai/portkey-gateway
"""

RETURN = r"""
service_id:
  description: The endpoint service id (null in check mode before its creation).
  returned: always
  type: str
  sample: vpce-svc-0123456789abcdef0
service_name:
  description: The endpoint service name to hand to Portkey.
  returned: always
  type: str
  sample: com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0
region:
  description: The AWS region.
  returned: always
  type: str
port:
  description: The Service (listener) port Portkey connects to.
  returned: always
  type: int
  sample: 8787
load_balancer:
  description: The network load balancer behind the Service (arn, name, dns_name, scheme).
  returned: always
  type: dict
acceptance_required:
  description: Whether connection requests need acceptance.
  returned: always
  type: bool
allowed_principals:
  description: The allowed principals after the run.
  returned: always
  type: list
  elements: str
connections:
  description: Each endpoint connection (vpc_endpoint_id, owner, state); null when they could not be listed.
  returned: always
  type: list
  elements: dict
  sample: [{vpc_endpoint_id: vpce-0123, owner: "299329113195", state: pendingAcceptance}]
accepted:
  description: Endpoint ids whose connection was accepted (or would be, in check mode).
  returned: always
  type: list
  elements: str
created:
  description: Whether the endpoint service was created by this run.
  returned: always
  type: bool
removed:
  description: Endpoint service names deleted (O(state=absent)).
  returned: always
  type: list
  elements: str
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.portkey_ai.gateway.plugins.module_utils import _lb, _private_link
from ansible_collections.portkey_ai.gateway.plugins.module_utils._k8s_auth import (
    AWS_VALIDATE_CERTS_NAME, HAS_KUBERNETES as HAS_K8S, aws_service_spec, service_reader,
)


def connections_lister(module, ec2):
    def list_connections(service_id):
        try:
            found = []
            for page in ec2.get_paginator("describe_vpc_endpoint_connections").paginate(
                    Filters=[dict(Name="service-id", Values=[service_id])]):
                found.extend(page.get("VpcEndpointConnections") or [])
            return found
        except Exception as e:  # reporting only: AWS errors, and endpoints without the call (moto) of any kind
            module.warn("cannot list the connections of VPC endpoint service %s (ec2:DescribeVpcEndpointConnections): "
                        "%s" % (service_id, e))
            return None
    return list_connections


def find_network_load_balancer(module):
    p = module.params
    label = "%s/%s" % (p["namespace"], p["service_name"])
    read = service_reader(p, p["service_name"], p["namespace"], AWS_VALIDATE_CERTS_NAME, _lb.LbError)
    service, _hostname, lb = _lb.locate_load_balancer(
        read, lambda: _lb.list_elbv2(module.client("elbv2")), lambda: [], label, p["wait_timeout"],
        p["wait_interval"], timeout_var="portkey_private_link.wait_timeout", region=module.region)
    if lb["type"] != "network":
        raise _lb.LbError("PrivateLink needs a network load balancer, but Service %s is behind the %s load balancer "
                          "%s; enable the AWS Load Balancer Controller's NLB with portkey_private_link.enabled (and "
                          "portkey_load_balancer) and redeploy" % (label, lb["type"], lb["name"]))
    if lb.get("scheme") != "internal":
        raise _lb.LbError("the network load balancer %s of Service %s is %s; PrivateLink with "
                          "portkey_private_link.enabled expects an internal one (portkey_load_balancer.scheme: "
                          "internal)" % (lb["name"], label, lb.get("scheme")))
    return lb, _lb.service_port(service)


def run(module):
    p = module.params
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    lister = connections_lister(module, ec2)
    if p["state"] == "absent":
        result = _private_link.remove(ec2, p["owner"], module.region, lister, module.check_mode)
        return result, dict(before=dict(endpoint_services=result["removed"]), after=dict(endpoint_services=[]))
    lb, port = find_network_load_balancer(module)
    return _private_link.reconcile(ec2, lb, port, p["owner"], module.region, p["allowed_principals"],
                                   p["acceptance_required"], p["accept_connections"], lister, module.check_mode)


def main():
    argument_spec = aws_service_spec(
        owner=dict(type="str", required=True),
        allowed_principals=dict(type="list", elements="str", default=[_lb.PORTKEY_PRINCIPAL]),
        acceptance_required=dict(type="bool", default=True),
        accept_connections=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              required_if=[("state", "present", ("service_name",))])
    p = module.params
    settings, problems = _lb.check_private_link(dict(
        enabled=True, allowed_principals=p["allowed_principals"], wait_timeout=p["wait_timeout"],
        wait_interval=p["wait_interval"]))
    if problems:
        module.fail_json(msg="; ".join("%s: %s" % item for item in problems))
    if p["state"] == "present" and not HAS_K8S:
        module.fail_json(msg=missing_required_lib("kubernetes"))
    p["allowed_principals"] = settings["allowed_principals"]
    try:
        result, diff = run(module)
    except _lb.LbError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="VPC endpoint service (PrivateLink) call failed")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
