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
import signal
import subprocess
import sys
import time

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


# client-go's log lines (klog): "I1201 04:05:06.789012   12345 reflector.go:123] ..." (also W, E, F)
KLOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^ \]]+:\d+\] ")


def error_text(text):
    """helm's own message from its stderr: client log lines (klog) dropped; helm's ``Error:`` lines first.

    Under API trouble helm writes many client log lines before its ``Error: ...`` line; a message cut to a few
    hundred characters would keep only that noise."""
    lines = [line.rstrip() for line in (text or "").splitlines() if line.strip()]
    kept = [line for line in lines if not KLOG_LINE.match(line)]
    errors = [line for line in kept if line.startswith("Error:")]
    others = [line for line in kept if not line.startswith("Error:")]
    if errors:
        kept = errors + others
    if not kept and lines:  # nothing but log lines: the last one says most
        kept = [lines[-1]]
    return "\n".join(kept)


INTERRUPT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class HelmInterrupted(PortkeyError):
    """helm was stopped because this run was interrupted (a signal, or the playbook that started it is gone)."""


def _proc_stat(pid):
    """(ppid, starttime) of a process from /proc, or None (process gone, or no /proc)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (IOError, OSError, IndexError, ValueError):
        return None


def ancestors(limit=8):
    """[(pid, starttime)] of this process's parents up to (not including) pid 1: the Ansible worker and the
    ansible-playbook process among them. Empty without /proc."""
    found, pid = [], os.getppid()
    while pid > 1 and len(found) < limit:
        stat = _proc_stat(pid)
        if stat is None:
            break
        found.append((pid, stat[1]))
        pid = stat[0]
    return found


def ancestors_alive(chain):
    for pid, starttime in chain:
        stat = _proc_stat(pid)
        if stat is None or stat[1] != starttime:
            return False
    return True


def run_interruptible(args, check_rc=False, environ_update=None, cwd=None, encoding="utf-8", poll=0.5, grace=90.0):
    """AnsibleModule.run_command's signature, for helm's writes: SIGINT / SIGTERM / SIGHUP sent to this module are
    forwarded to helm, and helm is sent SIGTERM when the playbook that started this module is gone (Ansible runs
    each task in its own session, so killing ansible-playbook does not reach helm). helm then ends its operation
    (an atomic upgrade rolls back) and this raises HelmInterrupted. Waits at most ``grace`` s after the signal."""
    env = dict(os.environ)
    env.update(environ_update or {})
    chain = ancestors()
    # not run_command: it blocks until the child exits, and helm must get the signals this process receives
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,  # pylint: disable=ansible-bad-function
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    received = []

    def forward(signum, _frame=None):
        received.append(signum)
        try:
            proc.send_signal(signum)
        except OSError:
            pass
    previous = {}
    for signum in INTERRUPT_SIGNALS:
        try:
            previous[signum] = signal.signal(signum, forward)
        except (ValueError, OSError):  # not the main thread
            pass
    try:
        deadline = None
        while True:
            try:
                out, err = proc.communicate(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                if not received and chain and not ancestors_alive(chain):
                    forward(signal.SIGTERM)
                if received and deadline is None:
                    deadline = time.monotonic() + grace
                if deadline is not None and time.monotonic() > deadline:
                    proc.kill()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if encoding is not None:
        out, err = out.decode(encoding, "replace"), err.decode(encoding, "replace")
    if received:
        name = signal.Signals(received[0]).name
        verb = args[1] if len(args) > 1 else "command"
        raise HelmInterrupted(
            "this run was interrupted (%s) during helm %s: helm was told to stop and exited with rc %s (%s). "
            "An interrupted upgrade may leave the release pending-upgrade or failed: the next run reports it and "
            "continues, or names portkey_recover_pending when the release stays pending (see docs/troubleshooting.md)"
            % (name, verb, proc.returncode, error_text(err if isinstance(err, str) else "") or "no message"),
            interrupted=name)
    return proc.returncode, out, err


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
            detail = error_text(err) or (out or "").strip()
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
            raise HelmError("helm get all failed (rc=%d): %s" % (rc, error_text(err)), argv=argv, rc=rc,
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
            raise HelmError("helm history failed (rc=%d): %s" % (rc, error_text(err)), argv=argv, rc=rc,
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
