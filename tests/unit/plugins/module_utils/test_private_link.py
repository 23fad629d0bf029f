# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VPC endpoint service plan against a fake EC2 client (moto has no endpoint connections to accept)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _private_link

PORTKEY = "arn:aws:iam::299329113195:root"
LB = dict(arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/gw/1", name="gw",
          dns_name="gw.elb.amazonaws.com", scheme="internal")


class FakeEc2(object):
    def __init__(self, configs=(), principals=None, connections=()):
        self.configs = [dict(c) for c in configs]
        self.principals = dict(principals or {})
        self.connections = list(connections)
        self.writes = []

    def describe_vpc_endpoint_service_configurations(self, **kw):
        return dict(ServiceConfigurations=self.configs)

    def describe_vpc_endpoint_service_permissions(self, ServiceId):
        return dict(AllowedPrincipals=[dict(Principal=p) for p in self.principals.get(ServiceId, [])])

    def create_vpc_endpoint_service_configuration(self, **kw):
        self.writes.append(("create", kw))
        config = dict(ServiceId="vpce-svc-new", ServiceName="com.amazonaws.vpce.us-east-1.vpce-svc-new",
                      NetworkLoadBalancerArns=kw["NetworkLoadBalancerArns"],
                      AcceptanceRequired=kw["AcceptanceRequired"], Tags=kw["TagSpecifications"][0]["Tags"])
        self.configs.append(config)
        return dict(ServiceConfiguration=config)

    def __getattr__(self, name):
        if name.startswith(("modify_", "accept_", "reject_", "delete_")):
            def call(**kw):
                self.writes.append((name, kw))
                return {}
            return call
        raise AttributeError(name)


def mine(**extra):
    config = dict(ServiceId="vpce-svc-1", ServiceName="com.amazonaws.vpce.us-east-1.vpce-svc-1",
                  NetworkLoadBalancerArns=[LB["arn"]], AcceptanceRequired=True,
                  Tags=[dict(Key=_private_link.OWNER_TAG, Value="ns/rel")])
    config.update(extra)
    return config


def conn(eid, owner, state="pendingAcceptance"):
    return dict(VpcEndpointId=eid, VpcEndpointOwner=owner, VpcEndpointState=state)


def run(ec2, principals=(PORTKEY,), accept=False, check=False, acceptance=True):
    return _private_link.reconcile(ec2, LB, 8787, "ns/rel", "us-east-1", list(principals), acceptance, accept,
                                   lambda sid: ec2.connections, check)


def test_create_in_check_mode_writes_nothing_then_creates_tagged():
    ec2 = FakeEc2(configs=[dict(mine(), Tags=[dict(Key="portkey_ai.gateway", Value="other/rel")])])
    result, diff = run(ec2, check=True)
    assert result["changed"] and result["created"] and ec2.writes == [] and diff["before"] == {}
    result, _diff = run(ec2)
    assert ec2.writes[0][0] == "create" and result["service_name"].endswith("vpce-svc-new")
    assert ec2.writes[1] == ("modify_vpc_endpoint_service_permissions",
                             dict(ServiceId="vpce-svc-new", AddAllowedPrincipals=[PORTKEY]))


def test_converged_is_unchanged_and_reports_connections():
    ec2 = FakeEc2([mine()], {"vpce-svc-1": [PORTKEY]}, [conn("vpce-1", "299329113195", "available")])
    result, _diff = run(ec2)
    assert not result["changed"] and ec2.writes == []
    assert result["connections"] == [dict(vpc_endpoint_id="vpce-1", owner="299329113195", state="available")]


def test_principal_acceptance_and_load_balancer_changes():
    ec2 = FakeEc2([mine(NetworkLoadBalancerArns=["arn:old"])], {"vpce-svc-1": [PORTKEY]})
    result, diff = run(ec2, principals=["arn:aws:iam::123456789012:role/dr"], acceptance=False)
    assert result["changed"] and diff["before"]["allowed_principals"] == [PORTKEY]
    assert ec2.writes == [
        ("modify_vpc_endpoint_service_configuration", dict(ServiceId="vpce-svc-1", AddNetworkLoadBalancerArns=[
            LB["arn"]], RemoveNetworkLoadBalancerArns=["arn:old"], AcceptanceRequired=False)),
        ("modify_vpc_endpoint_service_permissions", dict(ServiceId="vpce-svc-1", AddAllowedPrincipals=[
            "arn:aws:iam::123456789012:role/dr"], RemoveAllowedPrincipals=[PORTKEY]))]


def test_accepts_pending_connections_from_allowed_accounts_only():
    conns = [conn("vpce-portkey", "299329113195"), conn("vpce-stranger", "999999999999"),
             conn("vpce-done", "299329113195", "available")]
    ec2 = FakeEc2([mine()], {"vpce-svc-1": [PORTKEY]}, conns)
    result, _diff = run(ec2, accept=True, check=True)
    assert result["accepted"] == ["vpce-portkey"] and ec2.writes == []
    result, _diff = run(ec2, accept=True)
    assert ec2.writes == [("accept_vpc_endpoint_connections", dict(ServiceId="vpce-svc-1",
                                                                   VpcEndpointIds=["vpce-portkey"]))]
    assert [c["state"] for c in result["connections"]] == ["available", "pendingAcceptance", "available"]
    assert not run(FakeEc2([mine()], {"vpce-svc-1": [PORTKEY]}, conns), accept=False)[0]["changed"]


def test_unknown_connections_are_reported_as_none():
    ec2 = FakeEc2([mine()], {"vpce-svc-1": [PORTKEY]})
    result, _diff = _private_link.reconcile(ec2, LB, 8787, "ns/rel", "us-east-1", [PORTKEY], True, True,
                                            lambda sid: None, False)
    assert result["connections"] is None and not result["changed"]


def test_remove_only_the_owned_service_rejecting_live_connections():
    other = mine(ServiceId="vpce-svc-2", Tags=[])
    ec2 = FakeEc2([mine(), other], connections=[conn("vpce-1", "299329113195", "available"),
                                                conn("vpce-2", "299329113195", "rejected")])
    result = _private_link.remove(ec2, "ns/rel", "us-east-1", lambda sid: ec2.connections, True)
    assert result["changed"] and result["removed"] == [mine()["ServiceName"]] and ec2.writes == []
    _private_link.remove(ec2, "ns/rel", "us-east-1", lambda sid: ec2.connections, False)
    assert ec2.writes == [("reject_vpc_endpoint_connections", dict(ServiceId="vpce-svc-1", VpcEndpointIds=["vpce-1"])),
                          ("delete_vpc_endpoint_service_configurations", dict(ServiceIds=["vpce-svc-1"]))]
    assert not _private_link.remove(FakeEc2([other]), "ns/rel", "us-east-1", lambda sid: [], False)["changed"]
