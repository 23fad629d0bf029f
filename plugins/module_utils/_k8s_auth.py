# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change without notice.
"""The Kubernetes connection options shared by the cluster modules (gateway_release, gateway_info,
lb_security_group): one argument spec (documented by the doc fragment ``portkey_ai.gateway.k8s_auth``), the
kubernetes client configuration built from it, and the helm connection (a private 0600 kubeconfig for a bearer
token, so the token is never on a command line).

Names, environment fallbacks and precedence follow kubernetes.core's AUTH_ARG_SPEC:
  - ``host`` + ``api_key`` (K8S_AUTH_HOST + K8S_AUTH_API_KEY, what AWX's "OpenShift or Kubernetes API Bearer Token"
    credential injects) are a complete connection: no kubeconfig is read;
  - otherwise the kubeconfig (``kubeconfig`` / ``context``, else the default kubeconfig, else in-cluster) is loaded
    and any of ``host``, ``api_key``, ``validate_certs``, ``ca_cert`` given override its values.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager

from ansible.module_utils.basic import env_fallback

try:
    import kubernetes  # noqa: F401 pylint: disable=unused-import

    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._private_files import open_new_private

# The spec of every cluster module. lb_security_group is an AWS module too, whose common options already have a
# ``validate_certs`` (for AWS); there the Kubernetes one is named ``k8s_validate_certs`` (see k8s_auth_spec()).
K8S_AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG", "KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
)

AWS_VALIDATE_CERTS_NAME = "k8s_validate_certs"

HINT = ("set kubeconfig / context (portkey_kubeconfig / portkey_kube_context, or K8S_AUTH_KUBECONFIG), or host + "
        "api_key (K8S_AUTH_HOST + K8S_AUTH_API_KEY)")


def k8s_auth_spec(validate_certs_name="validate_certs"):
    """A copy of K8S_AUTH_ARG_SPEC; ``validate_certs_name`` renames validate_certs (and drops its alias) for
    modules that already have an option of that name."""
    spec = dict((k, dict(v)) for k, v in K8S_AUTH_ARG_SPEC.items())
    if validate_certs_name != "validate_certs":
        opt = spec.pop("validate_certs")
        opt.pop("aliases", None)
        spec[validate_certs_name] = opt
    return spec


def aws_service_spec(**options):
    """The argument spec of an AWS module that reads the gateway Service: state, the Service, the wait for its load
    balancer and the Kubernetes connection (``k8s_validate_certs``), plus the module's own ``options``."""
    spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        service_name=dict(type="str"),
        namespace=dict(type="str", default="portkeyai"),
        wait_timeout=dict(type="int", default=300),
        wait_interval=dict(type="int", default=5),
    )
    spec.update(options)
    spec.update(k8s_auth_spec(AWS_VALIDATE_CERTS_NAME))
    return spec


class K8sAuth(object):
    """The connection options of one module run."""

    def __init__(self, kubeconfig=None, context=None, host=None, api_key=None, validate_certs=None, ca_cert=None):
        self.kubeconfig = kubeconfig or None
        self.context = context or None
        self.host = host or None
        self.api_key = api_key or None
        self.validate_certs = validate_certs
        self.ca_cert = ca_cert or None

    @classmethod
    def from_params(cls, params, validate_certs_name="validate_certs"):
        return cls(kubeconfig=params.get("kubeconfig"), context=params.get("context"), host=params.get("host"),
                   api_key=params.get("api_key"), validate_certs=params.get(validate_certs_name),
                   ca_cert=params.get("ca_cert"))

    @property
    def token_only(self):
        """host + api_key: a complete connection, no kubeconfig is read (as kubernetes.core)."""
        return bool(self.host and self.api_key)

    @property
    def has_overrides(self):
        return bool(self.host or self.api_key or self.ca_cert or self.validate_certs is not None)

    def describe(self):
        if self.token_only:
            return "host %s with a bearer token" % self.host
        return "kubeconfig %s, context %s" % (self.kubeconfig or "default", self.context or "current")

    # -- kubernetes Python client ---------------------------------------------------------------------------
    def configuration(self):
        """A kubernetes.client.Configuration for these options (PortkeyError when it cannot be built)."""
        try:
            import kubernetes
            from kubernetes import config as kconfig
        except ImportError:
            raise PortkeyError("the kubernetes Python library is required (pip install 'kubernetes<37')")
        cfg = kubernetes.client.Configuration()
        errors = (kconfig.ConfigException, OSError, ValueError, TypeError)
        try:
            if self.token_only:
                pass
            elif self.kubeconfig or self.context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
                kconfig.load_kube_config(config_file=self.kubeconfig, context=self.context, client_configuration=cfg)
            else:
                try:  # in a pod without explicit options: the service account, else the default kubeconfig
                    kconfig.load_incluster_config(client_configuration=cfg)
                except errors:
                    kconfig.load_kube_config(client_configuration=cfg)
        except errors as exc:
            raise PortkeyError("cannot load the Kubernetes connection (%s): %s; %s" % (self.describe(), exc, HINT))
        if self.host:
            cfg.host = self.host.rstrip("/")
        if self.api_key:
            cfg.api_key = {"authorization": "Bearer " + self.api_key}
            cfg.api_key_prefix = {}
            cfg.refresh_api_key_hook = None
        if self.validate_certs is not None:
            cfg.verify_ssl = bool(self.validate_certs)
        if self.ca_cert:
            if not os.path.isfile(self.ca_cert):
                raise PortkeyError("ca_cert %s does not exist (K8S_AUTH_SSL_CA_CERT)" % self.ca_cert)
            cfg.ssl_ca_cert = self.ca_cert
        return cfg

    def api_client(self):
        import kubernetes
        return kubernetes.client.ApiClient(self.configuration())

    # -- helm ---------------------------------------------------------------------------------------------------
    @contextmanager
    def helm_connection(self):
        """Yield dict(kubeconfig=..., context=..., global_args=[...], env={...}) for the Helm class.

        host + api_key: a kubeconfig written 0600 in a private temporary directory (removed on exit), so the
        token never appears on a command line. Overrides on top of a kubeconfig: --kube-apiserver, --kube-ca-file,
        --kube-insecure-skip-tls-verify as flags, a token in helm's environment (HELM_KUBETOKEN), not in argv.
        """
        if self.ca_cert and not os.path.isfile(self.ca_cert):
            raise PortkeyError("ca_cert %s does not exist (K8S_AUTH_SSL_CA_CERT)" % self.ca_cert)
        if not self.token_only:
            args = []
            if self.host:
                args += ["--kube-apiserver", self.host]
            if self.ca_cert:
                args += ["--kube-ca-file", self.ca_cert]
            if self.validate_certs is False:
                args.append("--kube-insecure-skip-tls-verify")
            env = {"HELM_KUBETOKEN": self.api_key} if self.api_key else {}
            yield dict(kubeconfig=self.kubeconfig, context=self.context, global_args=args, env=env)
            return
        tmpdir = tempfile.mkdtemp(prefix="portkey-kube-")
        try:
            path = os.path.join(tmpdir, "kubeconfig")
            with open_new_private(path) as handle:
                json.dump(self.kubeconfig_doc(), handle)
            yield dict(kubeconfig=path, context=None, global_args=[], env={})
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def kubeconfig_doc(self):
        cluster = {"server": self.host}
        if self.validate_certs is False:
            cluster["insecure-skip-tls-verify"] = True
        elif self.ca_cert:
            cluster["certificate-authority"] = os.path.abspath(self.ca_cert)
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "portkey", "cluster": cluster}],
            "users": [{"name": "portkey", "user": {"token": self.api_key}}],
            "contexts": [{"name": "portkey", "context": {"cluster": "portkey", "user": "portkey"}}],
            "current-context": "portkey",
        }


# -- what to run when the cluster refuses the credentials (401, or a failing exec plugin) ---------------------------

CREDENTIAL_VARS = "portkey_kubeconfig / portkey_kube_context (or K8S_AUTH_KUBECONFIG / K8S_AUTH_CONTEXT)"


def kubeconfig_user(kubeconfig=None, context=None):
    """The ``user`` entry of the context's user in a kubeconfig (dict; {} when it cannot be read)."""
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import yaml
    if yaml is None:
        return {}
    paths = (kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")).split(os.pathsep)
    try:
        with open(paths[0]) as handle:
            doc = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError):
        return {}
    name = context or doc.get("current-context")
    ctx = next((c.get("context") or {} for c in doc.get("contexts") or [] if c.get("name") == name), {})
    return next((u.get("user") or {} for u in doc.get("users") or [] if u.get("name") == ctx.get("user")), {})


def _arg(args, flag):
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def run_exec_plugin(user, timeout=60):
    """Run the user's exec credential plugin as client-go would: None when it printed a credential, else the
    plugin's error (its last stderr line)."""
    import subprocess
    spec = user.get("exec") or {}
    env = dict(os.environ)
    env.update(dict((e.get("name"), e.get("value")) for e in spec.get("env") or [] if e.get("name")))
    try:
        # controller side (the filter plugin): no AnsibleModule.run_command here
        proc = subprocess.run(  # pylint: disable=ansible-bad-function
            [spec.get("command", "")] + list(spec.get("args") or []), env=env, timeout=timeout, check=False,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return "cannot run %s: %s" % (spec.get("command"), exc)
    if proc.returncode == 0 and '"token"' in proc.stdout:
        return None
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else "exit code %d" % proc.returncode)[:400]


def credential_hint(kubeconfig=None, context=None, run_plugin=True):
    """One paragraph for a cluster that refused the credentials (401) or whose exec plugin failed: which variables
    chose them and what to run. For `aws eks get-token` kubeconfigs: the plugin's own error, ``aws sso login`` /
    fresh credentials, ``aws eks update-kubeconfig``."""
    user = kubeconfig_user(kubeconfig, context)
    path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    where = "%s (%s, context %s)" % (CREDENTIAL_VARS, path, context or "current")
    spec = user.get("exec") or {}
    args = [str(a) for a in spec.get("args") or []]
    command = os.path.basename(str(spec.get("command") or ""))
    if command == "aws" and "get-token" in args:
        cluster, region = _arg(args, "--cluster-name") or "CLUSTER", _arg(args, "--region") or "REGION"
        profile = dict((e.get("name"), e.get("value")) for e in spec.get("env") or []).get("AWS_PROFILE") \
            or os.environ.get("AWS_PROFILE")
        error = run_exec_plugin(user) if run_plugin else None
        return ("The EKS credentials of %s are missing or expired%s: the kubeconfig gets its token from "
                "`aws eks get-token --cluster-name %s --region %s`. Run `aws sso login%s` (AWS IAM Identity Center) or "
                "give this run valid AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / "
                "AWS_SESSION_TOKEN; check with `aws sts get-caller-identity`), then, if the cluster was recreated or "
                "the kubeconfig is stale, `aws eks update-kubeconfig --name %s --region %s --kubeconfig %s`; the IAM "
                "identity also needs an EKS access entry (or aws-auth mapping) on the cluster."
                % (where, " (aws eks get-token: %s)" % error if error else "", cluster, region,
                   " --profile %s" % profile if profile else "", cluster, region, kubeconfig or "~/.kube/config"))
    if spec:
        error = run_exec_plugin(user) if run_plugin else None
        return ("The credential plugin of %s (`%s`) gave no valid token%s: run it by hand to see why, refresh its "
                "login, or set portkey_kubeconfig / portkey_kube_context to another user."
                % (where, " ".join([command] + args), ": %s" % error if error else ""))
    return ("The token or client certificate of %s is missing, wrong or expired: get a fresh kubeconfig (for EKS: "
            "`aws eks update-kubeconfig --name CLUSTER --region REGION`) or set K8S_AUTH_API_KEY to a valid token."
            % where)


def service_reader(params, name, namespace, validate_certs_name="validate_certs", error=PortkeyError):
    """A function returning the Service ``namespace/name`` as a dict (None when absent); raises ``error``."""
    from kubernetes import client as k8s_client  # imported by the caller's HAS_K8S check first
    from kubernetes.client.rest import ApiException

    try:
        api = K8sAuth.from_params(params, validate_certs_name).api_client()
    except PortkeyError as exc:
        raise error(str(exc))
    core = k8s_client.CoreV1Api(api)

    def read():
        try:
            return api.sanitize_for_serialization(core.read_namespaced_service(name, namespace))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise error("cannot read Service %s/%s: %s %s" % (namespace, name, exc.status, exc.reason))
        except Exception as exc:  # urllib3 connection errors and the like
            raise error("cannot read Service %s/%s: %s" % (namespace, name, exc))

    return read


# -- is the cluster reachable with these options? --------------------------------------------------------------

def _settings(auth):
    """The inventory variables / environment that chose this connection, for messages."""
    if auth.token_only:
        return "K8S_AUTH_HOST / K8S_AUTH_API_KEY"
    return "portkey_kubeconfig (%s) / portkey_kube_context (%s), or K8S_AUTH_KUBECONFIG / K8S_AUTH_CONTEXT" % (
        auth.kubeconfig or "default", auth.context or "current context")


def _hint(auth):
    """What to run for rejected credentials: credential_hint for a kubeconfig user, the token variables otherwise."""
    if auth.token_only:
        return "Set K8S_AUTH_API_KEY to a valid token."
    if kubeconfig_user(auth.kubeconfig, auth.context).get("exec"):
        return credential_hint(auth.kubeconfig, auth.context)  # the plugin's own error and what to run
    return ("Fix the user of the kubeconfig context (for EKS: an exec plugin running `aws eks get-token` with valid "
            "AWS credentials, written by `aws eks update-kubeconfig --name CLUSTER --region REGION`), or set "
            "K8S_AUTH_API_KEY to a valid token.")


def _load_failure(auth, exc):
    """A one-paragraph message for a connection that cannot be built from the options."""
    text = str(exc)
    if auth.kubeconfig and not os.path.exists(auth.kubeconfig):
        return ("the kubeconfig %s does not exist: set portkey_kubeconfig (or K8S_AUTH_KUBECONFIG) to the "
                "kubeconfig of the cluster (for EKS: `aws eks update-kubeconfig --name CLUSTER --kubeconfig PATH`)"
                % auth.kubeconfig)
    if auth.context and ("context" in text.lower() or "Expected object with name" in text):
        contexts = []
        try:
            from kubernetes import config as kconfig
            contexts = [c.get("name") for c in kconfig.list_kube_config_contexts(config_file=auth.kubeconfig)[0]]
        except Exception:  # any failure here only shortens the message
            pass
        return ("the context %r is not in the kubeconfig %s: set portkey_kube_context (or K8S_AUTH_CONTEXT) to one "
                "of %s" % (auth.context, auth.kubeconfig or "(default)", ", ".join(map(str, contexts)) or "its contexts"))
    if "exec" in text.lower():
        return "the kubeconfig's credential plugin failed (%s): %s. %s" % (_settings(auth), text, _hint(auth))
    return "cannot load the Kubernetes connection (%s): %s; %s" % (_settings(auth), text, HINT)


def _request_failure(auth, host, exc):
    """A one-paragraph message for a failed GET /version: names the setting and the likely fix."""
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or ""
    text = "%s %s" % (type(exc).__name__, exc)
    if status in (401, 403) or "(401)" in text or "(403)" in text:
        code = status or (401 if "(401)" in text else 403)
        if code == 401:
            return ("the Kubernetes API server at %s rejected the credentials (401 Unauthorized): the token or client "
                    "certificate of %s is missing, wrong or expired. %s" % (host, _settings(auth), _hint(auth)))
        return ("the Kubernetes API server at %s refused access (403 Forbidden) to the identity of %s: grant it "
                "access to the cluster (for EKS: an access entry or aws-auth mapping for the IAM role of this run)"
                % (host, _settings(auth)))
    lowered = text.lower()
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return ("the TLS connection to the Kubernetes API server at %s failed (%s): the server's certificate is not "
                "trusted by the certificate-authority of %s; fix the cluster's certificate-authority(-data) in the "
                "kubeconfig or set K8S_AUTH_SSL_CA_CERT" % (host, _short(exc), _settings(auth)))
    if "refused" in lowered:
        return ("cannot connect to the Kubernetes API server at %s (connection refused): the server is down or "
                "%s points at the wrong cluster; check the server address of the kubeconfig context"
                % (host, _settings(auth)))
    if "timed out" in lowered or "timeout" in lowered:
        return ("the Kubernetes API server at %s did not answer in time: check the network path (VPN, security "
                "groups, a private EKS endpoint) and %s" % (host, _settings(auth)))
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "resolve" in lowered:
        return ("the host of the Kubernetes API server %s does not resolve: check the server address of %s"
                % (host, _settings(auth)))
    detail = ("HTTP %s %s" % (status, reason)) if status else _short(exc)
    return "the Kubernetes API server at %s did not answer GET /version (%s): check %s" % (
        host, detail, _settings(auth))


def _short(exc):
    """The innermost reason of a urllib3 error, without its object reprs."""
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc)
    match = re.search(r"(certificate verify failed[^'\"()]*|wrong version number|connection refused|timed out|"
                      r"name or service not known|temporary failure in name resolution)", text, re.I)
    return (match.group(1).strip() if match else text)[:300]


def check_cluster(auth, timeout=10, namespace="default"):
    """GET /version, then one read that needs the credentials (the namespace's default ServiceAccount: absent is
    fine, 401/403 are not; /version is anonymous on EKS): dict(host, version), or PortkeyError with a one-paragraph
    message naming the inventory variable (portkey_kubeconfig / portkey_kube_context / K8S_AUTH_*) and the fix."""
    try:
        import kubernetes
        from kubernetes import config as kconfig
    except ImportError:
        raise PortkeyError("the kubernetes Python library is required (pip install 'kubernetes<37')")
    try:
        cfg = auth.configuration()
    except PortkeyError as exc:
        raise PortkeyError(_load_failure(auth, exc.__cause__ or exc.__context__ or exc))
    except (kconfig.ConfigException, OSError, ValueError, TypeError) as exc:  # exec plugins fail late
        raise PortkeyError(_load_failure(auth, exc))
    cfg.retries = 0
    host = cfg.host
    try:
        client = kubernetes.client.ApiClient(cfg)
        try:
            info = kubernetes.client.VersionApi(client).get_code(_request_timeout=timeout)
            try:
                kubernetes.client.CoreV1Api(client).read_namespaced_service_account(
                    "default", namespace, _request_timeout=timeout)
            except kubernetes.client.rest.ApiException as exc:
                if exc.status != 404:
                    raise
        finally:
            client.close()
    except kconfig.ConfigException as exc:
        raise PortkeyError(_load_failure(auth, exc))
    except Exception as exc:  # urllib3 / ApiException / OSError: all become one message, never a traceback
        raise PortkeyError(_request_failure(auth, host, exc))
    return dict(host=host, version=getattr(info, "git_version", None))
