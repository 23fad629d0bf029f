# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_k8s_auth's credential hint, which runs the kubeconfig's exec credential plugin (a process: not a
unit test)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


def _exec_kubeconfig(tmp_path, command, args):
    import yaml
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "c", "cluster": {"server": "https://example.invalid"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                  "command": command, "args": args,
                                                  "env": [{"name": "AWS_PROFILE", "value": "ops"}]}}}]}))
    return str(path)


def test_credential_hint_for_aws_eks_get_token_quotes_the_plugin_error_and_says_what_to_run(tmp_path):
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._k8s_auth import credential_hint
    aws = tmp_path / "aws"
    aws.write_text("#!/bin/sh\necho 'Error when retrieving token from sso: Token has expired and refresh failed' >&2\n"
                   "exit 255\n")
    aws.chmod(0o755)
    kubeconfig = _exec_kubeconfig(tmp_path, str(aws), ["--region", "eu-west-1", "eks", "get-token",
                                                       "--cluster-name", "prod-eks", "--output", "json"])
    hint = credential_hint(kubeconfig, "prod")
    for text in ("portkey_kubeconfig", "portkey_kube_context", "Token has expired", "aws sso login --profile ops",
                 "aws eks update-kubeconfig --name prod-eks --region eu-west-1 --kubeconfig " + kubeconfig):
        assert text in hint


def test_credential_hint_for_other_plugins_and_static_tokens(tmp_path):
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._k8s_auth import credential_hint
    kubeconfig = _exec_kubeconfig(tmp_path, "/nonexistent/kubelogin", ["get-token"])
    assert "run it by hand" in credential_hint(kubeconfig) and "cannot run /nonexistent/kubelogin" in \
        credential_hint(kubeconfig)
    hint = credential_hint(str(tmp_path / "missing"), None)
    assert "portkey_kubeconfig" in hint and "aws eks update-kubeconfig" in hint
