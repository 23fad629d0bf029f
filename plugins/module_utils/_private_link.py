# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private helpers of the ``vpc_endpoint_service`` module (not a public API).

The VPC endpoint service (AWS PrivateLink) on the gateway's network load balancer: find the configuration this
collection created (marked by the ``portkey_ai.gateway`` tag), plan its creation or update (load balancer,
acceptance, allowed principals), accept pending connections from allowed accounts only, and remove it. The EC2
client is an argument, so tests hand in fakes; AWS errors propagate to the caller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _lb

OWNER_TAG = "portkey_ai.gateway"
PENDING = "pendingAcceptance"
# connection states that keep an endpoint service from being deleted
LIVE_STATES = ("pendingAcceptance", "pending", "available")


def tag_value(resource, key):
    for tag in resource.get("Tags") or []:
        if tag.get("Key") == key:
            return tag.get("Value")
    return None


def owned_configurations(ec2, owner):
    """The endpoint service configurations tagged ``portkey_ai.gateway=<owner>``."""
    configs = []
    token = None
    while True:
        kwargs = dict(NextToken=token) if token else {}
        page = ec2.describe_vpc_endpoint_service_configurations(**kwargs)
        configs.extend(page.get("ServiceConfigurations") or [])
        token = page.get("NextToken")
        if not token:
            break
    return [c for c in configs if tag_value(c, OWNER_TAG) == owner and c.get("ServiceState") != "Deleted"]


def current_principals(ec2, service_id):
    page = ec2.describe_vpc_endpoint_service_permissions(ServiceId=service_id)
    return sorted(p["Principal"] for p in page.get("AllowedPrincipals") or [] if p.get("Principal"))


def plan_update(config, lb_arn, acceptance_required, principals_now, principals_wanted):
    """The calls that bring ``config`` to the wanted state: (modify kwargs or {}, principals to add, to remove)."""
    modify = {}
    arns = list(config.get("NetworkLoadBalancerArns") or [])
    if lb_arn not in arns:
        modify["AddNetworkLoadBalancerArns"] = [lb_arn]
    stale = [a for a in arns if a != lb_arn]
    if stale:
        modify["RemoveNetworkLoadBalancerArns"] = stale
    if bool(config.get("AcceptanceRequired")) != bool(acceptance_required):
        modify["AcceptanceRequired"] = bool(acceptance_required)
    add = sorted(set(principals_wanted) - set(principals_now))
    remove = sorted(set(principals_now) - set(principals_wanted))
    return modify, add, remove


def public_connection(conn):
    return dict(vpc_endpoint_id=conn.get("VpcEndpointId"), owner=conn.get("VpcEndpointOwner"),
                state=conn.get("VpcEndpointState"))


def to_accept(connections, principals):
    """Pending connections whose owner account is one of the allowed principals' accounts."""
    accounts = set(_lb.principal_account(p) for p in principals) - set([None])
    return [c for c in connections or [] if c.get("state") == PENDING and c.get("owner") in accounts]


def reconcile(ec2, lb, port, owner, region, principals, acceptance_required, accept_connections,
              list_connections, check_mode):
    """Create or update the endpoint service on ``lb``; returns the module result (without ``diff``)."""
    result = dict(changed=False, created=False, service_id=None, service_name=None, region=region, port=port,
                  load_balancer=dict((k, lb.get(k)) for k in ("arn", "name", "dns_name", "scheme")),
                  acceptance_required=bool(acceptance_required), allowed_principals=sorted(principals),
                  connections=[], accepted=[], removed=[])
    before, after = {}, dict(load_balancer_arns=[lb["arn"]], acceptance_required=bool(acceptance_required),
                             allowed_principals=sorted(principals))
    owned = owned_configurations(ec2, owner)
    if len(owned) > 1:
        raise _lb.LbError("more than one VPC endpoint service is tagged %s=%s (%s); delete the extra ones"
                          % (OWNER_TAG, owner, ", ".join(c["ServiceId"] for c in owned)))
    if not owned:
        result.update(changed=True, created=True)
        if check_mode:
            return result, dict(before=before, after=after)
        config = ec2.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[lb["arn"]], AcceptanceRequired=bool(acceptance_required),
            TagSpecifications=[dict(ResourceType="vpc-endpoint-service",
                                    Tags=[dict(Key=OWNER_TAG, Value=owner)])])["ServiceConfiguration"]
        now = []
    else:
        config = owned[0]
        now = current_principals(ec2, config["ServiceId"])
        before = dict(load_balancer_arns=sorted(config.get("NetworkLoadBalancerArns") or []),
                      acceptance_required=bool(config.get("AcceptanceRequired")), allowed_principals=now)
    result.update(service_id=config["ServiceId"], service_name=config.get("ServiceName"))
    modify, add, remove = plan_update(config, lb["arn"], acceptance_required, now, principals)
    if modify or add or remove:
        result["changed"] = True
        if not check_mode:
            if modify and not result["created"]:
                ec2.modify_vpc_endpoint_service_configuration(ServiceId=config["ServiceId"], **modify)
            if add or remove:
                kwargs = dict(ServiceId=config["ServiceId"])
                if add:
                    kwargs["AddAllowedPrincipals"] = add
                if remove:
                    kwargs["RemoveAllowedPrincipals"] = remove
                ec2.modify_vpc_endpoint_service_permissions(**kwargs)
    connections = list_connections(config["ServiceId"])
    if connections is None:
        result["connections"] = None
    else:
        result["connections"] = [public_connection(c) for c in connections]
        if accept_connections:
            ids = [c["vpc_endpoint_id"] for c in to_accept(result["connections"], principals)]
            if ids:
                result["changed"] = True
                result["accepted"] = ids
                if not check_mode:
                    ec2.accept_vpc_endpoint_connections(ServiceId=config["ServiceId"], VpcEndpointIds=ids)
                for conn in result["connections"]:
                    if conn["vpc_endpoint_id"] in ids:
                        conn["state"] = "available" if not check_mode else conn["state"]
    return result, dict(before=before, after=after)


def remove(ec2, owner, region, list_connections, check_mode):
    """Delete the endpoint services tagged ``owner`` (rejecting their live connections first)."""
    result = dict(changed=False, created=False, service_id=None, service_name=None, region=region, port=None,
                  load_balancer={}, acceptance_required=None, allowed_principals=[], connections=[], accepted=[],
                  removed=[])
    for config in owned_configurations(ec2, owner):
        result["removed"].append(config.get("ServiceName") or config["ServiceId"])
        result["changed"] = True
        if check_mode:
            continue
        live = [c["VpcEndpointId"] for c in list_connections(config["ServiceId"]) or []
                if c.get("VpcEndpointState") in LIVE_STATES]
        if live:
            ec2.reject_vpc_endpoint_connections(ServiceId=config["ServiceId"], VpcEndpointIds=live)
        failed = ec2.delete_vpc_endpoint_service_configurations(ServiceIds=[config["ServiceId"]]).get("Unsuccessful")
        if failed:
            raise _lb.LbError("could not delete VPC endpoint service %s: %s" % (config["ServiceId"], failed))
    return result
