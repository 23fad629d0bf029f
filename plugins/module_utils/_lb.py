# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private helpers of the ``lb_security_group`` module (not a public API).

Pure logic: turn the control plane's sources into security-group rules, flatten AWS ``IpPermissions``,
plan additions and removals of the rules this collection owns (marked by their description), match a
Kubernetes Service's load-balancer hostname against ELBv2 / classic ELB descriptions, and wait for that
hostname. The AWS and Kubernetes calls take their clients as arguments so tests can hand in fakes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import time

CONTROL_PLANE_CIDRS = ["44.221.117.129/32"]
WORLD = ("0.0.0.0/0", "::/0")

KIND_IPV4 = "cidr_ipv4"
KIND_IPV6 = "cidr_ipv6"
KIND_SG = "security_group"
KIND_PL = "prefix_list"
KINDS = (KIND_IPV4, KIND_IPV6, KIND_SG, KIND_PL)


class LbError(Exception):
    """A problem the user can fix; the message says how."""

    def __init__(self, msg, **details):
        super(LbError, self).__init__(msg)
        self.details = details


# --------------------------------------------------------------------------------------------------
# sources -> desired rules


def normalize_cidr(value, option="sources.cidrs"):
    try:
        net = ipaddress.ip_network(str(value).strip(), strict=True)
    except ValueError as exc:
        raise LbError("%s: %r is not a valid CIDR (%s); give a network address such as 44.221.117.129/32"
                      % (option, value, exc))
    return str(net), (KIND_IPV4 if net.version == 4 else KIND_IPV6)


def is_world(cidr):
    return ipaddress.ip_network(cidr, strict=False).prefixlen == 0


def desired_rules(sources, port, description, allow_world=False, world_option="allow_world"):
    """Rules (dicts) for every source on tcp/``port``, each carrying ``description``.

    Raises LbError when a CIDR is the whole address space and ``allow_world`` is not set.
    """
    sources = sources or {}
    rules = []
    world = []
    for cidr in sources.get("cidrs") or []:
        norm, kind = normalize_cidr(cidr)
        if is_world(norm):
            world.append(norm)
        rules.append(_rule(kind, norm, port, description))
    if world and not allow_world:
        raise LbError(
            "sources.cidrs contains %s, which opens port %s to the whole internet; remove it, or set %s: true "
            "to allow it explicitly" % (", ".join(world), port, world_option))
    for sg in sources.get("security_group_ids") or []:
        if not str(sg).startswith("sg-"):
            raise LbError("sources.security_group_ids: %r is not a security group id (sg-...)" % (sg,))
        rules.append(_rule(KIND_SG, str(sg), port, description))
    for pl in sources.get("prefix_list_ids") or []:
        if not str(pl).startswith("pl-"):
            raise LbError("sources.prefix_list_ids: %r is not a prefix list id (pl-...)" % (pl,))
        rules.append(_rule(KIND_PL, str(pl), port, description))
    # de-duplicate, keep order
    seen = set()
    out = []
    for r in rules:
        if rule_key(r) not in seen:
            seen.add(rule_key(r))
            out.append(r)
    return out


def _rule(kind, value, port, description, protocol="tcp"):
    return dict(protocol=protocol, from_port=port, to_port=port, kind=kind, value=value, description=description)


def rule_key(rule):
    return (str(rule["protocol"]), rule.get("from_port"), rule.get("to_port"), rule["kind"], rule["value"])


# --------------------------------------------------------------------------------------------------
# AWS IpPermissions <-> flat rules


def flatten_permissions(ip_permissions):
    """One dict per (protocol, ports, source) from a security group's ``IpPermissions``."""
    rules = []
    for perm in ip_permissions or []:
        proto = str(perm.get("IpProtocol"))
        base = dict(protocol=proto, from_port=perm.get("FromPort"), to_port=perm.get("ToPort"))
        for r in perm.get("IpRanges") or []:
            rules.append(dict(base, kind=KIND_IPV4, value=r["CidrIp"], description=r.get("Description", "")))
        for r in perm.get("Ipv6Ranges") or []:
            rules.append(dict(base, kind=KIND_IPV6, value=r["CidrIpv6"], description=r.get("Description", "")))
        for r in perm.get("UserIdGroupPairs") or []:
            rules.append(dict(base, kind=KIND_SG, value=r["GroupId"], description=r.get("Description", "")))
        for r in perm.get("PrefixListIds") or []:
            rules.append(dict(base, kind=KIND_PL, value=r["PrefixListId"], description=r.get("Description", "")))
    return rules


def rules_to_permissions(rules):
    """Group flat rules back into ``IpPermissions`` (one entry per protocol/port range)."""
    grouped = {}
    order = []
    for r in rules:
        k = (r["protocol"], r.get("from_port"), r.get("to_port"))
        if k not in grouped:
            order.append(k)
            perm = dict(IpProtocol=r["protocol"])
            if r.get("from_port") is not None:
                perm["FromPort"] = r["from_port"]
            if r.get("to_port") is not None:
                perm["ToPort"] = r["to_port"]
            grouped[k] = perm
        perm = grouped[k]
        entry_desc = {"Description": r["description"]} if r.get("description") else {}
        if r["kind"] == KIND_IPV4:
            perm.setdefault("IpRanges", []).append(dict(CidrIp=r["value"], **entry_desc))
        elif r["kind"] == KIND_IPV6:
            perm.setdefault("Ipv6Ranges", []).append(dict(CidrIpv6=r["value"], **entry_desc))
        elif r["kind"] == KIND_SG:
            perm.setdefault("UserIdGroupPairs", []).append(dict(GroupId=r["value"], **entry_desc))
        elif r["kind"] == KIND_PL:
            perm.setdefault("PrefixListIds", []).append(dict(PrefixListId=r["value"], **entry_desc))
    return [grouped[k] for k in order]


def plan_rules(existing, desired, description, purge):
    """Return (to_add, to_remove).

    * A desired rule already granted by any existing rule (ours or not) is not added again
      (AWS refuses duplicates that differ only by description).
    * Only rules whose description equals ``description`` are ever removed, and only when ``purge``.
    """
    existing_keys = set(rule_key(r) for r in existing)
    desired_keys = set(rule_key(r) for r in desired)
    to_add = [r for r in desired if rule_key(r) not in existing_keys]
    to_remove = []
    if purge:
        to_remove = [r for r in existing if r.get("description") == description and rule_key(r) not in desired_keys]
    return to_add, to_remove


def owned(rules, description):
    return [r for r in rules if r.get("description") == description]


def format_rule(rule):
    if rule.get("from_port") is None:
        ports = "all"
    elif rule.get("from_port") == rule.get("to_port"):
        ports = str(rule["from_port"])
    else:
        ports = "%s-%s" % (rule.get("from_port"), rule.get("to_port"))
    proto = "all" if rule["protocol"] == "-1" else rule["protocol"]
    text = "%s/%s from %s" % (proto, ports, rule["value"])
    if rule.get("description"):
        text += " (%s)" % rule["description"]
    return text


def public_rule(rule, group_id=None):
    """The user-facing form of a rule (return values)."""
    out = dict(protocol=rule["protocol"], from_port=rule.get("from_port"), to_port=rule.get("to_port"),
               source_type=rule["kind"], source=rule["value"], description=rule.get("description", ""))
    if group_id:
        out["security_group_id"] = group_id
    return out


def world_open_on_port(rules, port):
    """True when some rule opens ``port`` (or all traffic) to 0.0.0.0/0 or ::/0."""
    for r in rules:
        if r["kind"] not in (KIND_IPV4, KIND_IPV6) or not is_world(r["value"]):
            continue
        if r["protocol"] == "-1":
            return True
        if r["protocol"] in ("tcp", "6") and r.get("from_port") is not None and r["from_port"] <= port <= r["to_port"]:
            return True
    return False


def suggest_source_ranges(sources):
    """loadBalancerSourceRanges to use when the load balancer has no security group (CIDRs only)."""
    out = []
    for cidr in (sources or {}).get("cidrs") or []:
        norm, _kind = normalize_cidr(cidr)
        if norm not in out:
            out.append(norm)
    return out


# --------------------------------------------------------------------------------------------------
# Service -> hostname -> load balancer


def normalize_hostname(name):
    name = (name or "").strip().lower().rstrip(".")
    if name.startswith("dualstack."):
        name = name[len("dualstack."):]
    return name


def service_hostname(service):
    """The first ``status.loadBalancer.ingress[].hostname`` (or None); raises on an IP-only status."""
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    for item in ingress:
        if item.get("hostname"):
            return item["hostname"]
    ips = [i.get("ip") for i in ingress if i.get("ip")]
    if ips:
        raise LbError("the Service's load balancer publishes only an IP address (%s), not an AWS load balancer DNS "
                      "name; give the security groups with target_security_group_ids instead" % ", ".join(ips))
    return None


def service_port(service, port=None):
    """The Service port to open: ``port`` when given, else the only port, else the port named 'gateway'/'http'."""
    ports = ((service or {}).get("spec") or {}).get("ports") or []
    if port:
        return int(port)
    if not ports:
        raise LbError("the Service has no ports; set port")
    if len(ports) == 1:
        return int(ports[0]["port"])
    for wanted in ("gateway", "http"):
        for p in ports:
            if p.get("name") == wanted:
                return int(p["port"])
    return int(ports[0]["port"])


def find_load_balancer(hostname, elbv2_lbs, classic_lbs):
    """Match ``hostname`` against ELBv2 ``LoadBalancers`` then classic ``LoadBalancerDescriptions``."""
    want = normalize_hostname(hostname)
    for lb in elbv2_lbs or []:
        if normalize_hostname(lb.get("DNSName")) == want:
            return dict(type=lb.get("Type", "application"), arn=lb.get("LoadBalancerArn"),
                        name=lb.get("LoadBalancerName"), dns_name=lb.get("DNSName"),
                        scheme=lb.get("Scheme"), vpc_id=lb.get("VpcId"),
                        security_groups=list(lb.get("SecurityGroups") or []))
    for lb in classic_lbs or []:
        names = (lb.get("DNSName"), lb.get("CanonicalHostedZoneName"))
        if want in [normalize_hostname(n) for n in names if n]:
            return dict(type="classic", arn=None, name=lb.get("LoadBalancerName"), dns_name=lb.get("DNSName"),
                        scheme=lb.get("Scheme"), vpc_id=lb.get("VPCId"),
                        security_groups=list(lb.get("SecurityGroups") or []))
    return None


def list_elbv2(client):
    out = []
    for page in client.get_paginator("describe_load_balancers").paginate():
        out.extend(page.get("LoadBalancers") or [])
    return out


def list_classic(client):
    out = []
    for page in client.get_paginator("describe_load_balancers").paginate():
        out.extend(page.get("LoadBalancerDescriptions") or [])
    return out


def wait_for(fetch, timeout, interval, clock=time.monotonic, sleep=time.sleep):
    """Call ``fetch()`` until it returns something truthy or ``timeout`` seconds have passed.

    Returns (value or None, seconds waited).
    """
    start = clock()
    while True:
        value = fetch()
        waited = clock() - start
        if value or waited >= timeout:
            return value, round(waited, 1)
        sleep(max(0.0, min(interval, timeout - waited)))
