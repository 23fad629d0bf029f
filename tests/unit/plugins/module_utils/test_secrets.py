# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets out of Helm's values (chart 1.7.x): the split, the owned Secrets, gateway_release's Secret handling
(create before the upgrade, no write when equal, redacted diff, restore after a failed upgrade, uninstall),
existing / ExternalSecret-made Secrets, and chart 1.0.x."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import base64
import copy
import json

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redaction_marker
from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import HelmError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._release import ReleaseManager, ReleaseRequest
from ansible_collections.portkey_ai.gateway.plugins.module_utils._secrets import (
    data_checksum, decoded_data, dockerconfigjson, env_secret_keys, owned_secrets, secret_changes,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import build_values

CLIENT_AUTH = "ck-unit-secret-0123456789"
ROTATED = "ck-unit-rotated-9876543210"
REGISTRY_PASSWORD = "dckr-unit-pw-42"


def test_env_secret_keys_by_name_and_by_url_credentials():
    env = {"PORTKEY_CLIENT_AUTH": "x", "LOG_STORE_SECRET_KEY": "y", "LOG_STORE_REGION": "eu", "REDIS_PASSWORD": "",
           "REDIS_URL": "rediss://:pw@cache:6379", "OTEL_ENDPOINT": "http://otel:4318",
           "MONGO_DB_CONNECTION_URL": "mongodb://u:p@db/x"}
    assert env_secret_keys(env) == ["LOG_STORE_SECRET_KEY", "MONGO_DB_CONNECTION_URL", "PORTKEY_CLIENT_AUTH",
                                    "REDIS_URL"]


def test_data_checksum_is_order_free_and_never_the_content():
    assert data_checksum({"A": "1", "B": "2"}) == data_checksum({"B": "2", "A": "1"}) != data_checksum({"A": "1"})
    assert CLIENT_AUTH not in data_checksum({"K": CLIENT_AUTH}) and len(data_checksum({})) == 64


def test_dockerconfigjson_follows_the_chart_rule():
    full = json.loads(dockerconfigjson({"registry": "r", "username": "u", "password": "p", "email": ""}))
    assert full == {"auths": {"r": {"username": "u", "password": "p", "email": "", "auth": "dTpw"}}}
    assert json.loads(dockerconfigjson({"registry": "r", "auth": "dG9r"})) == {"auths": {"r": {"auth": "dG9r"}}}


def test_secret_changes_names_keys_only():
    plan = {"mode": "owned", "name": "s", "data": {"A": "1", "B": "2"}, "pull_secret": None}
    desired = owned_secrets(plan, "ns", "rel")[0]
    assert desired["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "portkey_ai.gateway",
                                             "portkey.ai/release": "rel"}
    assert secret_changes(copy.deepcopy(desired), desired) == ([], False)
    older = owned_secrets(dict(plan, data={"A": "0", "C": "3"}), "ns", "rel")[0]
    assert secret_changes(older, desired) == (["A", "B", "C"], False)
    assert secret_changes(None, desired) == (["A", "B"], False)


# ---------------------------------------------------------------------------------------------------------------
# gateway_release with a fake helm and a fake Secrets API


class FakeKube(object):
    def __init__(self, secrets=None):
        self.secrets = dict(((s["metadata"]["namespace"], s["metadata"]["name"]), s) for s in secrets or [])
        self.calls = []

    def get(self, name, namespace):
        self.calls.append(("get", name))
        return copy.deepcopy(self.secrets.get((namespace, name)))

    def owned(self, namespace, release):
        self.calls.append(("owned", release))
        return [copy.deepcopy(s) for (ns, _n), s in sorted(self.secrets.items())
                if ns == namespace and (s["metadata"].get("labels") or {}).get("portkey.ai/release") == release]

    def ensure_namespace(self, namespace):
        self.calls.append(("namespace", namespace))

    def put(self, current, desired):
        self.calls.append(("put", desired["metadata"]["name"]))
        self.secrets[(desired["metadata"]["namespace"], desired["metadata"]["name"])] = copy.deepcopy(desired)

    def delete(self, name, namespace):
        self.calls.append(("delete", name))
        self.secrets.pop((namespace, name), None)


class FakeHelm(object):
    """upgrade stores the values file as the release's config; template renders a constant manifest plus the
    pod annotations (so a secret checksum change is a manifest change)."""

    def __init__(self, log, fail_upgrade=False):
        self.log = log
        self.current = None
        self.fail_upgrade = fail_upgrade
        self.calls = []

    def _manifest(self, files):
        values = json.load(open(files[0]))
        return ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: pk-gateway}\n"
                "spec: {template: {metadata: {annotations: %s}}}\n" % json.dumps(values.get("podAnnotations")))

    def release(self, name, namespace, revision=None):
        return copy.deepcopy(self.current)

    def template(self, name, namespace, chart_path, values_files=(), is_upgrade=False):
        return self._manifest(values_files)

    def upgrade(self, name, namespace, chart_path, values_files=(), **kwargs):
        self.log.append(("upgrade", name))
        if self.fail_upgrade:
            raise HelmError("timed out waiting for the condition", stderr="timed out waiting for the condition")
        self.current = dict(name=name, namespace=namespace, version=(self.current or {}).get("version", 0) + 1,
                            info=dict(status="deployed"),
                            chart=dict(metadata=dict(name="gateway", version=self.version, appVersion="x")),
                            config=json.load(open(values_files[0])), manifest=self._manifest(values_files))
        return self.current

    def uninstall(self, name, namespace, **kwargs):
        self.log.append(("uninstall", name))
        self.current = None


@pytest.fixture
def chart(tmp_path):
    def make(version="1.7.7"):
        path = tmp_path / ("chart-" + version)
        path.mkdir()
        (path / "Chart.yaml").write_text("apiVersion: v2\nname: gateway\nversion: %s\nappVersion: x\n" % version)
        (path / "values.yaml").write_text("{}\n")
        return str(path)
    return make


def _spec(client_auth=CLIENT_AUTH, **over):
    spec = {"release_name": "pk", "namespace": "ns", "client_auth": client_auth, "organisations_to_sync": "org-1",
            "image_credentials": {"username": "bot", "password": REGISTRY_PASSWORD}}
    spec.update(over)
    return dict((k, v) for k, v in spec.items() if v is not None)


def _run(chart_path, kube, helm, check=False, diff=False, state="present", **spec):
    req = ReleaseRequest("pk", "ns", chart_path=chart_path, values_spec=_spec(**spec), state=state,
                         check_mode=check, diff=diff)
    shown = set()
    result = ReleaseManager(helm, req, add_secrets=shown.update, kube_secrets=lambda: kube).run()
    return result, shown


def _pair(version="1.7.7"):
    log = []
    kube, helm = FakeKube(), FakeHelm(log)
    helm.version = version
    original_put = kube.put

    def put(current, desired):
        log.append(("put", desired["metadata"]["name"]))
        original_put(current, desired)
    kube.put = put
    return log, kube, helm


def test_owned_secrets_are_written_before_the_upgrade_and_a_rerun_writes_nothing(chart):
    log, kube, helm = _pair()
    path = chart()
    result, shown = _run(path, kube, helm)
    assert result["changed"] and log == [("put", "pk-gateway-env"), ("put", "pk-gateway-registry"), ("upgrade", "pk")]
    assert {CLIENT_AUTH, REGISTRY_PASSWORD} <= shown
    assert decoded_data(kube.secrets[("ns", "pk-gateway-env")]) == {"PORTKEY_CLIENT_AUTH": CLIENT_AUTH}
    assert REGISTRY_PASSWORD in decoded_data(kube.secrets[("ns", "pk-gateway-registry")])[".dockerconfigjson"]
    config = json.dumps(helm.current["config"])
    assert CLIENT_AUTH not in config and REGISTRY_PASSWORD not in config
    assert "Secret pk-gateway-env is created (keys PORTKEY_CLIENT_AUTH)" in result["reasons"]

    del log[:]
    again, _shown = _run(path, kube, helm)
    assert again["changed"] is False and again["reasons"] == [] and log == []


def test_rotation_check_diff_shows_which_key_changes_never_the_value_then_rolls_the_pods(chart):
    log, kube, helm = _pair()
    path = chart()
    _run(path, kube, helm)
    before = helm.current["config"]["podAnnotations"]["portkey.ai/secret-checksum"]
    del log[:]
    check, _shown = _run(path, kube, helm, check=True, diff=True, client_auth=ROTATED)
    assert check["changed"] and log == []
    secret_diff = [d for d in check["diff"] if d["after_header"] == "Secret pk-gateway-env (desired)"][0]
    assert redaction_marker(CLIENT_AUTH) in secret_diff["before"]
    assert redaction_marker(ROTATED) in secret_diff["after"]
    text = json.dumps(check)
    assert CLIENT_AUTH not in text and ROTATED not in text
    assert "Secret pk-gateway-env changes (keys PORTKEY_CLIENT_AUTH)" in check["reasons"]

    real, _shown = _run(path, kube, helm, client_auth=ROTATED)
    assert real["changed"] and log == [("put", "pk-gateway-env"), ("upgrade", "pk")]
    assert helm.current["config"]["podAnnotations"]["portkey.ai/secret-checksum"] != before


def test_failed_upgrade_gives_the_secret_its_previous_content_back(chart):
    log, kube, helm = _pair()
    path = chart()
    _run(path, kube, helm)
    helm.fail_upgrade = True
    with pytest.raises(PortkeyError):
        _run(path, kube, helm, client_auth=ROTATED)
    assert decoded_data(kube.secrets[("ns", "pk-gateway-env")]) == {"PORTKEY_CLIENT_AUTH": CLIENT_AUTH}


def test_uninstall_deletes_the_owned_secrets_and_a_second_uninstall_changes_nothing(chart):
    log, kube, helm = _pair()
    _run(chart(), kube, helm)
    first, _shown = _run(None, kube, helm, state="absent")
    assert first["changed"] and kube.secrets == {}
    assert ("uninstall", "pk") in log
    second, _shown = _run(None, kube, helm, state="absent")
    assert second["changed"] is False


def test_switching_to_values_mode_deletes_the_stale_owned_secrets_after_the_upgrade(chart):
    log, kube, helm = _pair()
    path = chart()
    _run(path, kube, helm)
    del log[:]
    result, _shown = _run(path, kube, helm, secrets={"mode": "values"})
    assert result["changed"] and log == [("upgrade", "pk")] and kube.secrets == {}
    assert helm.current["config"]["environment"]["data"]["PORTKEY_CLIENT_AUTH"] == CLIENT_AUTH


def _existing(name, data, labels=None):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": "ns", "labels": labels or {}},
            "data": dict((k, base64.b64encode(v.encode()).decode()) for k, v in data.items())}


@pytest.mark.parametrize("mode", ["existing", "external"])
def test_referenced_secret_checksum_rolls_the_pods_when_the_secret_changes(chart, mode):
    log, kube, helm = _pair()
    kube.secrets[("ns", "mine")] = _existing("mine", {"PORTKEY_CLIENT_AUTH": CLIENT_AUTH})
    secrets = {"mode": mode, "name": "mine", "keys": ["PORTKEY_CLIENT_AUTH"], "store": "s", "remote_key": "k"}
    if mode == "existing":
        secrets = dict((k, secrets[k]) for k in ("mode", "name", "keys"))
    path = chart()
    first, shown = _run(path, kube, helm, client_auth=None, image_credentials=None, image_pull_secret="reg",
                        secrets=secrets)
    assert first["changed"] and CLIENT_AUTH in shown
    annotation = helm.current["config"]["podAnnotations"]["portkey.ai/secret-checksum"]
    assert annotation == data_checksum({"PORTKEY_CLIENT_AUTH": base64.b64encode(CLIENT_AUTH.encode()).decode()})
    assert helm.current["config"]["environment"] == {
        "create": False, "secret": True, "existingSecret": "mine", "secretKeys": ["PORTKEY_CLIENT_AUTH"],
        "data": helm.current["config"]["environment"]["data"]}
    again, _shown = _run(path, kube, helm, client_auth=None, image_credentials=None, image_pull_secret="reg",
                         secrets=secrets)
    assert again["changed"] is False
    kube.secrets[("ns", "mine")] = _existing("mine", {"PORTKEY_CLIENT_AUTH": ROTATED})
    rotated, _shown = _run(path, kube, helm, client_auth=None, image_credentials=None, image_pull_secret="reg",
                           secrets=secrets)
    assert rotated["changed"] and not [c for c in log if c[0] == "put"]
    assert helm.current["config"]["podAnnotations"]["portkey.ai/secret-checksum"] != annotation


def test_missing_existing_secret_or_key_fails_naming_the_variable_before_any_write(chart):
    log, kube, helm = _pair()
    args = dict(client_auth=None, image_credentials=None, image_pull_secret="reg",
                secrets={"mode": "existing", "name": "mine", "keys": ["PORTKEY_CLIENT_AUTH"]})
    with pytest.raises(PortkeyError) as err:
        _run(chart(), kube, helm, **args)
    assert "portkey_secrets.name: the Secret mine does not exist" in str(err.value) and log == []
    kube.secrets[("ns", "mine")] = _existing("mine", {"OTHER": "x"})
    with pytest.raises(PortkeyError) as err:
        _run(chart("1.7.6"), kube, helm, **args)
    assert "portkey_secrets.keys: the Secret mine in namespace ns has no key PORTKEY_CLIENT_AUTH" in str(err.value)
    assert log == []


@pytest.mark.parametrize("inputs, error", [
    ({"secrets": {"mode": "existing", "keys": ["PORTKEY_CLIENT_AUTH"]}, "client_auth": None},
     "portkey_secrets.name: is required with portkey_secrets.mode existing"),
    ({"secrets": {"mode": "existing", "name": "mine", "keys": ["REDIS_URL"]}},
     "portkey_client_auth: is a secret, and with portkey_secrets.mode existing secrets come from the Secret mine"),
    ({"secrets": {"mode": "existing", "name": "mine", "keys": ["PORTKEY_CLIENT_AUTH"]}},
     "portkey_client_auth: PORTKEY_CLIENT_AUTH comes from the Secret mine (portkey_secrets.keys); remove it here"),
    ({"secrets": {"mode": "external", "name": "mine", "keys": ["PORTKEY_CLIENT_AUTH"]}, "client_auth": None},
     "portkey_secrets.store: is required with portkey_secrets.mode external"),
    ({"secrets": {"mode": "sealed"}}, "portkey_secrets.mode: expected one of owned, existing, external, values"),
    ({"secrets": {"mode": "owned", "keys": "PORTKEY_CLIENT_AUTH"}},
     "portkey_secrets.keys: expected a non-empty list of environment variable names"),
])
def test_bad_secret_inputs_name_the_variable(inputs, error):
    with pytest.raises(PortkeyError) as err:
        build_values(_spec(**inputs), {"name": "gateway", "version": "1.7.7"})
    assert any(e.startswith(error) for e in err.value.errors), err.value.errors


def test_chart_1_0_keeps_secrets_in_values_warns_once_and_refuses_other_modes(chart):
    log, kube, helm = _pair("1.0.8")
    result, _shown = _run(chart("1.0.8"), kube, helm)
    # said once per cluster and run: returned for the summary, not also an Ansible warning
    assert result["secrets_warning"].startswith("chart 1.0.x cannot reference an existing Secret")
    assert not [w for w in result["warnings"] if "chart 1.0.x cannot reference an existing Secret" in w]
    assert helm.current["config"]["environment"]["data"]["PORTKEY_CLIENT_AUTH"] == CLIENT_AUTH
    assert kube.calls == [], "chart 1.0.x: no Secrets API call"
    with pytest.raises(PortkeyError) as err:
        build_values(_spec(secrets={"mode": "owned"}), {"name": "gateway", "version": "1.0.8"})
    assert err.value.errors[0].startswith("portkey_secrets.mode: chart 1.0.x has no environment.existingSecret")
