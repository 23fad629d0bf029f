# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change in any release.

"""The input model: every ``portkey_*`` inventory variable, checked once, before any write.

``check_inputs(variables, chart=None, facts=None, only=None)`` returns a ``Report`` with every error (each
``"<portkey_* variable>: <problem>; <fix>"``) and warning. It is pure: no network, no cluster, no AWS. What the
model cannot know by itself comes in as ``facts`` (read-only look-ups made before it by the caller):
``vpc_cidrs`` (the cluster VPC's CIDRs) and ``account_id`` (the AWS caller). The gateway values reuse
``_values.build_values`` (its rules are not repeated here); chart metadata is ``_chart.load_chart``'s dict.

Sections (``only`` selects some): chart, helm, cluster, aws, values, network_policy, lb_security_group,
vpc_peering, log_store, cache.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import re

from ansible_collections.portkey_ai.gateway.plugins.module_utils._checks import (
    ACCOUNT_ID, BUCKET, IAM_NAME, OIDC_PROVIDER_ARN, PREFIX_LIST_ID, REGION_SHAPE, RTB_ID, SG_ID, VPC_ID,
    Invalid, duration_seconds, is_world, parse_cidr, shown,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redact_url
from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import GENERATIONS
from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import INPUTS as VALUE_INPUTS
from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import build_values, variable

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    yaml = None

SECTIONS = ("chart", "helm", "cluster", "aws", "values", "network_policy", "lb_security_group", "vpc_peering",
            "log_store", "cache", "rollout")

CONTROL_PLANE = "44.221.117.129/32"

NETWORK_POLICY_MODES = ("allow_all", "restricted")
LOG_STORE_MODES = ("s3", "s3_assume")
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")

# Keys of the structured inputs (an unknown key is a warning: others may add keys the model does not know yet).
KNOWN_KEYS = {
    "portkey_network_policy": ("enabled", "mode", "https_cidrs", "egress_cidrs", "redis_cidrs", "mongo_cidrs"),
    "portkey_lb_security_group": ("enabled", "service_name", "cidrs", "security_group_ids", "prefix_list_ids",
                                  "port", "target_security_group_ids", "purge", "allow_world"),
    "portkey_vpc_peering": ("enabled", "vpc_id", "peer_vpc_id", "peer_owner_id", "peer_region", "peer_cidr",
                            "accept", "route_table_ids", "security_group_ids", "vpc_cidr"),
    "portkey_log_store_aws": ("enabled", "mode", "bucket", "role_name", "policy_name", "oidc_provider_arn",
                              "oidc_issuer_url", "account_id", "partition"),
}


class Report(object):
    """Errors and warnings of one check; ``errors`` name the inventory variable first."""

    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, var, problem):
        text = "%s: %s" % (var, problem)
        if text not in self.errors:
            self.errors.append(text)

    def warn(self, text):
        if text not in self.warnings:
            self.warnings.append(text)

    def raise_for_errors(self):
        if self.errors:
            raise PortkeyError("%d problem(s) in the portkey_* inputs; nothing was changed" % len(self.errors),
                               errors=self.errors)


# ---------------------------------------------------------------------------------------------------------------
# Checkers (each one rule, reused by the sections)

def as_bool(report, var, value, default):
    """True/False of a boolean input (YAML words accepted), ``default`` when unset; an error otherwise."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    report.error(var, "%s is not a boolean; set true or false" % shown(value))
    return default


def as_dict(report, var, value):
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        report.error(var, "expected a dict, got %s (%s); write it as a YAML mapping"
                     % (shown(value), type(value).__name__))
        return {}
    known = KNOWN_KEYS.get(var)
    if known:
        for key in sorted(set(value) - set(known), key=str):
            report.warn("%s.%s is not a known key (known: %s); it is ignored" % (var, key, ", ".join(known)))
    return value


def as_list(report, var, value):
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        report.error(var, "expected a list, got %s; write it as a YAML list, e.g. [%s]"
                     % (shown(value), shown(value)))
        return []
    return list(value)


def cidr(report, var, value, version=None):
    """An ip_network of a CIDR (_checks.parse_cidr), or None after an error naming ``var``."""
    try:
        return parse_cidr(value, version)
    except Invalid as exc:
        report.error(var, str(exc))
        return None


def id_list(report, var, values, pattern, example):
    for value in as_list(report, var, values):
        if not isinstance(value, str) or not pattern.match(value):
            report.error(var, "%s is not an id of the form %s" % (shown(value), example))


_AWS = {}


def _partition_data():
    """{partition: regions} from botocore's partition data (data/partitions.json, else endpoints.json), read once
    per process; None without botocore."""
    if "partitions" not in _AWS:
        try:
            import botocore
        except ImportError:
            _AWS["partitions"] = None
            return None
        data = os.path.join(os.path.dirname(botocore.__file__), "data")
        try:
            with open(os.path.join(data, "partitions.json")) as handle:
                doc = json.load(handle)
            found = dict((p["id"], set(p.get("regions") or {})) for p in doc["partitions"])
        except (IOError, OSError, ValueError, KeyError):
            from botocore.loaders import create_loader
            doc = create_loader().load_data("endpoints")
            found = dict((p["partition"], set(p.get("regions") or {})) for p in doc["partitions"])
        # pseudo regions such as aws-global are not regions
        _AWS["partitions"] = dict((k, set(r for r in v if REGION_SHAPE.match(r))) for k, v in found.items())
    return _AWS["partitions"]


def known_regions():
    """Every region of botocore's partition data, or None when botocore is missing."""
    data = _partition_data()
    return None if data is None else set().union(*data.values())


def known_partitions():
    data = _partition_data()
    return None if data is None else set(data)


def region(report, var, value, regions):
    if not isinstance(value, str) or not value:
        report.error(var, "must be an AWS region name such as us-east-1")
    elif regions is not None and value not in regions:
        close = sorted(r for r in regions if r.split("-")[0] == value.split("-")[0])[:6]
        report.error(var, "%s is not an AWS region known to botocore (e.g. %s); fix the name"
                     % (shown(value), ", ".join(close or sorted(regions)[:6])))
    elif regions is None and not REGION_SHAPE.match(value):
        report.error(var, "%s is not an AWS region name such as us-east-1" % shown(value))


def integer(report, var, value, low, high=None):
    if isinstance(value, bool) or not re.match(r"^-?[0-9]+$", str(value).strip()):
        report.error(var, "%s is not a whole number" % shown(value))
        return None
    number = int(str(value).strip())
    if number < low or (high is not None and number > high):
        report.error(var, "%d is out of range (%d..%s)" % (number, low, high if high is not None else "any"))
        return None
    return number


# ---------------------------------------------------------------------------------------------------------------
# Sections

CHART_SOURCES = ("git", "repo", "path")


def _chart(report, v, facts):
    """Where the chart comes from (chart_source fetches it; these are the settings it cannot start without)."""
    source = v.get("portkey_chart_source", "git")
    if source not in CHART_SOURCES:
        report.error("portkey_chart_source", "%s is not a chart source; use git (a pinned ref of a git repository), "
                                             "repo (a Helm repository chart version) or path (a local chart)"
                     % shown(source))
        return
    needed = {"git": ("portkey_chart_git_ref", "pin a tag or commit of the chart's git repository"),
              "repo": ("portkey_chart_version", "pin the chart version of the Helm repository"),
              "path": ("portkey_chart_local_path", "set it to the chart directory (the folder holding Chart.yaml)")}
    var, fix = needed[source]
    value = v.get(var, "")
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or str(value).strip() == "":
        report.error(var, "is required for portkey_chart_source %s; %s" % (source, fix))
    for name in ("portkey_chart_git_url", "portkey_chart_repo_url"):
        if v.get(name) is not None and (not isinstance(v[name], str) or not v[name].strip()):
            report.error(name, "must be a URL (a non-empty string)")


def _helm(report, v, facts):
    timeout = v.get("portkey_helm_timeout")
    if timeout is not None:
        seconds = duration_seconds(timeout)
        if seconds is None or seconds <= 0:
            report.error("portkey_helm_timeout", "%s is not a positive duration; write it as helm does, e.g. 5m, "
                                                 "300s or 1h30m" % shown(timeout))
    for name, low in (("portkey_helm_history_max", 0), ("portkey_verify_timeout", 1)):
        if v.get(name) is not None:
            integer(report, name, v[name], low)
    for name in ("portkey_helm_atomic", "portkey_helm_wait"):
        as_bool(report, name, v.get(name), True)
    pending = v.get("portkey_recover_pending")
    if pending is not None and pending not in ("none", "rollback", "uninstall", "auto"):
        report.warn("portkey_recover_pending %s is not one of none, rollback, uninstall, auto" % shown(pending))


def _rollout(report, v, facts):
    """The canary roll-out's stop rule (the rollout role's stop entry point reads it after each batch)."""
    value = v.get("portkey_max_fail_percentage")
    if value is None:
        return
    try:
        number = None if isinstance(value, bool) else float(str(value).strip())
    except ValueError:
        number = None
    if number is None or not 0 <= number <= 100:
        report.error("portkey_max_fail_percentage", "%s is not a percentage; give a number from 0 (stop after any "
                                                    "failed cluster) to 100 (stop only when a whole batch failed)"
                     % shown(value))


def _cluster(report, v, facts):
    path = v.get("portkey_kubeconfig")
    context = v.get("portkey_kube_context")
    if path in (None, ""):
        return
    if not isinstance(path, str):
        report.error("portkey_kubeconfig", "must be the path of a kubeconfig file, got %s" % shown(path))
        return
    full = os.path.expanduser(path)
    if not os.path.isfile(full):
        report.error("portkey_kubeconfig", "%s does not exist or is not a file; point it at the cluster's kubeconfig "
                                           "(or leave it unset to use K8S_AUTH_KUBECONFIG / ~/.kube/config)" % path)
        return
    try:
        with open(full) as handle:
            doc = yaml.safe_load(handle) if yaml else None
    except (IOError, OSError) as exc:
        report.error("portkey_kubeconfig", "%s cannot be read (%s); fix its permissions" % (path, exc.strerror))
        return
    except yaml.YAMLError:
        report.error("portkey_kubeconfig", "%s is not a YAML kubeconfig; point it at the cluster's kubeconfig" % path)
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("contexts") or [], list):
        report.error("portkey_kubeconfig", "%s is not a kubeconfig (no contexts); point it at the cluster's "
                                           "kubeconfig" % path)
        return
    names = [c.get("name") for c in doc.get("contexts") or [] if isinstance(c, dict)]
    if context not in (None, "") and context not in names:
        report.error("portkey_kube_context", "%s is not a context of %s (contexts: %s); set one of them or leave "
                                             "it unset for the current-context" % (shown(context), path,
                                                                                   ", ".join(map(str, names)) or "none"))


def _aws(report, v, facts):
    if v.get("portkey_aws_region") not in (None, ""):
        region(report, "portkey_aws_region", v["portkey_aws_region"], facts["regions"])


def values_spec(v):
    """The gateway_values inputs of the inventory (the gateway role composes the same from its role variables)."""
    spec = {}
    for name in VALUE_INPUTS:
        value = v.get(variable(name))
        if value not in (None, "", {}, []):
            spec[name] = value
    monitoring = v.get("portkey_monitoring")
    if isinstance(monitoring, dict) and isinstance(monitoring.get("environment"), dict) \
            and isinstance(spec.get("environment", {}), dict):
        spec["environment"] = dict(monitoring["environment"], **spec.get("environment", {}))
    return spec


def _values(report, v, facts):
    spec = values_spec(v)
    store = log_store_settings(v)
    account = spec.get("service_account")
    if store["enabled"] and store["mode"] == "s3_assume" and (account is None or isinstance(account, dict)) \
            and not (account or {}).get("role_arn"):
        # the role the log_store role creates (before the release) stands in for the values check
        spec["service_account"] = dict(account or {}, role_arn="arn:aws:iam::000000000000:role/%s"
                                       % (store.get("role_name") or "planned-log-store-role"))
    env = spec.get("environment")
    if store["enabled"] and isinstance(env, dict) and env.get("LOG_STORE_GENERATIONS_BUCKET") in (None, ""):
        # one source for the bucket: the gateway's environment gets the log store's bucket (the log_store role's
        # per-cluster default when none is given; its plan checks that name)
        spec["environment"] = dict(env, LOG_STORE_GENERATIONS_BUCKET=store.get("bucket") or "planned-log-store-bucket")
    chart = facts.get("chart")
    if chart is None and spec.get("generation", "auto") == "auto":
        # No chart yet (the check runs before the chart is fetched): the errors of both generations' rules are
        # certain; those of one generation only are reported again once the chart is known (preflight).
        runs = [_value_problems(dict(spec, generation=generation), None) for generation in GENERATIONS]
        errors = [e for e in runs[0][0] if all(e in run[0] for run in runs[1:])]
        warnings = [w for w in runs[0][1] if all(w in run[1] for run in runs[1:])]
    else:
        errors, warnings = _value_problems(spec, chart)
    report.errors.extend(e for e in errors if e not in report.errors)
    for warning in warnings:
        report.warn(warning)


def _value_problems(spec, chart):
    """(errors, warnings) of the values rules (_values.build_values) for ``spec``."""
    try:
        return [], list(build_values(spec, chart).warnings)
    except PortkeyError as exc:
        return list(exc.errors or [exc.msg]), []


def _network_policy(report, v, facts):
    var = "portkey_network_policy"
    policy = as_dict(report, var, v.get(var))
    if not as_bool(report, var + ".enabled", policy.get("enabled"), True):
        return
    mode = policy.get("mode", "allow_all")
    if mode not in NETWORK_POLICY_MODES:
        report.error(var + ".mode", "%s is not a mode; use allow_all (the runbook's policy) or restricted"
                     % shown(mode))
    for key in ("https_cidrs", "egress_cidrs", "redis_cidrs", "mongo_cidrs"):
        for item in as_list(report, "%s.%s" % (var, key), policy.get(key)):
            cidr(report, "%s.%s" % (var, key), item)


def _lb_security_group(report, v, facts):
    var = "portkey_lb_security_group"
    group = as_dict(report, var, v.get(var))
    if not as_bool(report, var + ".enabled", group.get("enabled"), False):
        return
    allow_world = as_bool(report, var + ".allow_world", group.get("allow_world"), False)
    as_bool(report, var + ".purge", group.get("purge"), False)
    cidrs = as_list(report, var + ".cidrs", group.get("cidrs", [CONTROL_PLANE]))
    for item in cidrs:
        net = cidr(report, var + ".cidrs", item)
        if is_world(net) and not allow_world:
            report.error(var + ".cidrs", "%s opens the gateway to the whole internet; list the control plane's "
                                         "addresses instead (%s), or set %s.allow_world: true to allow it"
                         % (shown(item), CONTROL_PLANE, var))
    id_list(report, var + ".security_group_ids", group.get("security_group_ids"), SG_ID, "sg-<8 or 17 hex digits>")
    id_list(report, var + ".target_security_group_ids", group.get("target_security_group_ids"), SG_ID,
            "sg-<8 or 17 hex digits>")
    id_list(report, var + ".prefix_list_ids", group.get("prefix_list_ids"), PREFIX_LIST_ID,
            "pl-<8 or 17 hex digits>")
    sources = (cidrs, group.get("security_group_ids") or [], group.get("prefix_list_ids") or [])
    if not any(isinstance(s, list) and s for s in sources):
        report.error(var + ".cidrs", "no source is given (cidrs, security_group_ids and prefix_list_ids are all "
                                     "empty); the control plane is %s" % CONTROL_PLANE)
    if group.get("port") not in (None, 0, "0"):
        integer(report, var + ".port", group["port"], 1, 65535)


def _vpc_peering(report, v, facts):
    var = "portkey_vpc_peering"
    peering = as_dict(report, var, v.get(var))
    if not as_bool(report, var + ".enabled", peering.get("enabled"), False):
        return
    for key in ("vpc_id", "peer_vpc_id"):
        value = peering.get(key)
        if not isinstance(value, str) or not VPC_ID.match(value):
            report.error("%s.%s" % (var, key), "%s is not a VPC id (vpc- and 8 or 17 hex digits); set the %s VPC's id"
                         % (shown(value) if value else "it is missing:", "cluster's" if key == "vpc_id" else "peer"))
    owner = peering.get("peer_owner_id")
    if owner not in (None, "") and not ACCOUNT_ID.match(str(owner)):
        report.error(var + ".peer_owner_id", "%s is not a 12-digit AWS account id (quote it in YAML to keep "
                                             "leading zeros), or leave it unset for this account" % shown(owner))
    accept = as_bool(report, var + ".accept", peering.get("accept"), False)
    account = facts.get("account_id")
    if accept and owner not in (None, "") and account and str(owner) != str(account):
        report.error(var + ".accept", "is true but the peer VPC belongs to account %s, not this one (%s); the peer's "
                                      "owner accepts the request: set %s.accept: false" % (owner, account, var))
    if peering.get("peer_region") not in (None, ""):
        region(report, var + ".peer_region", peering["peer_region"], facts["regions"])
    net = cidr(report, var + ".peer_cidr", peering.get("peer_cidr", ""), version=4)
    if is_world(net):
        report.error(var + ".peer_cidr", "must be the peer VPC's CIDR, not %s" % net)
    elif net is not None:
        own = list(facts.get("vpc_cidrs") or [])
        if peering.get("vpc_cidr"):
            own.append(peering["vpc_cidr"])
        for item in own:
            other = cidr(report, var + ".vpc_cidr", item)
            if other is not None and other.version == net.version and other.overlaps(net):
                report.error(var + ".peer_cidr", "%s overlaps the cluster VPC's CIDR %s; AWS cannot route between "
                                                 "overlapping VPCs: use the peer VPC's own, distinct CIDR" % (net, other))
    id_list(report, var + ".route_table_ids", peering.get("route_table_ids"), RTB_ID, "rtb-<8 or 17 hex digits>")
    id_list(report, var + ".security_group_ids", peering.get("security_group_ids"), SG_ID, "sg-<8 or 17 hex digits>")


def log_store_settings(v):
    """enabled, mode and role name of portkey_log_store_aws as given (the log_store role plans the rest)."""
    store = v.get("portkey_log_store_aws") if isinstance(v.get("portkey_log_store_aws"), dict) else {}
    env = v.get("portkey_environment") if isinstance(v.get("portkey_environment"), dict) else {}
    enabled = str(store.get("enabled", False)).strip().lower() in TRUE_WORDS
    return {"enabled": enabled, "mode": store.get("mode", env.get("LOG_STORE", "s3_assume")),
            "role_name": store.get("role_name"), "bucket": store.get("bucket", env.get("LOG_STORE_GENERATIONS_BUCKET"))}


def bucket_problem(name):
    """Why ``name`` is not an S3 bucket name, or None."""
    if not isinstance(name, str) or not BUCKET.match(name):
        return "must be 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "must not contain '..', '.-' or '-.'"
    try:
        ipaddress.ip_address(name)
        return "must not be formatted as an IP address"
    except ValueError:
        pass
    if name.startswith("xn--") or name.endswith("-s3alias"):
        return "must not start with xn-- or end with -s3alias"
    return None


def _log_store(report, v, facts):
    var = "portkey_log_store_aws"
    store = as_dict(report, var, v.get(var))
    if not as_bool(report, var + ".enabled", store.get("enabled"), False):
        return
    settings = log_store_settings(v)
    if settings["mode"] not in LOG_STORE_MODES:
        report.error(var + ".mode", "%s is not a mode this role sets up; use s3 (bucket and policy) or s3_assume "
                                    "(bucket, policy and IRSA role)" % shown(settings["mode"]))
    env = v.get("portkey_environment") if isinstance(v.get("portkey_environment"), dict) else {}
    if store.get("bucket") not in (None, "") and env.get("LOG_STORE_GENERATIONS_BUCKET") not in (None, "") \
            and str(store["bucket"]) != str(env["LOG_STORE_GENERATIONS_BUCKET"]):
        report.error(var + ".bucket", "%s and portkey_environment.LOG_STORE_GENERATIONS_BUCKET (%s) differ: the gateway "
                                      "would write to a bucket the log store does not manage; set only one of them "
                                      "(the other is derived from it)"
                     % (shown(store["bucket"]), shown(env["LOG_STORE_GENERATIONS_BUCKET"])))
    # no bucket given: the log_store role's per-cluster default (<release>-<cluster>-log-store), checked by its plan
    problem = bucket_problem(settings["bucket"]) if settings["bucket"] not in (None, "") else None
    if problem:
        report.error(var + ".bucket", "%s %s; set %s.bucket or portkey_environment.LOG_STORE_GENERATIONS_BUCKET"
                     % (shown(settings["bucket"]) if settings["bucket"] else "(missing)", problem, var))
    if store.get("role_name") not in (None, "") and not IAM_NAME.match(str(store["role_name"])):
        report.error(var + ".role_name", "%s is not an IAM role name (1-64 of letters, digits and +=,.@_-)"
                     % shown(store["role_name"]))
    if store.get("policy_name") not in (None, "") and not re.match(r"^[A-Za-z0-9+=,.@_-]{1,128}$", str(store["policy_name"])):
        report.error(var + ".policy_name", "%s is not an IAM policy name (1-128 of letters, digits and +=,.@_-)"
                     % shown(store["policy_name"]))
    if store.get("account_id") not in (None, "") and not ACCOUNT_ID.match(str(store["account_id"])):
        report.error(var + ".account_id", "%s is not a 12-digit AWS account id" % shown(store["account_id"]))
    partitions = facts.get("partitions")
    if store.get("partition") not in (None, "") and partitions is not None and store["partition"] not in partitions:
        report.error(var + ".partition", "%s is not an AWS partition (%s)"
                     % (shown(store["partition"]), ", ".join(sorted(partitions))))
    if settings["mode"] == "s3_assume":
        arn, issuer = store.get("oidc_provider_arn") or "", store.get("oidc_issuer_url") or ""
        if arn and not OIDC_PROVIDER_ARN.match(str(arn)):
            report.error(var + ".oidc_provider_arn", "%s is not an IAM OIDC provider ARN "
                                                     "(arn:aws:iam::ACCOUNT:oidc-provider/oidc.eks...)" % shown(arn))
        elif not arn and not re.match(r"^https://\S+$", str(issuer)):
            report.error(var + ".oidc_provider_arn", "mode s3_assume needs the cluster's IAM OIDC provider: set "
                                                     "oidc_provider_arn (arn:aws:iam::ACCOUNT:oidc-provider/oidc.eks...)"
                                                     " or oidc_issuer_url (https://oidc.eks.REGION.amazonaws.com/id/...)")


def _cache(report, v, facts):
    as_bool(report, "portkey_cache_check", v.get("portkey_cache_check"), True)
    ca_file = v.get("portkey_cache_ca_file")
    if ca_file not in (None, "") and not os.path.isfile(os.path.expanduser(str(ca_file))):
        report.error("portkey_cache_ca_file", "%s does not exist; point it at the CA bundle (PEM) of the cache's "
                                              "certificate, or leave it unset" % shown(ca_file))


# Which steps of site.yml run: defined here once, handed on as preflight's result (preflight_result.steps).
STEPS = (("log_store", "portkey_log_store_aws", False), ("mongodb_access", "portkey_mongodb_access", False),
         ("network_policy", "portkey_network_policy", True),
         ("lb_security_group", "portkey_lb_security_group", False), ("private_link", "portkey_private_link", False),
         ("vpc_peering", "portkey_vpc_peering", False))


def steps(variables):
    """{step: enabled} of the optional steps, and ``aws_identity``: whether the AWS caller must be known before any
    change (an AWS role runs after the release, or the log store needs the account id for s3_assume)."""
    quiet = Report()
    enabled = dict((step, as_bool(quiet, var, (variables.get(var) if isinstance(variables.get(var), dict) else {})
                                  .get("enabled"), default)) for step, var, default in STEPS)
    enabled["aws_identity"] = bool(enabled["lb_security_group"] or enabled["vpc_peering"] or enabled["private_link"]
                                   or (enabled["log_store"] and log_store_settings(variables)["mode"] == "s3_assume"))
    return enabled


CHECKS = dict(chart=_chart, helm=_helm, cluster=_cluster, aws=_aws, values=_values, network_policy=_network_policy,
              lb_security_group=_lb_security_group, vpc_peering=_vpc_peering, log_store=_log_store, cache=_cache,
              rollout=_rollout)


def check_inputs(variables, chart=None, facts=None, only=None):
    """Check the ``portkey_*`` ``variables`` (a dict); returns a Report listing every problem at once.

    ``chart``: _chart.load_chart()'s dict (chart_name, chart_version, defaults) or None.
    ``facts``: read-only look-ups (account_id, vpc_cidrs). ``only``: section names (default: all).
    """
    report = Report()
    facts = dict(facts or {})
    if chart:
        facts["chart"] = {"name": chart.get("chart_name") or chart.get("name"),
                          "version": chart.get("chart_version") or chart.get("version"),
                          "defaults": chart.get("defaults") or {}}
    facts.setdefault("regions", known_regions())
    facts.setdefault("partitions", known_partitions())
    unknown = sorted(set(only or ()) - set(SECTIONS))
    if unknown:
        raise PortkeyError("unknown input section(s) %s (known: %s)" % (", ".join(unknown), ", ".join(SECTIONS)))
    for name in SECTIONS if only is None else only:
        CHECKS[name](report, variables, facts)
    report.errors = [redact_url(e) for e in report.errors]
    report.warnings = [redact_url(w) for w in report.warnings]
    return report
