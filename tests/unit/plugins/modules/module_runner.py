# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() in this process with the given arguments, as Ansible would, and return its result."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import json

import pytest

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    import contextlib

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args=None):
        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old


def run_module(module, args, capsys, check=False, diff=False, secrets=()):
    """(exit code, parsed JSON result) of ``module.main()``; fails when one of ``secrets`` is in the output."""
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            module.main()
    out = capsys.readouterr().out
    for secret in secrets:
        assert secret not in out, "secret leaked in module output"
    return exc.value.code, json.loads(out)


def aws_test_env(monkeypatch, region):
    """Credentials and region for moto in this process, and no endpoint of a running lab."""
    for var in ("AWS_URL", "AWS_ENDPOINT_URL", "EC2_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)


def vpc_with_subnets(ec2, region):
    """A VPC 10.0.0.0/16 with two subnets in two zones (load balancers need two)."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % i, AvailabilityZone=region + z)["Subnet"]
               ["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    return vpc, subnets


@contextlib.contextmanager
def moto_vpc(monkeypatch, region):
    """moto's AWS in this process with one VPC and two subnets: (ec2 client, elbv2 client, vpc id, subnet ids)."""
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    aws_test_env(monkeypatch, region)
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name=region)
        vpc, subnets = vpc_with_subnets(ec2, region)
        yield ec2, boto3.client("elbv2", region_name=region), vpc, subnets
