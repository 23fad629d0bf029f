# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checkers: each returns the normalized value or raises Invalid naming what it expected."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _checks as checks


@pytest.mark.parametrize("checker, value, expected", [
    (checks.boolean, "yes", True), (checks.boolean, False, False),
    (checks.integer(1, 10), "7", 7), (checks.int_or_percent, "25%", "25%"), (checks.int_or_percent, 0, 0),
    (checks.namespace, "portkeyai", "portkeyai"), (checks.k8s_name, "a.b-c", "a.b-c"),
    (checks.release_name, "portkey-gateway", "portkey-gateway"), (checks.image_tag, "1.11.4", "1.11.4"),
    (checks.string_map, {"a": True, "b": 3}, {"a": "true", "b": "3"}),
    (checks.quantity_map, {"cpu": "500m", "memory": "4Gi"}, {"cpu": "500m", "memory": "4Gi"}),
    (checks.env_key_list, ["B", "A", "B"], ["A", "B"]), (checks.organisations, ["o1", "o2"], "o1,o2"),
    (checks.role_arn, "arn:aws:iam::123456789012:role/x", "arn:aws:iam::123456789012:role/x"),
])
def test_good_values_are_normalized(checker, value, expected):
    assert checker(value) == expected


@pytest.mark.parametrize("checker, value, fragment", [
    (checks.boolean, "maybe", "expected a boolean"),
    (checks.integer(1, 10), 11, "between 1 and 10"), (checks.integer(1), True, ">= 1"),
    (checks.namespace, "a" * 64, "DNS-1123 label"), (checks.namespace, "a.b", "DNS-1123 label"),
    (checks.release_name, "a" * 54, "at most 53"), (checks.image_tag, "latest", "must be pinned"),
    (checks.quantity_map, {"cpu": "lots"}, "not a Kubernetes quantity"), (checks.string, 8787, "quote it in YAML"),
    (checks.choice(("a", "b")), "c", "one of a, b"), (checks.dict_value, [], "expected a dict"),
    (checks.role_arn, "arn:aws:iam::1:role/x", "IAM role ARN"),
])
def test_bad_values_say_what_was_expected(checker, value, fragment):
    with pytest.raises(checks.Invalid, match=fragment.replace("(", r"\(")):
        checker(value)


def test_a_secret_is_never_echoed():
    with pytest.raises(checks.Invalid) as exc:
        checks.secret_string(12345678)
    assert "12345678" not in str(exc.value) and "a int" in str(exc.value)


@pytest.mark.parametrize("value, fragment", [
    ("300.1.1.1/32", "not a valid CIDR"), ("10.0.0.300/16", "not a valid CIDR"), ("10.0.0.1/16", "host bits set"),
    ("0.0.0.0/00", "invalid prefix length '00'"), ("10.0.0.0", "give an address and a prefix length"),
    (True, "not a valid CIDR"), ("::/0x", "invalid prefix length"),
])
def test_parse_cidr_refuses_what_regexes_let_through(value, fragment):
    with pytest.raises(checks.Invalid, match=fragment):
        checks.parse_cidr(value)


def test_parse_cidr_and_world():
    assert str(checks.parse_cidr(" 44.221.117.129/32 ")) == "44.221.117.129/32"
    assert checks.parse_cidr("::/0", version=6).prefixlen == 0
    with pytest.raises(checks.Invalid, match="not an IPv4 CIDR"):
        checks.parse_cidr("::/0", version=4)
    assert checks.is_world(checks.parse_cidr("0.0.0.0/0")) and checks.is_world("::/0")
    assert not checks.is_world("10.0.0.0/8") and not checks.is_world(None)


def test_the_load_balancer_sources_use_the_same_cidr_rule():
    from ansible_collections.portkey_ai.gateway.plugins.module_utils import _lb
    with pytest.raises(_lb.LbError, match="sources.cidrs: '0.0.0.0/00' has an invalid prefix length"):
        _lb.normalize_cidr("0.0.0.0/00")
    assert _lb.normalize_cidr("::/0") == ("::/0", _lb.KIND_IPV6)


@pytest.mark.parametrize("value, seconds", [
    ("5m", 300.0), ("300s", 300.0), ("1h30m", 5400.0), ("0", 0.0), (0, 0.0), ("1.5s", 1.5),
    ("5 minutes", None), ("300", None), (True, None), ("", None),
])
def test_duration_seconds_reads_go_durations(value, seconds):
    assert checks.duration_seconds(value) == seconds


@pytest.mark.parametrize("pattern, good, bad", [
    (checks.VPC_ID, "vpc-0123456789abcdef0", "vpc-123"), (checks.SG_ID, "sg-01234567", "sg-0123456789abcdef"),
    (checks.ACCOUNT_ID, "123456789012", "12345678901"), (checks.REGION_SHAPE, "eu-west-1", "euwest1"),
])
def test_aws_id_shapes(pattern, good, bad):
    assert pattern.match(good) and not pattern.match(bad)
