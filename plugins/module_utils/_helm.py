# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change without notice.
"""Run the helm CLI: argv lists only, LC_ALL=C, helm 3 / helm 4 flag mapping, JSON output parsing.

The ``*_argv`` functions are pure (table-tested); ``Helm`` runs them and records every call in
``Helm.calls`` (argv lists, no secrets: values always travel in files).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import re
import shutil
import sys

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError

# resolved binary path -> (major, minor, patch, raw version string)
_VERSION_CACHE = {}

PENDING_STATES = ("pending-install", "pending-upgrade", "pending-rollback")

WAIT_STRATEGIES = ("watcher", "legacy")


class HelmError(PortkeyError):
    """A helm process failed; ``stderr`` holds helm's own message."""

    def __init__(self, msg, argv=None, rc=None, stdout="", stderr=""):
        super(HelmError, self).__init__(msg)
        self.argv = argv or []
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


def parse_version(text):
    """'v3.19.0+g3d8990f' -> (3, 19, 0). Raises PortkeyError when unparseable."""
    m = re.match(r"^\s*v?(\d+)\.(\d+)\.(\d+)", text or "")
    if not m:
        raise PortkeyError("could not parse the helm version from %r" % (text,))
    return tuple(int(x) for x in m.groups())


def global_flags(kubeconfig=None, context=None):
    flags = []
    if kubeconfig:
        flags += ["--kubeconfig", kubeconfig]
    if context:
        flags += ["--kube-context", context]
    return flags


def _wait_flags(major, wait, wait_strategy="watcher"):
    """helm 3: --wait; helm 4: --wait=<strategy> (helm 4's default is hookOnly, i.e. no waiting)."""
    if not wait:
        return []
    if major >= 4:
        return ["--wait=%s" % (wait_strategy or "watcher")]
    return ["--wait"]


# `helm get all --template`: the release record's scalars, one per line, then the manifest after a boundary line.
# (helm 3 `status -o json` has neither chart metadata nor user values; helm 4's also fetches every live object.)
RELEASE_BOUNDARY = "--portkey-ai-gateway-manifest--"
RELEASE_FIELDS = ("name", "namespace", "version", "status", "last_deployed", "chart_name", "chart_version",
                  "app_version")
RELEASE_TEMPLATE = "\n".join([
    "{{.Release.Name}}", "{{.Release.Namespace}}", "{{.Release.Version}}", "{{.Release.Info.Status}}",
    '{{.Release.Info.LastDeployed.Format "2006-01-02T15:04:05.999999999Z07:00"}}',
    "{{.Release.Chart.Metadata.Name}}", "{{.Release.Chart.Metadata.Version}}",
    "{{.Release.Chart.Metadata.AppVersion}}", RELEASE_BOUNDARY, "{{.Release.Manifest}}",
])


def get_all_argv(binary, name, namespace, revision=None, kubeconfig=None, context=None):
    argv = [binary, "get", "all", name, "--namespace", namespace, "--template", RELEASE_TEMPLATE]
    if revision:
        argv += ["--revision", str(int(revision))]
    return argv + global_flags(kubeconfig, context)


def get_values_argv(binary, name, namespace, revision=None, kubeconfig=None, context=None):
    argv = [binary, "get", "values", name, "--namespace", namespace, "--output", "json"]
    if revision:
        argv += ["--revision", str(int(revision))]
    return argv + global_flags(kubeconfig, context)


def parse_release_text(text, config=None):
    """The output of get_all_argv -> a dict shaped like helm's release JSON (as `helm upgrade -o json` prints)."""
    head, sep, manifest = (text or "").partition("\n" + RELEASE_BOUNDARY + "\n")
    lines = head.split("\n")
    if not sep or len(lines) != len(RELEASE_FIELDS):
        raise PortkeyError("unexpected output of helm get all --template (first 200 chars: %r)" % (text or "")[:200])
    f = dict(zip(RELEASE_FIELDS, lines))
    try:
        version = int(f["version"])
    except ValueError:
        raise PortkeyError("unexpected release revision %r in helm get all output" % f["version"])
    return dict(name=f["name"], namespace=f["namespace"], version=version,
                info=dict(status=f["status"], last_deployed=f["last_deployed"]),
                chart=dict(metadata=dict(name=f["chart_name"], version=f["chart_version"],
                                         appVersion=f["app_version"] or None)),
                config=config or {}, manifest=manifest)


def history_argv(binary, name, namespace, max_items=256, kubeconfig=None, context=None):
    return [binary, "history", name, "--namespace", namespace, "--output", "json",
            "--max", str(int(max_items))] + global_flags(kubeconfig, context)


def template_argv(binary, name, namespace, chart_path, values_files=(), is_upgrade=False,
                  kubeconfig=None, context=None):
    """helm template: client-side only (no cluster connection); same flags for helm 3 and 4.

    CRDs of the chart's crds/ folder are left out, as they are from a release's manifest.
    """
    argv = [binary, "template", name, chart_path, "--namespace", namespace]
    for path in values_files:
        argv += ["--values", path]
    if is_upgrade:
        argv.append("--is-upgrade")
    return argv + global_flags(kubeconfig, context)


def upgrade_argv(binary, major, name, namespace, chart_path, values_files=(), atomic=True, wait=True,
                 wait_strategy="watcher", timeout="5m", history_max=10, create_namespace=True,
                 skip_crds=False, kubeconfig=None, context=None):
    """helm upgrade --install. helm 3: --atomic / --wait; helm 4: --rollback-on-failure / --wait=<strategy>."""
    argv = [binary, "upgrade", name, chart_path, "--install", "--namespace", namespace]
    for path in values_files:
        argv += ["--values", path]
    argv += ["--reset-values", "--history-max", str(int(history_max)), "--timeout", str(timeout)]
    if atomic:
        argv.append("--rollback-on-failure" if major >= 4 else "--atomic")
    # atomic implies waiting in both versions; say so explicitly so helm 4 uses the chosen strategy
    argv += _wait_flags(major, wait or atomic, wait_strategy)
    if create_namespace:
        argv.append("--create-namespace")
    if skip_crds:
        argv.append("--skip-crds")
    argv += ["--output", "json"]
    return argv + global_flags(kubeconfig, context)


def uninstall_argv(binary, major, name, namespace, wait=True, wait_strategy="watcher", timeout="5m",
                   kubeconfig=None, context=None):
    argv = [binary, "uninstall", name, "--namespace", namespace, "--timeout", str(timeout)]
    argv += _wait_flags(major, wait, wait_strategy)
    return argv + global_flags(kubeconfig, context)


def rollback_argv(binary, major, name, namespace, revision=None, wait=True, wait_strategy="watcher",
                  timeout="5m", history_max=10, kubeconfig=None, context=None):
    argv = [binary, "rollback", name]
    if revision:
        argv.append(str(int(revision)))
    argv += ["--namespace", namespace, "--history-max", str(int(history_max)), "--timeout", str(timeout)]
    argv += _wait_flags(major, wait, wait_strategy)
    return argv + global_flags(kubeconfig, context)


def pull_argv(binary, repo_url, chart_name, chart_version, untardir):
    """helm pull --repo: no `helm repo add`, so no repository state is written."""
    argv = [binary, "pull", chart_name, "--repo", repo_url, "--untar", "--untardir", untardir]
    if chart_version:
        argv += ["--version", str(chart_version)]
    return argv


def is_not_found(stderr):
    return "release: not found" in (stderr or "")


def parse_json(text, what):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PortkeyError("could not parse the JSON output of %s: %s (first 200 chars: %r)"
                           % (what, exc, (text or "")[:200]))


def resolve_binary(binary):
    """A path is used as is; a bare name is looked up on PATH, then next to the running Python (venv bin)."""
    if os.sep in binary:
        if os.path.isfile(binary) and os.access(binary, os.X_OK):
            return binary
        raise PortkeyError("helm binary %s does not exist or is not executable (helm_binary / portkey_helm_binary)"
                           % binary)
    found = shutil.which(binary)
    if not found:
        candidate = os.path.join(os.path.dirname(sys.executable), binary)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            found = candidate
    if not found:
        raise PortkeyError("helm binary %r not found on PATH; install helm 3.8+ or set helm_binary "
                           "(portkey_helm_binary) to its path" % binary)
    return found


class Helm(object):
    """Runs helm for one binary / kubeconfig / context. ``calls`` lists every argv run."""

    def __init__(self, run_command, binary="helm", kubeconfig=None, context=None, env=None, global_args=None):
        """``run_command`` is AnsibleModule.run_command (or a callable with its signature and return value).

        ``global_args`` (connection flags such as --kube-apiserver, never a secret) are added to every command
        that talks to the cluster (all but version and pull); ``env`` is merged into helm's environment (a token
        travels as HELM_KUBETOKEN there, never in argv)."""
        self.run_command = run_command
        self.binary = resolve_binary(binary or "helm")
        self.kubeconfig = kubeconfig
        self.context = context
        self.env = env or {}
        self.global_args = list(global_args or [])
        self.calls = []

    # -- plumbing ---------------------------------------------------------------------------------
    def run(self, argv, check=True, env=None):
        if self.global_args and len(argv) > 1 and argv[1] not in ("version", "pull"):
            argv = list(argv) + self.global_args
        self.calls.append(list(argv))
        merged = dict(self.env)
        merged.update(env or {})
        update = dict(LC_ALL="C", LANG="C", LC_MESSAGES="C", **merged)
        rc, out, err = self.run_command(argv, check_rc=False, environ_update=update)
        if check and rc != 0:
            verb = argv[1] if len(argv) > 1 else ""
            detail = (err or "").strip() or (out or "").strip()
            raise HelmError("helm %s failed (rc=%d): %s" % (verb, rc, detail),
                            argv=argv, rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def version(self):
        key = os.path.realpath(self.binary)
        if key not in _VERSION_CACHE:
            _rc, out, _err = self.run([self.binary, "version", "--template", "{{.Version}}"])
            ver = parse_version(out)
            if ver[0] < 3 or (ver[0] == 3 and ver[1] < 8):
                raise PortkeyError("helm %s at %s is too old: helm 3.8+ or helm 4 is required" % (out.strip(), key))
            _VERSION_CACHE[key] = ver + (out.strip(),)
        return _VERSION_CACHE[key]

    @property
    def major(self):
        return self.version()[0]

    def _g(self):
        return dict(kubeconfig=self.kubeconfig, context=self.context)

    # -- read -------------------------------------------------------------------------------------
    def release(self, name, namespace, revision=None, with_values=True):
        """The latest release record (any state; or ``revision``) as helm's release JSON shape, or None when
        there is no such release. Two helm processes: get all --template, get values -o json (the second only
        with ``with_values``; ``config`` is {} without it)."""
        argv = get_all_argv(self.binary, name, namespace, revision=revision, **self._g())
        rc, out, err = self.run(argv, check=False)
        if rc != 0:
            if is_not_found(err):
                return None
            raise HelmError("helm get all failed (rc=%d): %s" % (rc, err.strip()), argv=argv, rc=rc,
                            stdout=out, stderr=err)
        config = None
        if with_values:
            argv = get_values_argv(self.binary, name, namespace, revision=revision, **self._g())
            config = parse_json(self.run(argv)[1], "helm get values")
        return parse_release_text(out, config)

    def history(self, name, namespace):
        argv = history_argv(self.binary, name, namespace, **self._g())
        rc, out, err = self.run(argv, check=False)
        if rc != 0:
            if is_not_found(err):
                return []
            raise HelmError("helm history failed (rc=%d): %s" % (rc, err.strip()), argv=argv, rc=rc,
                            stdout=out, stderr=err)
        return parse_json(out, "helm history") or []

    def template(self, name, namespace, chart_path, values_files=(), is_upgrade=False):
        argv = template_argv(self.binary, name, namespace, chart_path, values_files, is_upgrade=is_upgrade,
                             **self._g())
        return self.run(argv)[1]

    # -- write ------------------------------------------------------------------------------------
    def upgrade(self, name, namespace, chart_path, values_files=(), **kwargs):
        argv = upgrade_argv(self.binary, self.major, name, namespace, chart_path, values_files,
                            kubeconfig=self.kubeconfig, context=self.context, **kwargs)
        out = self.run(argv)[1]
        return parse_json(out, "helm upgrade")

    def uninstall(self, name, namespace, **kwargs):
        argv = uninstall_argv(self.binary, self.major, name, namespace, kubeconfig=self.kubeconfig,
                              context=self.context, **kwargs)
        return self.run(argv)[1]

    def rollback(self, name, namespace, revision=None, **kwargs):
        argv = rollback_argv(self.binary, self.major, name, namespace, revision=revision,
                             kubeconfig=self.kubeconfig, context=self.context, **kwargs)
        return self.run(argv)[1]

    def pull(self, repo_url, chart_name, chart_version, untardir, helm_home=None):
        """helm pull into untardir; helm_home (a private dir) keeps helm's cache/config out of $HOME."""
        env = {}
        if helm_home:
            env = {"HELM_CACHE_HOME": os.path.join(helm_home, "cache"),
                   "HELM_CONFIG_HOME": os.path.join(helm_home, "config"),
                   "HELM_DATA_HOME": os.path.join(helm_home, "data")}
        return self.run(pull_argv(self.binary, repo_url, chart_name, chart_version, untardir), env=env)[1]
