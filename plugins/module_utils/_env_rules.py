# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change in any release.

"""The gateway's environment variable rules: which variables exist, what each store (log, cache, analytics) needs,
the port and monitoring switches. The functions take the values build (errors, warnings and where each variable
came from) and the environment dict, which they normalize in place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.portkey_ai.gateway.plugins.module_utils._checks import ENV_NAME, got
from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import lookup, scalar_text
from ansible_collections.portkey_ai.gateway.plugins.module_utils._objects import GATEWAY_PORT

IN_CLUSTER_REDIS_URL = "redis://redis:6379"

# The data-plane environment reference (portkey-chart.md 1.5 and the chart's values). Others are warned about.
KNOWN_ENV_KEYS = frozenset("""
SERVICE_NAME PORT PORTKEY_CLIENT_AUTH ORGANISATIONS_TO_SYNC ALBUS_BASEPATH SERVER_MODE MCP_PORT
MCP_GATEWAY_BASE_URL REQUEST_TIMEOUT
ANALYTICS_STORE ANALYTICS_STORE_ENDPOINT ANALYTICS_STORE_USER ANALYTICS_STORE_PASSWORD ANALYTICS_LOG_TABLE
ANALYTICS_FEEDBACK_TABLE ANALYTICS_GENERATION_HOOKS_TABLE
OTEL_PUSH_ENABLED OTEL_ENDPOINT OTEL_RESOURCE_ATTRIBUTES OTEL_EXPORTER_OTLP_HEADERS OTEL_EXPORTER_OTLP_PROTOCOL
LOG_STORE LOG_STORE_REGION LOG_STORE_ACCESS_KEY LOG_STORE_SECRET_KEY LOG_STORE_GENERATIONS_BUCKET LOG_STORE_BASEPATH
LOG_STORE_AWS_ROLE_ARN LOG_STORE_AWS_EXTERNAL_ID AWS_IMDS_V1 LOG_STORE_FILE_PATH_FORMAT
MONGO_DB_CONNECTION_URL MONGO_DATABASE MONGO_COLLECTION_NAME MONGO_GENERATION_HOOKS_COLLECTION_NAME
MONGO_GENERATIONS_HOOKS_COLLECTION_NAME
AZURE_AUTH_MODE AZURE_MANAGED_CLIENT_ID AZURE_ENTRA_CLIENT_ID AZURE_ENTRA_CLIENT_SECRET AZURE_ENTRA_TENANT_ID
AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY AZURE_STORAGE_CONTAINER GCP_AUTH_MODE
AWS_ASSUME_ROLE_ACCESS_KEY_ID AWS_ASSUME_ROLE_SECRET_ACCESS_KEY AWS_ASSUME_ROLE_REGION
CACHE_STORE REDIS_URL REDIS_TLS_ENABLED REDIS_MODE REDIS_HOST REDIS_PORT REDIS_USERNAME REDIS_PASSWORD
REDIS_TLS_CERTS REDIS_SCALE_READS REDIS_CLUSTER_ENDPOINTS REDIS_CLUSTER_DISCOVERY_URL REDIS_CLUSTER_DISCOVERY_AUTH
AWS_REDIS_AUTH_MODE AWS_REDIS_CLUSTER_NAME AWS_REDIS_REGION AWS_REDIS_ASSUME_ROLE_ARN AWS_REDIS_ROLE_EXTERNAL_ID
FINETUNES_BUCKET LOG_EXPORTS_BUCKET FINETUNES_AWS_ROLE_ARN GATEWAY_BASE_URL DATASERVICE_BASEPATH HYBRID_DEPLOYMENT
ENABLE_PROMETHEUS PROMETHEUS_PUSH_ENABLED ENABLE_LOKI LOKI_PUSH_ENABLED
""".split())
KNOWN_ENV_PREFIXES = ("PROMETHEUS_", "EXPERIMENTAL_GEN_AI_OTEL_")

S3_KEYS = ("LOG_STORE_REGION", "LOG_STORE_ACCESS_KEY", "LOG_STORE_SECRET_KEY", "LOG_STORE_GENERATIONS_BUCKET")
STATIC_LOG_STORE_KEYS = ("LOG_STORE_ACCESS_KEY", "LOG_STORE_SECRET_KEY")
# LOG_STORE value -> the environment keys it needs ("" = no log store configured).
LOG_STORE_REQUIRES = {
    "": (),
    "s3": S3_KEYS,
    "wasabi": S3_KEYS,
    "gcs": S3_KEYS,
    "s3_assume": ("LOG_STORE_REGION", "LOG_STORE_GENERATIONS_BUCKET"),
    "mongo": ("MONGO_DB_CONNECTION_URL", "MONGO_DATABASE", "MONGO_COLLECTION_NAME"),
    "gcs_assume": (),
    "netapp": (),
    "s3_custom": (),
    "azure": (),
}
IN_CLUSTER_CACHE = "redis"
# CACHE_STORE value -> the environment keys it needs (the in-cluster Redis gets defaults instead).
CACHE_STORE_REQUIRES = {
    IN_CLUSTER_CACHE: (),
    "aws-elastic-cache": ("REDIS_URL", "REDIS_TLS_ENABLED"),
    "custom": ("REDIS_URL", "REDIS_TLS_ENABLED"),
    "azure-redis": ("REDIS_URL", "REDIS_TLS_ENABLED"),
    "memory-store": (),
}
ANALYTICS_STORE_REQUIRES = {
    "control_plane": (),
    "clickhouse": ("ANALYTICS_STORE_ENDPOINT", "ANALYTICS_STORE_USER", "ANALYTICS_STORE_PASSWORD",
                   "ANALYTICS_LOG_TABLE", "ANALYTICS_FEEDBACK_TABLE"),
}
# Mandatory environment values that also have their own input: (env key, input, what it is).
MANDATORY_ENV = (
    ("PORTKEY_CLIENT_AUTH", "client_auth",
     "the Client Auth Key from Portkey; keep it in the vault: portkey_client_auth: \"{{ vault_portkey_client_auth }}\""),
    ("ORGANISATIONS_TO_SYNC", "organisations_to_sync", "your Portkey organisation id(s), comma separated"),
)


def read_environment(build):
    """The environment (portkey_environment, then portkey_extra_values.environment.data), stringified."""
    env = {}
    sources = [("portkey_environment", build.get("environment", {}))]
    extra = build.get("extra_values", {})
    for path in (("environment",), ("environment", "data")):
        found = lookup(extra, path)
        if found is not None and not isinstance(found, dict):
            build.invalid("portkey_extra_values." + ".".join(path), "expected a dict, got %s" % got(found))
    extra_data = lookup(extra, ("environment", "data"))
    if isinstance(extra_data, dict):
        sources.append(("portkey_extra_values.environment.data", extra_data))
    for source, data in sources:
        for key, value in data.items():
            var = "%s.%s" % (source, key)
            text = scalar_text(value)
            if not isinstance(key, str) or not ENV_NAME.match(key):
                build.invalid(var, "%r is not a valid environment variable name" % (key,))
            elif text is None:
                build.invalid(var, "expected a string, number or boolean, got %s" % got(value, secret=True))
            else:
                env[key] = text
                build.env_origin[key] = var
    return env


def require_env(build, env, keys, because):
    for key in keys:
        if not env.get(key) and key not in build.from_secret:
            build.error(build.env_var(key), "is required %s; set it (a non-empty string)" % because)


def _store_choice(build, env, key, choices):
    value = env[key]
    if value not in choices:
        build.error(build.env_var(key), "unknown %s %r; use one of: %s"
                    % (key, value, ", ".join(c for c in sorted(choices) if c)))
        return None
    return value


def log_store_rules(build, env):
    store = _store_choice(build, env, "LOG_STORE", LOG_STORE_REQUIRES) if "LOG_STORE" in env else ""
    if store is None:
        return
    require_env(build, env, LOG_STORE_REQUIRES[store], "with LOG_STORE %s" % store)
    if store == "s3_assume":
        for key in STATIC_LOG_STORE_KEYS:
            if env.get(key):
                build.error(build.env_var(key), "must not be set with LOG_STORE s3_assume (IRSA: the pods use the "
                            "ServiceAccount's role, no static keys); remove it or use LOG_STORE s3")
    if store == "mongo":
        build.warnings.append("LOG_STORE mongo is in maintenance mode upstream (16 MB document limit); "
                              "S3 (s3 / s3_assume) is the recommended log store")


def cache_store_rules(build, env):
    store = _store_choice(build, env, "CACHE_STORE", CACHE_STORE_REQUIRES)
    if store == IN_CLUSTER_CACHE:
        env.setdefault("REDIS_URL", IN_CLUSTER_REDIS_URL)
        env.setdefault("REDIS_TLS_ENABLED", "false")
        build.warnings.append("CACHE_STORE redis deploys the chart's in-cluster Redis (one replica, no auth, no "
                              "persistence); for production set portkey_environment.CACHE_STORE aws-elastic-cache "
                              "with REDIS_URL and REDIS_TLS_ENABLED")
        if not env["REDIS_URL"].startswith(IN_CLUSTER_REDIS_URL.rsplit(":", 1)[0]):
            build.warnings.append("%s points away from the in-cluster Redis that CACHE_STORE redis deploys; use "
                                  "CACHE_STORE aws-elastic-cache/custom for an external Redis"
                                  % build.env_var("REDIS_URL"))
    elif store is not None:
        require_env(build, env, CACHE_STORE_REQUIRES[store], "with CACHE_STORE %s" % store)
    tls = env.get("REDIS_TLS_ENABLED")
    if tls is not None:
        if tls.lower() not in ("true", "false"):
            build.error(build.env_var("REDIS_TLS_ENABLED"), "expected \"true\" or \"false\", got %r" % tls)
        else:
            env["REDIS_TLS_ENABLED"] = tls = tls.lower()
    url = env.get("REDIS_URL")
    if url:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in ("redis", "rediss"):
            build.error(build.env_var("REDIS_URL"), "expected a redis:// or rediss:// URL; fix the scheme")
        elif scheme == "rediss" and tls == "false":
            build.error(build.env_var("REDIS_TLS_ENABLED"), "is \"false\" but REDIS_URL uses rediss:// (TLS); set "
                        "REDIS_TLS_ENABLED: \"true\" (or use a redis:// URL for a non-TLS Redis)")


def analytics_store_rules(build, env):
    store = _store_choice(build, env, "ANALYTICS_STORE", ANALYTICS_STORE_REQUIRES)
    if store:
        require_env(build, env, ANALYTICS_STORE_REQUIRES[store], "with ANALYTICS_STORE %s" % store)


def port_rules(build, env):
    port = env.get("PORT")
    if port is None:
        return
    if not port.isdigit() or not 0 < int(port) < 65536:
        build.error(build.env_var("PORT"), "expected a port number, got %r" % port)
    elif build.generation == "1.0" and int(port) != GATEWAY_PORT:
        build.error(build.env_var("PORT"), "chart 1.0.x probes the hard-coded port 8787, so the gateway must "
                    "listen on 8787; remove PORT or set it to \"8787\"")


# Monitoring switches the gateway reads as "true"/"false" (portkey_monitoring.environment or portkey_environment).
MONITORING_BOOLEAN_KEYS = ("OTEL_PUSH_ENABLED", "ENABLE_PROMETHEUS", "PROMETHEUS_PUSH_ENABLED", "ENABLE_LOKI",
                           "LOKI_PUSH_ENABLED", "PROMETHEUS_INCLUDE_MODEL_LABEL", "PROMETHEUS_INCLUDE_CONFIG_NAME_LABEL",
                           "PROMETHEUS_INCLUDE_API_KEY_NAME_LABEL")
BOOLEAN_WORDS = {"true": "true", "yes": "true", "on": "true", "1": "true",
                 "false": "false", "no": "false", "off": "false", "0": "false"}
OTLP_PROTOCOLS = ("grpc", "http/protobuf", "http/json")
HTTP_URL = re.compile(r"^https?://[^\s/?#@]+(@[^\s/?#]+)?(:[0-9]{1,5})?([/?#]\S*)?$", re.I)


def monitoring_rules(build, env):
    """Prometheus / OpenTelemetry settings: boolean switches, the OTLP endpoint URL and protocol."""
    for key in MONITORING_BOOLEAN_KEYS:
        if key in env:
            word = BOOLEAN_WORDS.get(env[key].strip().lower())
            if word is None:
                build.error(build.env_var(key), "expected a boolean (\"true\" or \"false\"), got %r" % env[key])
            else:
                env[key] = word
    endpoint = env.get("OTEL_ENDPOINT")
    if endpoint is not None and not HTTP_URL.match(endpoint.strip()):
        # never echo it: an endpoint URL may carry credentials
        build.error(build.env_var("OTEL_ENDPOINT"), "expected an http:// or https:// URL of the OpenTelemetry "
                    "collector (e.g. \"http://otel-collector.monitoring:4318\")")
    if env.get("OTEL_PUSH_ENABLED") == "true" and not (endpoint or "").strip():
        build.warnings.append("%s is \"true\" but OTEL_ENDPOINT is not set, so the gateway has no collector to "
                              "push to; set OTEL_ENDPOINT to the collector's URL or OTEL_PUSH_ENABLED: \"false\""
                              % build.env_var("OTEL_PUSH_ENABLED"))
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol is not None and protocol not in OTLP_PROTOCOLS:
        build.error(build.env_var("OTEL_EXPORTER_OTLP_PROTOCOL"), "unknown OTLP protocol %r; use one of: %s"
                    % (protocol, ", ".join(OTLP_PROTOCOLS)))


def unknown_env_warnings(build, env):
    for key in sorted(env):
        if key not in KNOWN_ENV_KEYS and not key.startswith(KNOWN_ENV_PREFIXES):
            build.warnings.append("%s is not a known Portkey gateway variable (kept as is); check the spelling"
                                  % build.env_var(key))


def apply_env_rules(build, env):
    """Defaults and the rules of every store, the port and monitoring; warnings for unknown variables."""
    env.setdefault("CACHE_STORE", IN_CLUSTER_CACHE)
    env.setdefault("ANALYTICS_STORE", "control_plane")
    log_store_rules(build, env)
    cache_store_rules(build, env)
    analytics_store_rules(build, env)
    port_rules(build, env)
    monitoring_rules(build, env)
    unknown_env_warnings(build, env)
