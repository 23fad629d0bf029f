# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_k8s_auth: the shared connection spec, the kubernetes client configuration and helm's connection."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import stat

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._k8s_auth import (
    AWS_VALIDATE_CERTS_NAME, K8S_AUTH_ARG_SPEC, K8sAuth, k8s_auth_spec,
)

TOKEN = "sha256~bearer-token-0123456789"


def test_spec_matches_kubernetes_core_names_and_env():
    env = dict((k, v["fallback"][1]) for k, v in K8S_AUTH_ARG_SPEC.items())
    assert env == dict(kubeconfig=["K8S_AUTH_KUBECONFIG", "KUBECONFIG"], context=["K8S_AUTH_CONTEXT"],
                       host=["K8S_AUTH_HOST"], api_key=["K8S_AUTH_API_KEY"], validate_certs=["K8S_AUTH_VERIFY_SSL"],
                       ca_cert=["K8S_AUTH_SSL_CA_CERT"])
    assert K8S_AUTH_ARG_SPEC["api_key"]["no_log"] is True
    assert K8S_AUTH_ARG_SPEC["validate_certs"]["aliases"] == ["verify_ssl"]
    assert K8S_AUTH_ARG_SPEC["ca_cert"]["aliases"] == ["ssl_ca_cert"]


def test_aws_variant_renames_validate_certs_and_copies():
    spec = k8s_auth_spec(AWS_VALIDATE_CERTS_NAME)
    assert "validate_certs" not in spec and "aliases" not in spec["k8s_validate_certs"]
    assert spec["k8s_validate_certs"]["fallback"][1] == ["K8S_AUTH_VERIFY_SSL"]
    assert "aliases" in K8S_AUTH_ARG_SPEC["validate_certs"]  # the shared spec is untouched


def test_doc_fragment_mirrors_spec():
    import yaml
    from ansible_collections.portkey_ai.gateway.plugins.doc_fragments.k8s_auth import ModuleDocFragment
    common = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    for variant, spec in ((ModuleDocFragment.VALIDATE_CERTS, k8s_auth_spec()),
                          (ModuleDocFragment.AWS, k8s_auth_spec(AWS_VALIDATE_CERTS_NAME))):
        options = dict(common, **yaml.safe_load(variant)["options"])
        assert sorted(options) == sorted(spec)
        for name, opt in spec.items():
            assert options[name]["type"] == opt["type"], name
            assert options[name].get("aliases", []) == opt.get("aliases", []), name
            for var in opt["fallback"][1]:
                assert var in " ".join(options[name]["description"]), (name, var)


def test_token_only_configuration_reads_no_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    cfg = K8sAuth(host="https://api.example:6443/", api_key=TOKEN, validate_certs=False).configuration()
    assert cfg.host == "https://api.example:6443"
    assert cfg.verify_ssl is False
    assert cfg.auth_settings()["BearerToken"]["value"] == "Bearer " + TOKEN


def test_overrides_on_top_of_a_kubeconfig(tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://from-file:6443"}}],
        "users": [{"name": "u", "user": {"token": "file-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    cfg = K8sAuth(kubeconfig=str(kubeconfig)).configuration()
    assert cfg.host == "https://from-file:6443" and cfg.auth_settings()["BearerToken"]["value"] == "Bearer file-token"
    cfg = K8sAuth(kubeconfig=str(kubeconfig), host="https://other:6443", api_key=TOKEN, ca_cert=str(ca)).configuration()
    assert cfg.host == "https://other:6443" and cfg.ssl_ca_cert == str(ca)
    assert cfg.auth_settings()["BearerToken"]["value"] == "Bearer " + TOKEN


def test_bad_kubeconfig_names_the_options(tmp_path):
    with pytest.raises(PortkeyError) as err:
        K8sAuth(kubeconfig=str(tmp_path / "nope")).configuration()
    assert "portkey_kubeconfig" in str(err.value) and "K8S_AUTH_HOST" in str(err.value)


def test_helm_connection_token_kubeconfig_is_private_and_removed(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    auth = K8sAuth(host="https://api.example:6443", api_key=TOKEN, ca_cert=str(ca), context="ignored")
    with auth.helm_connection() as conn:
        path = conn["kubeconfig"]
        assert conn["context"] is None and conn["global_args"] == [] and conn["env"] == {}
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        doc = json.load(open(path))
        assert doc["users"][0]["user"]["token"] == TOKEN
        assert doc["clusters"][0]["cluster"] == {"server": "https://api.example:6443",
                                                 "certificate-authority": str(ca)}
    assert not os.path.exists(os.path.dirname(path))


def test_helm_connection_removed_on_error():
    auth = K8sAuth(host="http://127.0.0.1:1", api_key=TOKEN, validate_certs=False)
    with pytest.raises(RuntimeError):
        with auth.helm_connection() as conn:
            assert json.load(open(conn["kubeconfig"]))["clusters"][0]["cluster"]["insecure-skip-tls-verify"] is True
            raise RuntimeError("boom")
    assert not os.path.exists(conn["kubeconfig"])


def test_helm_connection_overrides_use_flags_and_env_for_the_token():
    auth = K8sAuth(kubeconfig="/k", context="c", host="https://h", api_key=TOKEN, validate_certs=False)
    # host + api_key is token-only; a token without host rides on the kubeconfig, in helm's environment
    auth.host = None
    with auth.helm_connection() as conn:
        assert conn == dict(kubeconfig="/k", context="c", global_args=["--kube-insecure-skip-tls-verify"],
                            env={"HELM_KUBETOKEN": TOKEN})
    with K8sAuth(kubeconfig="/k", host="https://h").helm_connection() as conn:
        assert conn["global_args"] == ["--kube-apiserver", "https://h"] and conn["env"] == {}


def test_helm_adds_global_args_to_cluster_commands_only():
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import Helm
    seen = []

    def run_command(argv, check_rc=False, environ_update=None):
        seen.append((argv, environ_update))
        return 0, "v3.19.0", ""

    helm = Helm(run_command, "helm", global_args=["--kube-apiserver", "https://h"], env={"HELM_KUBETOKEN": TOKEN})
    helm.run([helm.binary, "version", "--template", "{{.Version}}"])
    helm.run([helm.binary, "history", "r"])
    assert seen[0][0][-1] == "{{.Version}}" and seen[1][0][-2:] == ["--kube-apiserver", "https://h"]
    assert seen[1][1]["HELM_KUBETOKEN"] == TOKEN
    assert TOKEN not in json.dumps(helm.calls)


# -- credential_hint: what to run when the cluster refuses the credentials -----------------------------------------
