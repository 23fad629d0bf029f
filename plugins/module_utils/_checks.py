# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change in any release.

"""Input checks: one checker per kind of value (strings, booleans, bounded integers, choices, Kubernetes names and
namespaces, Helm release names, IAM role ARNs, image tags, quantities, maps, CIDRs), the shapes of AWS ids and names,
and Go durations. A checker returns the normalized value or raises Invalid(problem); problems never echo a secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import re

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import scalar_text

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$")
IMAGE_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$")
PERCENT = re.compile(r"^[0-9]+%$")
# Go's time.ParseDuration, as helm's --timeout reads it (a unit is required except for 0).
GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|\u00b5s|ms|s|m|h))+$")
VPC_ID = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
SG_ID = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
RTB_ID = re.compile(r"^rtb-([0-9a-f]{8}|[0-9a-f]{17})$")
PREFIX_LIST_ID = re.compile(r"^pl-([0-9a-f]{8}|[0-9a-f]{17})$")
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
OIDC_PROVIDER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/\S+$")
IAM_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
REGION_SHAPE = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")


class Invalid(Exception):
    """A value a checker refuses; the message says what was expected and what was got."""


def got(value, secret=False):
    kind = type(value).__name__
    if secret or isinstance(value, (dict, list)):
        return "a %s" % kind
    text = repr(value)
    return "%s (%s)" % (text if len(text) <= 40 else text[:37] + "...", kind)


def string(value, secret=False):
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise Invalid("expected a string, got %s; quote it in YAML" % got(value, secret))
    raise Invalid("expected a non-empty string, got %s" % got(value, secret))


def secret_string(value):
    return string(value, secret=True)


def optional_string(value):
    if value == "":
        return value
    return string(value)


def boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "false", "no"):
        return value.lower() in ("true", "yes")
    raise Invalid("expected a boolean (true/false), got %s" % got(value))


def integer(low, high=None):
    def check(value):
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().isdigit():
            number = int(value)
        if number is None or number < low or (high is not None and number > high):
            bounds = ">= %d" % low if high is None else "between %d and %d" % (low, high)
            raise Invalid("expected an integer %s, got %s" % (bounds, got(value)))
        return number
    return check


def choice(choices):
    def check(value):
        if value in choices:
            return value
        raise Invalid("expected one of %s, got %s" % (", ".join(choices), got(value)))
    return check


def k8s_name(value):
    if isinstance(value, str) and len(value) <= 253 and K8S_NAME.match(value):
        return value
    raise Invalid("expected a Kubernetes name (lowercase letters, digits, '-', '.'), got %s" % got(value))


def namespace(value):
    """A namespace is a DNS-1123 label: at most 63 lowercase letters, digits and '-' (no dots)."""
    if isinstance(value, str) and len(value) <= 63 and RELEASE_NAME.match(value):
        return value
    raise Invalid("expected a Kubernetes namespace (a DNS-1123 label: at most 63 lowercase letters, digits and '-', "
                  "starting and ending with a letter or digit), got %s" % got(value))


def release_name(value):
    if isinstance(value, str) and len(value) <= 53 and RELEASE_NAME.match(value):
        return value
    raise Invalid("expected a Helm release name (lowercase letters, digits and '-', at most 53 characters), "
                  "got %s" % got(value))


def role_arn(value):
    if isinstance(value, str) and ROLE_ARN.match(value):
        return value
    raise Invalid("expected an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>), got %s" % got(value))


def image_tag(value):
    tag = string(value) if value != "" else ""
    if not tag or tag.lower() == "latest":
        raise Invalid("image tags must be pinned, got %r; set a version such as \"1.11.4\" "
                      "(or remove the key to use the chart's pinned appVersion)" % tag)
    if not IMAGE_TAG.match(tag):
        raise Invalid("%r is not a valid image tag" % tag)
    return tag


def int_or_percent(value):
    if isinstance(value, str) and PERCENT.match(value):
        return value
    try:
        return integer(0)(value)
    except Invalid:
        raise Invalid("expected an integer >= 0 or a percentage like \"25%%\", got %s" % got(value))


def dict_value(value):
    if isinstance(value, dict):
        return copy.deepcopy(value)
    raise Invalid("expected a dict (mapping), got %s" % got(value))


def list_of_dicts(value):
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return copy.deepcopy(value)
    raise Invalid("expected a list of dicts, got %s" % got(value))


def string_map(value):
    """A dict of string values (annotations, labels, node selectors): scalars are stringified."""
    mapping = dict_value(value)
    result = {}
    for key, item in mapping.items():
        text = scalar_text(item)
        if not isinstance(key, str) or text is None:
            raise Invalid("key %r: expected a string value, got %s" % (key, got(item)))
        result[key] = text
    return result


def quantity_map(value):
    mapping = string_map(value)
    for key, quantity in mapping.items():
        if not QUANTITY.match(quantity):
            raise Invalid("%s: %r is not a Kubernetes quantity (e.g. \"500m\", \"2\", \"4Gi\")" % (key, quantity))
    return mapping


def env_key_list(value):
    if isinstance(value, list) and value and all(isinstance(k, str) and ENV_NAME.match(k) for k in value):
        return sorted(set(value))
    raise Invalid("expected a non-empty list of environment variable names, got %s" % got(value))


def organisations(value):
    if isinstance(value, list) and value:
        return ",".join(string(item) for item in value)
    return string(value)


def shown(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_cidr(value, version=None):
    """The ``ipaddress`` network of a CIDR: a network address and a prefix length without leading zeros (so
    ``0.0.0.0/00`` cannot pass for anything but what it is), of IP ``version`` when given. Raises Invalid."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if not text or "/" not in text:
        raise Invalid("%s is not a valid CIDR; give an address and a prefix length such as 10.0.0.0/16"
                      % shown(value))
    address, _sep, prefix = text.partition("/")
    if not prefix.isdigit() or (len(prefix) > 1 and prefix.startswith("0")):
        raise Invalid("%s has an invalid prefix length %r; write it without leading zeros, e.g. %s/0 or %s/16"
                      % (shown(value), prefix, address, address))
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise Invalid("%s is not a valid CIDR (%s); give a network address and prefix such as 10.0.0.0/16"
                      % (shown(value), exc))
    if version and net.version != version:
        raise Invalid("%s is not an IPv%d CIDR" % (shown(value), version))
    return net


def is_world(net):
    """True for a network (or CIDR text) that covers every address of its family (0.0.0.0/0, ::/0)."""
    if isinstance(net, str):
        net = ipaddress.ip_network(net, strict=False)
    return net is not None and net.prefixlen == 0


def duration_seconds(value):
    """Seconds of a Go duration (``5m``, ``300s``, ``1h30m``), or None when it is not one."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if text == "0":
        return 0.0
    if not GO_DURATION.match(text):
        return None
    scale = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, _f, u in re.findall(r"([0-9]+(\.[0-9]+)?)(ns|us|\u00b5s|ms|s|m|h)", text))
