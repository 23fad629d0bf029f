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

import re
import time

from ansible_collections.portkey_ai.gateway.plugins.module_utils._checks import Invalid, is_world, parse_cidr
from ansible_collections.portkey_ai.gateway.plugins.module_utils._objects import (
    GATEWAY_PORT, gateway_service_port, lb_address, normalize_hostname)

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
    """(CIDR text, kind) of a source CIDR, checked by _checks.parse_cidr; raises LbError naming ``option``."""
    try:
        net = parse_cidr(value)
    except Invalid as exc:
        raise LbError("%s: %s" % (option, exc))
    return str(net), (KIND_IPV4 if net.version == 4 else KIND_IPV6)


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


def covers_port(rule, port):
    """True when ``rule`` lets TCP traffic reach ``port`` (all-traffic rules included)."""
    if rule["protocol"] == "-1":
        return True
    return (rule["protocol"] in ("tcp", "6") and rule.get("from_port") is not None
            and rule["from_port"] <= port <= rule["to_port"])


def plan_exclusive(existing, desired, port):
    """Rules of anybody that let traffic reach ``port`` from a source not in ``desired`` (exclusive mode)."""
    wanted = set((r["kind"], r["value"]) for r in desired)
    return [r for r in existing if covers_port(r, port) and (r["kind"], r["value"]) not in wanted]


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


def is_world_rule(rule):
    return rule["kind"] in (KIND_IPV4, KIND_IPV6) and is_world(rule["value"])


def world_open_on_port(rules, port):
    """True when some rule opens ``port`` (or all traffic) to 0.0.0.0/0 or ::/0."""
    for r in rules:
        if is_world_rule(r) and covers_port(r, port):
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


def service_hostname(service):
    """The Service's load balancer DNS name (or None while it has none); raises on an IP-only status."""
    hostname, ips = lb_address(service)
    if hostname is None and ips:
        raise LbError("the Service's load balancer publishes only an IP address (%s), not an AWS load balancer DNS "
                      "name; give the security groups with target_security_group_ids instead" % ", ".join(ips))
    return hostname


def service_port(service, port=None):
    """The Service port to open: ``port`` when given, else the gateway's Service port (_objects rule)."""
    if port:
        return int(port)
    found = gateway_service_port(service)
    if found is None:
        raise LbError("the Service has no ports; set port")
    return found


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


# --------------------------------------------------------------------------------------------------
# Service settings for the AWS Load Balancer Controller (portkey_load_balancer, portkey_private_link)

PORTKEY_PRINCIPAL = "arn:aws:iam::299329113195:root"
HEALTH_PATH = "/v1/health"
SCHEMES = ("internet-facing", "internal")
TARGET_TYPES = ("ip", "instance")
LB_VAR = "portkey_load_balancer"
PL_VAR = "portkey_private_link"

AWS_LBC = "service.beta.kubernetes.io/aws-load-balancer-"
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
LB_KEYS = ("enabled", "type", "scheme", "cidrs", "allow_world", "target_type", "certificate_arn", "ssl_policy",
           "health_check_path", "health_check_port")
PL_KEYS = ("enabled", "allowed_principals", "acceptance_required", "accept_connections", "wait_timeout",
           "wait_interval")
CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-fA-F-]{8,}$")
PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$")


def _bool(value, name, errors):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", ""):
        return False
    errors.append((name, "%r is not a boolean; use true or false" % (value,)))
    return False


def _unknown_keys(settings, keys, var, errors):
    for key in sorted(settings, key=str):
        if key not in keys:
            errors.append(("%s.%s" % (var, key), "unknown key; known keys: %s" % ", ".join(keys)))


def _section(settings, var, errors):
    if settings is None or settings == "":
        return {}
    if not isinstance(settings, dict):
        errors.append((var, "expected a dict, got %s" % type(settings).__name__))
        return {}
    return settings


def _int(value, name, errors, low, high):
    try:
        number = int(value)
        if isinstance(value, bool) or str(number) != str(value).strip() or not low <= number <= high:
            raise ValueError
        return number
    except (TypeError, ValueError):
        errors.append((name, "%r is not a whole number from %d to %d" % (value, low, high)))
        return None


def check_private_link(settings):
    """Validate ``portkey_private_link``; return (normalised settings, [(variable, problem)])."""
    errors = []
    settings = _section(settings, PL_VAR, errors)
    _unknown_keys(settings, PL_KEYS, PL_VAR, errors)
    out = dict(enabled=_bool(settings.get("enabled", False), PL_VAR + ".enabled", errors),
               acceptance_required=_bool(settings.get("acceptance_required", True),
                                         PL_VAR + ".acceptance_required", errors),
               accept_connections=_bool(settings.get("accept_connections", False),
                                        PL_VAR + ".accept_connections", errors),
               wait_timeout=_int(settings.get("wait_timeout", 300), PL_VAR + ".wait_timeout", errors, 0, 3600),
               wait_interval=_int(settings.get("wait_interval", 5), PL_VAR + ".wait_interval", errors, 1, 300))
    principals = settings.get("allowed_principals", [PORTKEY_PRINCIPAL])
    if isinstance(principals, str) or not isinstance(principals, list):
        errors.append((PL_VAR + ".allowed_principals", "expected a list of IAM ARNs, e.g. [%s]" % PORTKEY_PRINCIPAL))
        principals = []
    for principal in principals:
        if not PRINCIPAL_ARN.match(str(principal)):
            errors.append((PL_VAR + ".allowed_principals",
                           "%r is not an IAM principal ARN (arn:aws:iam::<12-digit account>:root, :role/<name> or "
                           ":user/<name>); Portkey's is %s" % (principal, PORTKEY_PRINCIPAL)))
    out["allowed_principals"] = sorted(set(str(p) for p in principals))
    return out, errors


def principal_account(arn):
    match = PRINCIPAL_ARN.match(str(arn))
    return match.group(1) if match else None


def load_balancer_settings(settings, private_link=None):
    """Validate ``portkey_load_balancer`` (with ``portkey_private_link``); return (normalised, [(variable, problem)]).

    The load balancer is enabled by ``enabled: true`` or by PrivateLink; PrivateLink needs the internal scheme.
    Defaults are safe: internet-facing only to the control plane's address, internal for PrivateLink.
    """
    errors = []
    settings = _section(settings, LB_VAR, errors)
    _unknown_keys(settings, LB_KEYS, LB_VAR, errors)
    link, link_errors = check_private_link(private_link)
    errors.extend(link_errors)
    enabled = _bool(settings.get("enabled", False), LB_VAR + ".enabled", errors) or link["enabled"]
    out = dict(enabled=enabled, private_link=link["enabled"])
    if str(settings.get("type", "nlb")) != "nlb":
        errors.append((LB_VAR + ".type", "%r is not supported; only nlb (the AWS Load Balancer Controller's network "
                                         "load balancer) is" % (settings.get("type"),)))
    scheme = settings.get("scheme", "internal" if link["enabled"] else "internet-facing")
    if scheme not in SCHEMES:
        errors.append((LB_VAR + ".scheme", "%r is not one of %s" % (scheme, ", ".join(SCHEMES))))
    elif link["enabled"] and scheme != "internal":
        errors.append((LB_VAR + ".scheme", "%s.enabled needs an internal load balancer (PrivateLink connects to it "
                                           "from Portkey's VPC); remove scheme %s or set it to internal, or turn "
                                           "%s.enabled off to use the allow-listed internet-facing load balancer"
                                           % (PL_VAR, scheme, PL_VAR)))
    out["scheme"] = scheme
    target = settings.get("target_type", "ip")
    if target not in TARGET_TYPES:
        errors.append((LB_VAR + ".target_type", "%r is not one of %s" % (target, ", ".join(TARGET_TYPES))))
    out["target_type"] = target
    # internet-facing: the control plane only; internal (PrivateLink): the controller's default, the VPC's CIDR
    cidrs = settings.get("cidrs", list(CONTROL_PLANE_CIDRS) if scheme == "internet-facing" else [])
    allow_world = _bool(settings.get("allow_world", False), LB_VAR + ".allow_world", errors)
    out["cidrs"] = []
    if not isinstance(cidrs, list):
        errors.append((LB_VAR + ".cidrs", "expected a list of CIDRs, e.g. [%s]" % CONTROL_PLANE_CIDRS[0]))
        cidrs = []
    for cidr in cidrs:
        try:
            norm, _kind = normalize_cidr(cidr, LB_VAR + ".cidrs")
        except LbError as exc:
            errors.append((LB_VAR + ".cidrs", str(exc).split(": ", 1)[1]))
            continue
        if is_world(norm) and not allow_world:
            errors.append((LB_VAR + ".cidrs", "%s opens the gateway to the whole internet; list the control plane's "
                                              "addresses (%s), or set %s.allow_world: true to allow it explicitly"
                                              % (norm, CONTROL_PLANE_CIDRS[0], LB_VAR)))
        if norm not in out["cidrs"]:
            out["cidrs"].append(norm)
    if enabled and scheme == "internet-facing" and not out["cidrs"]:
        errors.append((LB_VAR + ".cidrs", "is empty: an internet-facing load balancer without source ranges is open "
                                          "to the whole internet; list the control plane's addresses (%s)"
                                          % CONTROL_PLANE_CIDRS[0]))
    cert = settings.get("certificate_arn") or ""
    if cert and not CERT_ARN.match(str(cert)):
        errors.append((LB_VAR + ".certificate_arn", "%r is not an ACM certificate ARN "
                                                    "(arn:aws:acm:<region>:<account>:certificate/<id>)" % (cert,)))
    out["certificate_arn"] = str(cert)
    out["ssl_policy"] = str(settings.get("ssl_policy") or "")
    if out["ssl_policy"] and not cert:
        errors.append((LB_VAR + ".ssl_policy", "needs %s.certificate_arn (the TLS listener)" % LB_VAR))
    out["health_check_path"] = str(settings.get("health_check_path", HEALTH_PATH))
    if not out["health_check_path"].startswith("/"):
        errors.append((LB_VAR + ".health_check_path", "%r must start with /" % out["health_check_path"]))
    out["health_check_port"] = settings.get("health_check_port")
    if out["health_check_port"] is not None:
        out["health_check_port"] = _int(out["health_check_port"], LB_VAR + ".health_check_port", errors, 1, 65535)
    return out, errors


def service_annotations(settings, service_port, container_port=GATEWAY_PORT):
    """The Service annotations of normalised ``load_balancer_settings`` ({} when not enabled).

    Both chart generations render ``service.annotations``; neither renders ``service.loadBalancerSourceRanges`` for
    the gateway Service, so the allowed CIDRs go into the source-ranges annotation that the AWS Load Balancer
    Controller (and the in-tree provider) read.
    """
    if not settings.get("enabled"):
        return {}
    out = {
        AWS_LBC + "type": "external",
        AWS_LBC + "nlb-target-type": settings["target_type"],
        AWS_LBC + "scheme": settings["scheme"],
        AWS_LBC + "healthcheck-protocol": "http",
        AWS_LBC + "healthcheck-path": settings["health_check_path"],
        AWS_LBC + "healthcheck-port": str(settings.get("health_check_port") or container_port),
    }
    if settings["cidrs"]:
        out[SOURCE_RANGES_ANNOTATION] = ",".join(settings["cidrs"])
    if settings["certificate_arn"]:
        out[AWS_LBC + "ssl-cert"] = settings["certificate_arn"]
        out[AWS_LBC + "ssl-ports"] = str(service_port)
        if settings["ssl_policy"]:
            out[AWS_LBC + "ssl-negotiation-policy"] = settings["ssl_policy"]
    return out


def endpoint(settings, service, load_balancer=None):
    """What Portkey's control plane needs: hostname, scheme, port, protocol and the allowed CIDRs."""
    service = service or {}
    lb = load_balancer or {}
    return dict(hostname=service.get("hostname") or lb.get("dns_name"), port=service.get("port"),
                scheme=lb.get("scheme") or settings.get("scheme"),
                protocol="tls" if settings.get("certificate_arn") else "tcp",
                cidrs=list(settings.get("cidrs") or []))


def locate_load_balancer(read, list_v2, list_classic, label, timeout, interval, timeout_var="wait_timeout",
                         region=None, absent=False, warn=None, sleep=time.sleep, clock=time.monotonic):
    """The Service (``read()``), its port and the load balancer behind its status hostname.

    Waits up to ``timeout`` seconds for the hostname and for a load balancer with that DNS name (a controller
    publishes the name before the load balancer is listed). Returns (service, hostname, lb) with ``lb`` None when
    ``absent`` and nothing is there (after ``warn(msg)``); raises LbError naming ``timeout_var`` otherwise.
    """
    service = read()
    if service is None:
        if absent:
            warn("Service %s not found; nothing to remove" % label)
            return None, None, None
        raise LbError("Service %s not found; install the gateway first or set service_name" % label)
    if (service.get("spec") or {}).get("type") != "LoadBalancer":
        raise LbError("Service %s has type %s, not LoadBalancer (portkey_service.type)"
                      % (label, (service.get("spec") or {}).get("type")))
    state = dict(hostname=service_hostname(service))

    def fetch():
        if not state["hostname"]:
            state["hostname"] = service_hostname(read())
            if not state["hostname"]:
                return None
        lb = find_load_balancer(state["hostname"], list_v2(), [])
        return lb or find_load_balancer(state["hostname"], [], list_classic())

    lb, waited = wait_for(fetch, 0 if absent else timeout, max(1, interval), clock=clock, sleep=sleep)
    if lb is None:
        if not state["hostname"]:
            what = "Service %s has no load-balancer hostname" % label
            hint = "check the cloud controller's events for the Service"
        else:
            what = "no ELBv2 or classic load balancer with DNS name %s in region %s (Service %s)" % (
                state["hostname"], region, label)
            hint = "check the region (portkey_aws_region) and the AWS Load Balancer Controller's events"
        if absent:
            warn("%s; nothing to remove" % what)
            return service, state["hostname"], None
        raise LbError("%s after %s s (%s); %s" % (what, waited, timeout_var, hint))
    return service, state["hostname"], lb
