"""The lab's test charts (lab/charts) render the objects of the Portkey chart interface they stand in for."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / ".venv" / "bin" / "helm"
HELM4 = ROOT / ".venv" / "bin" / "helm4"
LEGACY = ROOT / "lab" / "charts" / "legacy"
CURRENT = ROOT / "lab" / "charts" / "current"
SA = {"serviceAccount": {"name": "portkey-sa"}}  # 1.7.x needs a service account name


def helm(*args: str, binary: Path = HELM) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


def render(chart: Path, release: str = "portkey-gateway", values: dict | None = None, tmp_path: Path | None = None,
           binary: Path = HELM) -> subprocess.CompletedProcess:
    args = ["template", release, str(chart), "--namespace", "portkeyai"]
    if values is not None:
        path = tmp_path / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        args += ["-f", str(path)]
    return helm(*args, binary=binary)


def objects(chart: Path, release: str = "portkey-gateway", values: dict | None = None,
            tmp_path: Path | None = None) -> dict[tuple[str, str], dict]:
    result = render(chart, release, values, tmp_path)
    assert result.returncode == 0, result.stderr
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(result.stdout) if doc}


def container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def env_secret_data(objs: dict, fullname: str) -> dict[str, str]:
    data = objs[("Secret", fullname)]["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


@pytest.mark.parametrize("chart,values", [(LEGACY, []), (CURRENT, []), (CURRENT, ["--set", "serviceAccount.name=x"])])
def test_helm_lint(chart, values):
    result = helm("lint", str(chart), *values)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("chart,version,app_version", [(LEGACY, "1.0.8", "1.11.4"), (CURRENT, "1.7.7", "2.13.0")])
def test_chart_metadata(chart, version, app_version):
    meta = yaml.safe_load(helm("show", "chart", str(chart)).stdout)
    assert (meta["name"], meta["version"], meta["appVersion"]) == ("gateway", version, app_version)


@pytest.mark.parametrize("release,fullname", [("portkey-gateway", "portkey-gateway"),
                                              ("portkey-ai", "portkey-ai-gateway"),
                                              ("portkey-app", "portkey-app-gateway")])
def test_legacy_objects_follow_the_fullname_rule(release, fullname):
    objs = objects(LEGACY, release)
    assert set(objs) == {
        ("Secret", fullname), ("Secret", "portkeyenterpriseregistrycredentials"), ("ServiceAccount", fullname),
        ("ConfigMap", "resource-config"), ("Service", fullname), ("Service", "redis"),
        ("Deployment", fullname), ("Deployment", "redis"), ("Pod", f"{fullname}-test-connection"),
    }
    selector = {"app.kubernetes.io/name": "gateway", "app.kubernetes.io/instance": release}
    deployment, service = objs[("Deployment", fullname)], objs[("Service", fullname)]
    assert deployment["spec"]["selector"]["matchLabels"] == selector
    assert service["spec"]["selector"] == selector
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items() and "app.kubernetes.io/component" not in labels
    assert labels["helm.sh/chart"] == "gateway-1.0.8" and labels["app.kubernetes.io/version"] == "1.11.4"
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"] == [{"port": 8787, "targetPort": "gateway", "protocol": "TCP", "name": "gateway"}]
    gw = container(deployment)
    assert gw["name"] == "gateway"
    assert gw["image"] == "docker.io/portkeyai/gateway_enterprise:1.11.4"
    assert gw["ports"] == [{"name": "gateway", "containerPort": 8787, "protocol": "TCP"}]
    assert gw["readinessProbe"]["httpGet"] == {"path": "/v1/health", "port": 8787}
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in gw["env"]}
    assert env["PORTKEY_CLIENT_AUTH"] == {"name": fullname, "key": "PORTKEY_CLIENT_AUTH"}
    assert set(env) == set(env_secret_data(objs, fullname))
    redis_selector = objs[("Service", "redis")]["spec"]["selector"]
    assert redis_selector == {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": release}


def test_legacy_options_add_their_objects(tmp_path):
    objs = objects(LEGACY, "portkey-ai", {
        "autoscaling": {"enabled": True}, "ingress": {"enabled": True, "hostname": "gw.example.com"},
        "dataservice": {"enabled": True, "autoscaling": {"enabled": True, "createHpa": True}},
        "podAnnotations": {"a": "b"}, "affinity": {"podAntiAffinity": {}},
        "service": {"type": "LoadBalancer", "port": 8787, "annotations": {"x/y": "z"}},
    }, tmp_path)
    names = {key for key in objs if key[1].startswith("portkey-ai-gateway")}
    assert {("HorizontalPodAutoscaler", "portkey-ai-gateway"), ("Ingress", "portkey-ai-gateway"),
            ("Deployment", "portkey-ai-gateway-dataservice"), ("Service", "portkey-ai-gateway-dataservice"),
            ("ServiceAccount", "portkey-ai-gateway-dataservice"),
            ("HorizontalPodAutoscaler", "portkey-ai-gateway-dataservice")} <= names
    deployment = objs[("Deployment", "portkey-ai-gateway")]
    assert "replicas" not in deployment["spec"]
    assert deployment["metadata"]["annotations"] == {"x/y": "z"}
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {"a": "b"}
    assert deployment["spec"]["template"]["spec"]["affinity"] == {"podAntiAffinity": {}}
    ds_labels = objs[("Deployment", "portkey-ai-gateway-dataservice")]["spec"]["template"]["metadata"]["labels"]
    assert ds_labels["app.kubernetes.io/component"] == "portkey-ai-gateway-dataservice"
    ds_env = {e["name"] for e in container(deployment)["env"]}
    assert "DATASERVICE_BASEPATH" in ds_env


@pytest.mark.parametrize("chart,extra", [(LEGACY, {}), (CURRENT, SA)])
def test_image_credentials_list_becomes_dockerconfigjson_secrets(chart, extra, tmp_path):
    creds = [
        {"name": "regcred", "create": True, "registry": "https://index.docker.io/v1/", "username": "u",
         "password": "p", "email": "e@x", "auth": ""},
        {"name": "tokencred", "create": True, "registry": "r.example.com", "auth": "dG9rZW4="},
        {"name": "precreated", "create": False},
    ]
    objs = objects(chart, values={**extra, "imageCredentials": creds}, tmp_path=tmp_path)
    secret = objs[("Secret", "regcred")]
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert config == {"auths": {"https://index.docker.io/v1/": {
        "username": "u", "password": "p", "email": "e@x", "auth": base64.b64encode(b"u:p").decode()}}}
    token = json.loads(base64.b64decode(objs[("Secret", "tokencred")]["data"][".dockerconfigjson"]))
    assert token == {"auths": {"r.example.com": {"auth": "dG9rZW4="}}}
    assert ("Secret", "precreated") not in objs
    pull = objs[("Deployment", "portkey-gateway")]["spec"]["template"]["spec"]["imagePullSecrets"]
    assert pull == [{"name": "regcred"}, {"name": "tokencred"}, {"name": "precreated"}]


@pytest.mark.parametrize("chart,extra", [(LEGACY, {}), (CURRENT, SA)])
def test_redis_objects_only_with_cache_store_redis(chart, extra, tmp_path):
    objs = objects(chart, values={**extra, "environment": {"data": {"CACHE_STORE": "aws-elastic-cache"}}},
                   tmp_path=tmp_path)
    assert not [key for key in objs if key[1] == "redis"]
    assert ("ConfigMap", "resource-config") in objs


def test_legacy_non_string_env_values_break_or_render_empty(tmp_path):
    for value in (True, 8787):
        result = render(LEGACY, values={"environment": {"data": {"REDIS_TLS_ENABLED": value}}}, tmp_path=tmp_path)
        assert result.returncode != 0 and "b64enc" in result.stderr
    objs = objects(LEGACY, values={"environment": {"data": {"REDIS_TLS_ENABLED": False, "PORT": 0}}},
                   tmp_path=tmp_path)
    data = env_secret_data(objs, "portkey-gateway")
    assert data["REDIS_TLS_ENABLED"] == "" and data["PORT"] == ""


def test_current_renders_non_string_env_values(tmp_path):
    values = {**SA, "environment": {"data": {"REDIS_TLS_ENABLED": True, "PORT": 8787, "REDIS_MODE": False}}}
    data = env_secret_data(objects(CURRENT, values=values, tmp_path=tmp_path), "portkey-gateway")
    assert (data["REDIS_TLS_ENABLED"], data["PORT"], data["REDIS_MODE"]) == ("true", "8787", "false")


def test_current_fails_without_service_account_name(tmp_path):
    result = render(CURRENT)
    assert result.returncode != 0 and "serviceAccount.name" in result.stderr
    result = render(CURRENT, values={**SA, "dataservice": {"enabled": True}}, tmp_path=tmp_path)
    assert result.returncode != 0 and "dataservice.serviceAccount.name" in result.stderr


@pytest.mark.parametrize("release,fullname", [("portkey-gateway", "portkey-gateway"),
                                              ("portkey-ai", "portkey-ai-gateway")])
def test_current_objects_and_defaults(release, fullname, tmp_path):
    objs = objects(CURRENT, release, SA, tmp_path)
    assert ("ServiceAccount", fullname) not in objs and ("ServiceAccount", "portkey-sa") not in objs
    assert {("Deployment", fullname), ("Service", fullname), ("Secret", fullname), ("Deployment", "redis"),
            ("Service", "redis"), ("ConfigMap", "resource-config")} <= set(objs)
    deployment = objs[("Deployment", fullname)]
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "portkey-sa"
    assert deployment["spec"]["revisionHistoryLimit"] == 10
    gw = container(deployment)
    assert gw["image"] == "docker.io/portkeyai/gateway_enterprise:2.13.0"
    assert gw["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000, "readOnlyRootFilesystem": True,
                                     "allowPrivilegeEscalation": False}
    assert gw["livenessProbe"]["httpGet"] == {"path": "/v1/health", "port": 8787}
    assert len(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]) == 64
    assert objs[("Deployment", "redis")]["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "docker.io/redis:7.2-alpine"
    hpa = objects(CURRENT, release, {**SA, "autoscaling": {"enabled": True}}, tmp_path)
    assert hpa[("HorizontalPodAutoscaler", fullname)]["spec"]["minReplicas"] == 2


def test_current_options(tmp_path):
    values = {
        **SA, "imagePullSecrets": ["existing", {"name": "other"}, "portkeyenterpriseregistrycredentials"],
        "service": {"type": "LoadBalancer", "port": 80, "containerPort": 9000},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway"}],
        "terminationGracePeriodSeconds": 45, "extraEnv": [{"name": "EXTRA", "value": "1"}],
        "envFrom": [{"secretRef": {"name": "more"}}], "redis": {"serviceType": "ClusterIP"},
        "environment": {"create": False, "existingSecret": "portkey-env", "secretKeys": ["PORTKEY_CLIENT_AUTH"],
                        "data": {"ORGANISATIONS_TO_SYNC": "org-1"}},
    }
    objs = objects(CURRENT, values=values, tmp_path=tmp_path)
    assert ("Secret", "portkey-gateway") not in objs
    deployment = objs[("Deployment", "portkey-gateway")]
    spec = deployment["spec"]["template"]["spec"]
    pull = ("existing", "other", "portkeyenterpriseregistrycredentials")
    assert spec["imagePullSecrets"] == [{"name": name} for name in pull]
    assert spec["terminationGracePeriodSeconds"] == 45
    assert spec["topologySpreadConstraints"][0]["maxSkew"] == 1
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0}
    gw = container(deployment)
    assert gw["ports"][0]["containerPort"] == 9000 and gw["readinessProbe"]["httpGet"]["port"] == 9000
    assert gw["envFrom"] == [{"secretRef": {"name": "more"}}]
    env = {e["name"]: e for e in gw["env"]}
    assert env["PORTKEY_CLIENT_AUTH"]["valueFrom"]["secretKeyRef"] == {"name": "portkey-env",
                                                                       "key": "PORTKEY_CLIENT_AUTH"}
    assert env["ORGANISATIONS_TO_SYNC"]["value"] == "org-1" and env["EXTRA"]["value"] == "1"
    assert objs[("Service", "portkey-gateway")]["spec"]["ports"][0]["port"] == 80
    assert objs[("Service", "redis")]["spec"]["type"] == "ClusterIP"


def test_existing_secret_only_when_the_chart_creates_no_environment(tmp_path):
    """As upstream: environment.existingSecret is read only with environment.create false; with create true (the
    default) the chart's own Secret is rendered and referenced, and the existing Secret is ignored."""
    env = {"existingSecret": "portkey-env", "secretKeys": ["PORTKEY_CLIENT_AUTH"],
           "data": {"PORTKEY_CLIENT_AUTH": "inline", "ORGANISATIONS_TO_SYNC": "org-1"}}
    objs = objects(CURRENT, values={**SA, "environment": env}, tmp_path=tmp_path)
    assert objs[("Secret", "portkey-gateway")]["data"]["PORTKEY_CLIENT_AUTH"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
            for e in container(objs[("Deployment", "portkey-gateway")])["env"]}
    assert refs["PORTKEY_CLIENT_AUTH"] == refs["ORGANISATIONS_TO_SYNC"] == "portkey-gateway"
    objs = objects(CURRENT, values={**SA, "environment": {**env, "create": False}}, tmp_path=tmp_path)
    assert ("Secret", "portkey-gateway") not in objs
    gw_env = {e["name"]: e for e in container(objs[("Deployment", "portkey-gateway")])["env"]}
    assert gw_env["PORTKEY_CLIENT_AUTH"]["valueFrom"]["secretKeyRef"] == {"name": "portkey-env",
                                                                          "key": "PORTKEY_CLIENT_AUTH"}
    assert gw_env["ORGANISATIONS_TO_SYNC"] == {"name": "ORGANISATIONS_TO_SYNC", "value": "org-1"}


def test_checksum_follows_the_environment(tmp_path):
    def checksum(org: str) -> str:
        values = {**SA, "environment": {"data": {"ORGANISATIONS_TO_SYNC": org}}}
        deployment = objects(CURRENT, values=values, tmp_path=tmp_path)[("Deployment", "portkey-gateway")]
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert checksum("a") == checksum("a") != checksum("b")


@pytest.mark.parametrize("chart,values", [(LEGACY, None), (CURRENT, SA)])
def test_helm4_renders_the_same(chart, values, tmp_path):
    three = render(chart, "portkey-ai", values, tmp_path)
    four = render(chart, "portkey-ai", values, tmp_path, binary=HELM4)
    assert three.returncode == four.returncode == 0, four.stderr
    assert list(yaml.safe_load_all(three.stdout)) == list(yaml.safe_load_all(four.stdout))
