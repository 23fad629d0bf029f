# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change in any release.

"""Build the Portkey gateway chart values (generations 1.0.x and 1.7.x) from structured inputs.

``build_values(inputs, chart)`` validates every input, collects ALL problems and raises one PortkeyError
whose ``errors`` name the inventory variable (``portkey_<input>``) and the fix. Pure: no I/O except
``read_chart``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import os
import re
from collections import namedtuple

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _checks as checks
from ansible_collections.portkey_ai.gateway.plugins.module_utils import _lb
from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import (
    PortkeyError,
    deep_merge,
    lookup,
    render_yaml,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import secret_paths, secret_values_of
from ansible_collections.portkey_ai.gateway.plugins.module_utils._chart import (
    chart_defaults, generation_of, load_chart, parse_semver,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._env_rules import (
    MANDATORY_ENV, apply_env_rules, read_environment)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._objects import (
    GATEWAY_PORT, SELECTOR_LABELS, gateway_label_selector)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._secrets import (
    MODES as SECRET_MODES,
    SECRET_CHECKSUM_ANNOTATION,
    data_checksum,
    default_names,
    dockerconfigjson,
    env_secret_keys,
)

GENERATIONS = ("1.0", "1.7")
DEFAULT_RELEASE = "portkey-gateway"
DEFAULT_NAMESPACE = "portkeyai"
DEFAULT_CHART_NAME = "gateway"
DOCKER_HUB_REGISTRY = "https://index.docker.io/v1/"
DEFAULT_PULL_SECRET = "portkeyenterpriseregistrycredentials"
PRIVATE_IMAGE = "docker.io/portkeyai/gateway_enterprise"
ENV_CHECKSUM_ANNOTATION = "portkey.ai/env-checksum"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
ZONE_KEY = "topology.kubernetes.io/zone"
# Runbook sizing: t4g.medium nodes are 2 vCPU / 4 GiB.
DEFAULT_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}

ValuesResult = namedtuple(
    "ValuesResult",
    "values secret_values secret_paths warnings generation env_checksum checksum chart_name fullname secrets",
)
ValuesResult.__new__.__defaults__ = (None,)  # secrets: the secret plan (see _secrets.py); contains secrets


# Structured inputs: input -> {field: checker}. Unknown fields are errors.
SECTIONS = {
    "image": {"repository": checks.string, "tag": checks.image_tag,
              "pull_policy": checks.choice(("Always", "IfNotPresent", "Never"))},
    "image_credentials": {"username": checks.string, "password": checks.secret_string, "auth": checks.secret_string,
                          "email": checks.optional_string, "registry": checks.string, "name": checks.k8s_name},
    "service": {"type": checks.choice(("LoadBalancer", "ClusterIP", "NodePort")), "port": checks.integer(1, 65535),
                "annotations": checks.string_map},
    "service_account": {"create": checks.boolean, "name": checks.k8s_name, "annotations": checks.string_map,
                        "role_arn": checks.role_arn},
    "resources": {"requests": checks.quantity_map, "limits": checks.quantity_map},
    "autoscaling": {"enabled": checks.boolean, "min_replicas": checks.integer(1), "max_replicas": checks.integer(1),
                    "target_cpu": checks.integer(1, 1000), "target_memory": checks.integer(1, 1000)},
    "high_availability": {"zone_spread": checks.boolean, "max_skew": checks.integer(1), "topology_key": checks.string,
                          "when_unsatisfiable": checks.choice(("ScheduleAnyway", "DoNotSchedule")),
                          # the PodDisruptionBudget is not a chart value (the gateway role creates it)
                          "pdb": checks.boolean, "pdb_min_available": checks.integer(1)},
    "strategy": {"max_surge": checks.int_or_percent, "max_unavailable": checks.int_or_percent},
    "dataservice": {"enabled": checks.boolean},
    # where the secrets live (1.7.x): see _secrets.py
    "secrets": {"mode": checks.choice(SECRET_MODES), "name": checks.k8s_name, "keys": checks.env_key_list,
                "pull_secret_name": checks.k8s_name, "store": checks.k8s_name,
                "store_kind": checks.choice(("SecretStore", "ClusterSecretStore")), "remote_key": checks.string,
                "refresh_interval": checks.string, "wait_timeout": checks.integer(1)},
}
# Plain inputs: input -> checker.
SCALARS = {
    "release_name": checks.release_name,
    "namespace": checks.namespace,
    "generation": checks.choice(("auto",) + GENERATIONS),
    "client_auth": checks.secret_string,
    "organisations_to_sync": checks.organisations,
    "environment": checks.dict_value,
    "environment_secret": checks.boolean,
    "image_pull_secret": checks.k8s_name,
    "replicas": checks.integer(1),
    "node_selector": checks.string_map,
    "tolerations": checks.list_of_dicts,
    "affinity": checks.dict_value,
    "pod_annotations": checks.string_map,
    "pod_labels": checks.string_map,
    "extra_values": checks.dict_value,
    # checked by _lb.load_balancer_settings (the keys are listed there)
    "load_balancer": checks.dict_value,
    "private_link": checks.dict_value,
    # sha256 of an existing / external Secret's data, read from the cluster by gateway_release (rotation)
    "secret_checksum": checks.string,
}
INPUTS = frozenset(SCALARS) | frozenset(SECTIONS)
# Input variable names that differ from portkey_<input>.
VARIABLES = {"generation": "portkey_chart_generation"}
# Field hints for known mistakes: (input, field) -> message.
FIELD_HINTS = dict(
    (("service", key), "the chart has no targetPort key: the Service targets the container port named 'gateway' "
                       "(8787); remove it (on 1.7.x set portkey_environment.PORT to move the container port)")
    for key in ("targetPort", "target_port"))
AUTOSCALING_KEYS = (("min_replicas", "minReplicas"), ("max_replicas", "maxReplicas"),
                    ("target_cpu", "targetCPUUtilizationPercentage"),
                    ("target_memory", "targetMemoryUtilizationPercentage"))


def variable(name):
    """The inventory variable behind an input name."""
    return VARIABLES.get(name, "portkey_" + name)


# ---------------------------------------------------------------------------------------------------------------
# Pure helpers

def helm_fullname(release, chart_name, name_override="", fullname_override=""):
    """Helm's fullname rule: the release name if it contains the chart name, else <release>-<chart> (63 chars)."""
    if fullname_override:
        return _trunc63(fullname_override)
    name = name_override or chart_name
    return _trunc63(release if name in release else "%s-%s" % (release, name))


def _trunc63(name):
    return name[:63].rstrip("-")


def read_chart(chart_path):
    """name/version/app_version/defaults of a chart directory (or its Chart.yaml), read by _chart (the one reader)."""
    folder = os.path.dirname(chart_path) if os.path.basename(chart_path) == "Chart.yaml" else chart_path
    try:
        chart = load_chart(folder)
    except PortkeyError as exc:
        raise PortkeyError("chart_path: %s; point portkey_chart_local_path / chart_path at a chart directory"
                           % exc.msg, errors=exc.errors)
    return {"name": chart["chart_name"], "version": chart["chart_version"], "app_version": chart["app_version"] or "",
            "defaults": chart_defaults(folder)}


def env_checksum(env_data):
    """sha256 over the sorted, stringified environment data (nothing else)."""
    canonical = json.dumps(sorted((str(k), str(v)) for k, v in env_data.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# The build

class _Build:
    """Collects errors and warnings while reading the inputs."""

    def __init__(self, inputs, chart):
        self.inputs = inputs
        self.chart = chart or {}
        self.errors = []
        self.warnings = []
        self.bad = set()
        self.seen = {}
        self.generation = None
        self.env_origin = {}
        self.from_secret = ()  # env keys an existing / external Secret provides (not in the inventory)

    def error(self, var, problem):
        self.errors.append("%s: %s" % (var, problem))

    def invalid(self, var, problem):
        self.bad.add(var)
        self.error(var, "%s; correct %s in the inventory" % (problem, var.split(".")[0]))

    def check(self, var, checker, value):
        try:
            return checker(value)
        except checks.Invalid as exc:
            self.invalid(var, str(exc))
            return None

    def get(self, name, default=None):
        """A plain input, validated once; ``default`` when absent (None) or invalid."""
        if name not in self.seen:
            value = self.inputs.get(name)
            self.seen[name] = None if value is None else self.check(variable(name), SCALARS[name], value)
        value = self.seen[name]
        return default if value is None else copy.deepcopy(value)

    def section(self, name):
        """A structured input as a dict of its valid, given (non-None) fields, validated once."""
        if name not in self.seen:
            self.seen[name] = self._read_section(name)
        return copy.deepcopy(self.seen[name])

    def _read_section(self, name):
        var = variable(name)
        raw = self.inputs.get(name)
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.invalid(var, "expected a dict with keys %s, got %s" % (", ".join(sorted(SECTIONS[name])), checks.got(raw)))
            return {}
        fields = SECTIONS[name]
        result = {}
        for key, value in raw.items():
            field_var = "%s.%s" % (var, key)
            if (name, key) in FIELD_HINTS:
                self.error(field_var, FIELD_HINTS[(name, key)])
            elif key not in fields:
                self.invalid(field_var, "unknown key (known: %s)" % ", ".join(sorted(fields)))
            elif value is not None:
                checked = self.check(field_var, fields[key], value)
                if checked is not None:
                    result[key] = checked
        return result

    def extra_var(self, path, default_var):
        """Name the variable a final value came from: portkey_extra_values.<path> if set there."""
        extra = self.get("extra_values", {})
        if lookup(extra, path) is not None:
            return "portkey_extra_values." + ".".join(path)
        return default_var

    def env_var(self, key):
        return self.env_origin.get(key, "portkey_environment.%s" % key)


def _check_unknown_inputs(build):
    for name in sorted(set(build.inputs) - INPUTS, key=str):
        build.invalid("portkey_%s" % name, "unknown input (known: %s)" % ", ".join(sorted(INPUTS)))


def _resolve_generation(build):
    wanted = build.get("generation", "auto")
    version = build.chart.get("version")
    detected = generation_of(version)
    if version is not None and detected is None:
        build.warnings.append("chart version %r is not a semantic version; generation cannot be detected" % version)
    if detected is not None and parse_semver(version)[0] >= 2:
        build.warnings.append("chart version %s is newer than the tested 1.7.x; rendering it as generation 1.7"
                              % version)
    if wanted != "auto":
        if detected and detected != wanted:
            build.error("portkey_chart_generation", "%s is forced, but chart %s %s is generation %s; remove "
                        "portkey_chart_generation (auto) or set it to %s"
                        % (wanted, build.chart.get("name"), version, detected, detected))
        return wanted
    if detected is None:
        build.error("portkey_chart_generation", "cannot detect the chart generation (%s); set "
                    "portkey_chart_generation to 1.0 (chart 1.0.x) or 1.7 (chart >= 1.1), or give chart_path"
                    % ("chart version %r" % version if version is not None else "no chart given"))
    return detected


def _names(build):
    extra = build.get("extra_values", {})
    release = build.get("release_name", DEFAULT_RELEASE)
    chart_name = build.chart.get("name") or DEFAULT_CHART_NAME
    name = _trunc63(str(extra.get("nameOverride") or chart_name))
    fullname = helm_fullname(release, chart_name, str(extra.get("nameOverride") or ""),
                             str(extra.get("fullnameOverride") or ""))
    return release, chart_name, name, fullname


def _mandatory_env(build, env):
    for key, name, what in MANDATORY_ENV:
        var = variable(name)
        given = build.get(name)
        in_env = env.get(key)
        if key in build.from_secret:
            continue  # _secret_reference_values reports a value given here too
        if given is not None and in_env and given != in_env:
            build.error(var, "differs from %s; set it in one place only (%s)" % (build.env_var(key), var))
        elif given is not None or in_env:
            env[key] = given if given is not None else in_env
        elif var not in build.bad:
            build.error(var, "is required (%s = %s); set %s" % (key, what, var))


def _environment(build):
    """The gateway environment: the inventory's, its mandatory values, then the gateway's rules (_env_rules)."""
    env = read_environment(build)
    _mandatory_env(build, env)
    apply_env_rules(build, env)
    return env


# Section builders: each returns a partial values document.

def _environment_values(build, env):
    secret = build.get("environment_secret", True)
    if not secret and build.generation != "1.0":  # 1.0.x: refused on the final values (_environment_secret_rule)
        build.warnings.append("portkey_environment_secret is false: the environment (client auth key, "
                              "store keys) goes into a ConfigMap readable without Secret access")
    return {"environment": {"create": True, "secret": secret, "data": env}}


def _secret_mode(build):
    """The secrets mode for the generation (1.0.x: values only); sets build.from_secret for existing/external."""
    section = build.section("secrets")
    mode = section.get("mode")
    if build.generation == "1.0":
        if mode not in (None, "values"):
            build.error("portkey_secrets.mode", "chart 1.0.x has no environment.existingSecret, so it cannot reference "
                        "a Secret (%s); remove it (the secrets stay in the chart values) or upgrade to chart 1.7.x"
                        % mode)
        return "values"
    # portkey_environment_secret: false (a ConfigMap) keeps the environment in the values
    mode = mode or ("owned" if build.get("environment_secret", True) else "values")
    if mode in ("existing", "external"):
        required = ("name", "keys") if mode == "existing" else ("name", "store", "remote_key", "keys")
        for key in required:
            if key not in section and "portkey_secrets.%s" % key not in build.bad:
                build.error("portkey_secrets.%s" % key, "is required with portkey_secrets.mode %s; set it" % mode)
        # without keys (an error above) the mandatory ones are assumed in the Secret: no second, misleading error
        build.from_secret = tuple(section.get("keys", [key for key, _name, _what in MANDATORY_ENV]))
    return mode


def _secret_reference_values(build, env, mode, fullname):
    """(environment values, secret plan) for the modes that keep secrets out of the values."""
    section = build.section("secrets")
    names = default_names(fullname)
    name = section.get("name", names["name"])
    plan = {"mode": mode, "name": name, "pull_secret": None}
    if mode == "owned":
        keys = env_secret_keys(env)
        plan["data"] = dict((k, env[k]) for k in keys)
        checksum = data_checksum(plan["data"])
    else:
        keys = list(build.from_secret)
        for key in env_secret_keys(env):
            if key not in keys:
                build.error(build.env_var(key) if key != "PORTKEY_CLIENT_AUTH" or build.get("client_auth") is None
                            else "portkey_client_auth",
                            "is a secret, and with portkey_secrets.mode %s secrets come from the Secret %s only: add "
                            "%s to that Secret and to portkey_secrets.keys, and remove it here" % (mode, name, key))
        for key in keys:
            if key in env or (key == "PORTKEY_CLIENT_AUTH" and build.get("client_auth") is not None):
                build.error(build.env_var(key) if key in env else "portkey_client_auth",
                            "%s comes from the Secret %s (portkey_secrets.keys); remove it here" % (key, name))
        plan["data"] = None
        checksum = build.get("secret_checksum")
        if mode == "external":
            plan["external"] = dict((k, section[k]) for k in ("store", "store_kind", "remote_key", "refresh_interval")
                                    if k in section)
    plan["keys"] = keys
    plan["pull_secret_name"] = section.get("pull_secret_name", names["pull_secret_name"])
    plan["checksum"] = checksum
    literal = dict((k, v) for k, v in env.items() if k not in keys)
    values = {"create": False, "secret": True, "existingSecret": name, "secretKeys": keys, "data": literal}
    return {"environment": values}, plan


def _owned_pull_secret(values, plan):
    """Move a chart-created pull secret (imageCredentials with the password) into a Secret the collection owns."""
    created = [item for item in values.get("imageCredentials") or [] if isinstance(item, dict) and item.get("create")]
    if not created:
        return
    plan["pull_secret"] = {"name": plan["pull_secret_name"], "config": dockerconfigjson(created[0])}
    values["imageCredentials"] = []
    values["imagePullSecrets"] = [{"name": plan["pull_secret_name"]}]


def _image_values(build):
    image = build.section("image")
    chart_keys = (("repository", "repository"), ("tag", "tag"), ("pull_policy", "pullPolicy"))
    gateway_image = dict((chart_key, image[key]) for key, chart_key in chart_keys if key in image)
    return {"images": {"gatewayImage": gateway_image}} if gateway_image else {}


def _pull_secret_values(build):
    credentials = build.section("image_credentials")
    secret_name = build.get("image_pull_secret")
    pull_secrets = {"imagePullSecrets": []} if build.generation == "1.7" else {}
    if credentials and secret_name:
        build.error("portkey_image_pull_secret", "set either portkey_image_credentials (the chart creates the pull "
                    "secret) or portkey_image_pull_secret (a pre-created secret), not both")
    if credentials:
        if "auth" not in credentials:
            for key in ("username", "password"):
                if key not in credentials and "portkey_image_credentials.%s" % key not in build.bad:
                    build.error("portkey_image_credentials.%s" % key, "is required to create the image pull secret; "
                                "set it (keep the password in the vault)")
        item = {"name": credentials.get("name", DEFAULT_PULL_SECRET), "create": True,
                "registry": credentials.get("registry", DOCKER_HUB_REGISTRY), "email": credentials.get("email", "")}
        item.update((key, credentials[key]) for key in ("username", "password", "auth") if key in credentials)
        return dict(pull_secrets, imageCredentials=[item])
    if secret_name:
        if build.generation == "1.7":
            return {"imageCredentials": [], "imagePullSecrets": [{"name": secret_name}]}
        # 1.0.x ignores imagePullSecrets; pods reference every imageCredentials item's name.
        return {"imageCredentials": [{"name": secret_name, "create": False}]}
    repository = lookup(build.inputs, ("image", "repository")) or PRIVATE_IMAGE
    if repository in (PRIVATE_IMAGE, PRIVATE_IMAGE.split("/", 1)[1]):
        build.error("portkey_image_credentials", "the image %s is private: set portkey_image_credentials "
                    "{username, password} (Docker Hub credentials from Portkey, password from the vault) or "
                    "portkey_image_pull_secret (a pre-created secret), or mirror the image and set "
                    "portkey_image.repository" % repository)
    return dict(pull_secrets, imageCredentials=[])


def _replica_values(build):
    return {"replicaCount": build.get("replicas", 1)}


def _service_values(build, env):
    service = build.section("service")
    result = {"type": service.get("type", "LoadBalancer"), "port": service.get("port", GATEWAY_PORT)}
    annotations = dict(service.get("annotations") or {})
    settings, problems = _lb.load_balancer_settings(build.get("load_balancer", {}), build.get("private_link", {}))
    for var, problem in problems:
        build.error(var, problem)
    if settings["enabled"]:
        if result["type"] != "LoadBalancer":
            build.error("portkey_service.type", "is %s, but %s / %s need a Service of type LoadBalancer"
                        % (result["type"], _lb.LB_VAR, _lb.PL_VAR))
        container_port = env.get("PORT", GATEWAY_PORT) if build.generation != "1.0" else GATEWAY_PORT
        for key, value in _lb.service_annotations(settings, result["port"], container_port).items():
            if annotations.get(key, value) != value:
                build.error("portkey_service.annotations.%s" % key, "%r differs from %r, which %s sets; remove the "
                            "annotation or change %s" % (annotations[key], value, _lb.LB_VAR, _lb.LB_VAR))
            annotations[key] = value
        if build.generation == "1.0":
            build.warnings.append("chart 1.0.x copies service.annotations (the load balancer settings of %s) onto "
                                  "the Deployment, ServiceAccount and dataservice objects too; only the Service "
                                  "uses them" % _lb.LB_VAR)
    if annotations:
        result["annotations"] = annotations
    return {"service": result}


def _service_account_values(build, fullname):
    account = build.section("service_account")
    annotations = dict(account.get("annotations", {}))
    role_arn = account.get("role_arn")
    if role_arn:
        if annotations.get(IRSA_ANNOTATION, role_arn) != role_arn:
            build.error("portkey_service_account.role_arn", "differs from portkey_service_account.annotations[%s]; "
                        "set the role in one place only" % IRSA_ANNOTATION)
        annotations[IRSA_ANNOTATION] = role_arn
    result = {"create": account.get("create", True)}
    if annotations:
        result["annotations"] = annotations
    if build.generation == "1.7" or account.get("name"):
        result["name"] = account.get("name", fullname)
    if not result["create"]:
        build.warnings.append("portkey_service_account.create is false: the ServiceAccount %s must already exist "
                              "in the namespace" % result.get("name", fullname))
    return {"serviceAccount": result}


def _resource_values(build):
    return {"resources": build.section("resources") or copy.deepcopy(DEFAULT_RESOURCES)}


def _autoscaling_values(build):
    scaling = build.section("autoscaling")
    result = dict((chart_key, scaling[key]) for key, chart_key in AUTOSCALING_KEYS if key in scaling)
    result["enabled"] = scaling.get("enabled", False)
    # an omitted bound is the chart's default (values.yaml autoscaling.minReplicas / maxReplicas)
    defaults = lookup(build.chart, ("defaults", "autoscaling")) or {}
    low = scaling.get("min_replicas", defaults.get("minReplicas", 1))
    high = scaling.get("max_replicas", defaults.get("maxReplicas", low))
    if isinstance(low, int) and isinstance(high, int) and low > high:
        which = "portkey_autoscaling.max_replicas" if "max_replicas" in scaling else \
            "the chart's default maxReplicas"
        build.error("portkey_autoscaling.min_replicas" if "min_replicas" in scaling
                    else "portkey_autoscaling.max_replicas",
                    "minReplicas %d is greater than %s (%d); lower portkey_autoscaling.min_replicas or set "
                    "portkey_autoscaling.max_replicas to at least it" % (low, which, high))
    if result["enabled"] and build.inputs.get("replicas") is not None:
        build.warnings.append("portkey_replicas is ignored while portkey_autoscaling.enabled is true "
                              "(the HPA sets the replica count)")
    return {"autoscaling": result}


def _with_anti_affinity(build, affinity, term):
    """``affinity`` plus a preferred podAntiAffinity term (the user's own terms are kept)."""
    anti = affinity.setdefault("podAntiAffinity", {})
    preferred = anti.setdefault("preferredDuringSchedulingIgnoredDuringExecution", []) \
        if isinstance(anti, dict) else None
    if not isinstance(preferred, list):
        build.invalid("portkey_affinity.podAntiAffinity", "expected a dict with a "
                      "preferredDuringSchedulingIgnoredDuringExecution list")
        return affinity
    preferred.append(term)
    return affinity


def _scheduling_values(build, name, release):
    result = {}
    for key, chart_key in (("node_selector", "nodeSelector"), ("tolerations", "tolerations")):
        value = build.get(key)
        if value:
            result[chart_key] = value
    affinity = build.get("affinity", {})
    ha = build.section("high_availability")
    if ha.get("zone_spread"):
        selector = gateway_label_selector(release, name)
        topology_key = ha.get("topology_key", ZONE_KEY)
        if build.generation == "1.7":
            result["topologySpreadConstraints"] = [{
                "maxSkew": ha.get("max_skew", 1), "topologyKey": topology_key, "labelSelector": selector,
                "whenUnsatisfiable": ha.get("when_unsatisfiable", "ScheduleAnyway")}]
        elif build.generation == "1.0":
            if "max_skew" in ha or "when_unsatisfiable" in ha:
                build.warnings.append("chart 1.0.x has no topologySpreadConstraints: zone spread uses a preferred "
                                      "podAntiAffinity, portkey_high_availability.max_skew/when_unsatisfiable "
                                      "are ignored")
            affinity = _with_anti_affinity(build, affinity, {
                "weight": 100, "podAffinityTerm": {"labelSelector": selector, "topologyKey": topology_key}})
        scaling = build.section("autoscaling")
        least = scaling.get("min_replicas", 2) if scaling.get("enabled") else build.get("replicas", 1)
        if least < 2:
            build.warnings.append("portkey_high_availability.zone_spread with a single replica spreads nothing; "
                                  "set portkey_replicas (or portkey_autoscaling.min_replicas) to 2 or more")
    if affinity:
        result["affinity"] = affinity
    return result


def _strategy_values(build):
    strategy = build.section("strategy")
    if not strategy:
        return {}
    if build.generation == "1.0":
        build.warnings.append("chart 1.0.x has no strategy key: portkey_strategy is ignored (Kubernetes' default "
                              "rolling update, 25% surge / 25% unavailable, applies)")
        return {}
    rolling = dict((chart_key, strategy[key]) for key, chart_key in
                   (("max_surge", "maxSurge"), ("max_unavailable", "maxUnavailable")) if key in strategy)
    if rolling and all(str(rolling.get(k, "")).rstrip("%") == "0" for k in ("maxSurge", "maxUnavailable")):
        build.error("portkey_strategy", "max_surge and max_unavailable cannot both be 0 (the rollout could never "
                    "progress); set max_surge: 1 for zero-downtime updates")
    return {"strategy": {"type": "RollingUpdate", "rollingUpdate": rolling}}


def _pod_metadata_values(build):
    result = {}
    annotations = build.get("pod_annotations", {})
    for owned in (ENV_CHECKSUM_ANNOTATION, SECRET_CHECKSUM_ANNOTATION):
        if owned in annotations:
            build.error("portkey_pod_annotations.%s" % owned, "is set by the collection (it restarts "
                        "pods when the environment changes); remove it")
    labels = build.get("pod_labels", {})
    for label in SELECTOR_LABELS:
        if label in labels:
            build.error("portkey_pod_labels.%s" % label, "is a selector label owned by the chart; remove it")
    if annotations:
        result["podAnnotations"] = annotations
    if labels:
        result["podLabels"] = labels
    return result


def _dataservice_values(build, fullname):
    enabled = build.section("dataservice").get("enabled", False)
    result = {"enabled": enabled}
    if enabled:
        # Never the chart's random restart annotation; 1.7.x needs a ServiceAccount name.
        result["deployment"] = {"autoRestart": False}
        if build.generation == "1.7":
            result["serviceAccount"] = {"create": True, "name": _trunc63(fullname + "-dataservice")}
    return {"dataservice": result}


def _check_final(build, values, env):
    """Rules on the merged document (portkey_extra_values may have changed it)."""
    extra_service = lookup(build.get("extra_values", {}), ("service",))
    for key in ("targetPort", "target_port"):
        if isinstance(extra_service, dict) and key in extra_service:
            build.error("portkey_extra_values.service.%s" % key, FIELD_HINTS[("service", key)])
    if isinstance(extra_service, dict) and "loadBalancerSourceRanges" in extra_service:
        build.error("portkey_extra_values.service.loadBalancerSourceRanges", "neither gateway chart (1.0.x, 1.7.x) "
                    "renders it on the gateway Service, so it would be ignored; list the CIDRs in %s.cidrs (the "
                    "source-ranges annotation)" % _lb.LB_VAR)
    if values.get("autoRestart") is not False:
        build.error(build.extra_var(("autoRestart",), "autoRestart"), "the chart's autoRestart adds a random "
                    "annotation that restarts pods on every upgrade; remove it (pods restart when the environment "
                    "changes through the %s annotation)" % ENV_CHECKSUM_ANNOTATION)
    port = lookup(values, ("service", "port"))
    if build.generation == "1.0" and port != GATEWAY_PORT:
        build.error(build.extra_var(("service", "port"), "portkey_service.port"),
                    "chart 1.0.x uses service.port as the container port and probes the hard-coded port 8787, so it "
                    "must stay 8787 (got %r); remove it, or use chart 1.7.x for another Service port" % (port,))
    account = values.get("serviceAccount") if isinstance(values.get("serviceAccount"), dict) else {}
    if build.generation == "1.7" and not account.get("name"):
        build.error(build.extra_var(("serviceAccount", "name"), "portkey_service_account.name"),
                    "chart 1.7.x fails to render without serviceAccount.name; set a name or remove the override")
    if env.get("LOG_STORE") == "s3_assume":
        annotations = account.get("annotations") if isinstance(account.get("annotations"), dict) else {}
        role = annotations.get(IRSA_ANNOTATION)
        if not role:
            build.error("portkey_service_account.role_arn", "LOG_STORE s3_assume (IRSA) needs the ServiceAccount's "
                        "IAM role; set portkey_service_account.role_arn (or annotations[%s]) to a role trusted for "
                        "system:serviceaccount:%s:%s" % (IRSA_ANNOTATION, build.get("namespace", DEFAULT_NAMESPACE),
                                                         account.get("name") or "<service account>"))
        elif not checks.ROLE_ARN.match(str(role)):
            build.error(build.extra_var(("serviceAccount", "annotations", IRSA_ANNOTATION),
                                        "portkey_service_account.annotations.%s" % IRSA_ANNOTATION),
                        "%r is not an IAM role ARN; use arn:aws:iam::<account>:role/<name>" % (role,))
    _environment_secret_rule(build, values)
    credentials = values.get("imageCredentials")
    if not isinstance(credentials, list) or not all(isinstance(i, dict) and i.get("name") for i in credentials):
        build.error(build.extra_var(("imageCredentials",), "portkey_image_credentials"),
                    "imageCredentials must be a list of items with a name (the chart ranges over it); "
                    "use portkey_image_credentials / portkey_image_pull_secret instead")


def _environment_secret_rule(build, values):
    """On chart 1.0.x the environment stays a Secret, whatever set environment.secret (input or extra values)."""
    environment = values.get("environment") if isinstance(values.get("environment"), dict) else {}
    if build.generation == "1.0" and environment.get("secret") is not True:
        var = build.extra_var(("environment", "secret"), "portkey_environment_secret")
        build.error(var, "chart 1.0.x renders a ConfigMap environment unquoted (numbers, booleans and nulls as data "
                    "values, which the API server rejects) and readable without Secret access; remove it or set it "
                    "to true")


def _image_age_rule(build):
    """Warn when a 1.7.x chart (appVersion 2.x) would run a 1.x image: the image is older than the chart."""
    tag = build.section("image").get("tag")
    match = re.match(r"^v?([0-9]+)\.", str(tag or ""))
    app = re.match(r"^v?([0-9]+)\.", str(build.chart.get("app_version") or ""))
    if build.generation != "1.7" or not match:
        return
    image_major, app_major = int(match.group(1)), int(app.group(1)) if app else 2
    if image_major < app_major:
        build.warnings.append("portkey_image.tag %s is older than the chart %s (appVersion %s): the %s.x templates "
                              "may need settings the %s.x image lacks; set portkey_image.tag to a %s.x release"
                              % (tag, build.chart.get("version") or "1.7.x", build.chart.get("app_version") or "2.x",
                                 build.chart.get("version") or "1.7", image_major, app_major))


def build_values(inputs, chart=None):
    """Validate ``inputs`` (gateway_values options / gateway_release values_spec) and build the values.

    ``chart`` is read_chart()'s dict (name, version) or None. Raises PortkeyError listing every problem.
    """
    if not isinstance(inputs, dict):
        raise PortkeyError("the gateway values inputs must be a dict, got %s" % checks.got(inputs))
    build = _Build(inputs, chart)
    _check_unknown_inputs(build)
    build.generation = _resolve_generation(build)
    build.get("namespace")
    release, chart_name, name, fullname = _names(build)
    mode = _secret_mode(build)
    env = _environment(build)
    plan = {"mode": mode}
    if mode == "values":
        env_part = _environment_values(build, env)
    else:
        env_part, plan = _secret_reference_values(build, env, mode, fullname)
    values = {"autoRestart": False}
    for part in (
        env_part,
        _image_values(build),
        _pull_secret_values(build),
        _replica_values(build),
        _service_values(build, env),
        _service_account_values(build, fullname),
        _resource_values(build),
        _autoscaling_values(build),
        _scheduling_values(build, name, release),
        _strategy_values(build),
        _pod_metadata_values(build),
        _dataservice_values(build, fullname),
    ):
        values.update(part)
    values = deep_merge(values, build.get("extra_values", {}))
    _check_final(build, values, env)
    _image_age_rule(build)
    if build.errors:
        raise PortkeyError("%d problem(s) in the gateway values inputs" % len(build.errors), errors=build.errors)
    # the validated, stringified environment wins over the raw merge
    values["environment"]["data"] = env_part["environment"]["data"]
    checksum_env = env_checksum(values["environment"]["data"])
    values["podAnnotations"] = dict(values.get("podAnnotations") or {})
    values["podAnnotations"][ENV_CHECKSUM_ANNOTATION] = checksum_env
    if mode != "values":
        _owned_pull_secret(values, plan)
        if plan.get("checksum"):
            values["podAnnotations"][SECRET_CHECKSUM_ANNOTATION] = plan["checksum"]
    secrets = secret_values_of(inputs)
    return ValuesResult(
        values=values,
        secret_values=secrets,
        secret_paths=secret_paths(values, secrets),
        warnings=build.warnings,
        generation=build.generation,
        env_checksum=checksum_env,
        checksum=hashlib.sha256(render_yaml(values).encode("utf-8")).hexdigest(),
        chart_name=chart_name,
        fullname=fullname,
        secrets=plan,
    )
