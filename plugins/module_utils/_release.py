# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change without notice.
"""One Helm release of the gateway: compare the deployed release with what would be rendered now, then act.

helm calls per run (state present):
  - ``helm get all --template`` (status, revision, chart name/version, manifest) and ``helm get values -o json``
    (user values) read the deployed release;
  - ``helm template`` (client side) renders what would be deployed now (when a release exists, or in check/diff
    mode);
  - ``helm version`` and ``helm upgrade --install -o json`` only when something changed.
A no-op run therefore runs 3 helm processes and never ``helm upgrade``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import json
import os
import re
import shutil
import tempfile
import time

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError, deep_merge, yaml
from ansible_collections.portkey_ai.gateway.plugins.module_utils._audit_record import record_document, write_record
from ansible_collections.portkey_ai.gateway.plugins.module_utils._manifest import (
    canonical_docs, docs_text, normalise, objects_from_manifest, release_docs, secret_diffs,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._private_files import open_new_private
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import (
    redact, redact_docs, redact_values, values_secret_values,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import PENDING_STATES, HelmError, error_text
from ansible_collections.portkey_ai.gateway.plugins.module_utils._secrets import (
    LEGACY_WARNING as LEGACY_SECRETS_WARNING, data_checksum, decoded_data, owned_secrets,
    secret_changes,
)

# ---------------------------------------------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------------------------------------------


def load_values_file(path):
    try:
        with open(path, "rb") as handle:
            doc = yaml.safe_load(handle.read().decode("utf-8"))
    except (IOError, OSError) as exc:
        raise PortkeyError("values_files: cannot read %s: %s" % (path, exc))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PortkeyError("values_files: %s is not valid YAML: %s" % (path, exc))
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise PortkeyError("values_files: %s must hold a YAML mapping" % path)
    return doc


# ---------------------------------------------------------------------------------------------------------------
# release records
# ---------------------------------------------------------------------------------------------------------------

def release_info(rel, name=None, namespace=None):
    """The ``release`` return value from a helm release JSON (status / upgrade output); null fields if absent."""
    if not rel:
        return dict(name=name, namespace=namespace, revision=None, status=None, chart=None, chart_version=None,
                    app_version=None, updated=None)
    info = rel.get("info") or {}
    meta = (rel.get("chart") or {}).get("metadata") or {}
    return dict(name=rel.get("name", name), namespace=rel.get("namespace", namespace), revision=rel.get("version"),
                status=info.get("status"), chart=meta.get("name"), chart_version=meta.get("version"),
                app_version=meta.get("appVersion"), updated=info.get("last_deployed"))


def compare(current, desired):
    """Reasons (a list, empty when equal) why the deployed release differs from the desired one.

    current: helm release JSON (status -o json). desired: {chart_name, chart_version, values, manifest}.
    """
    if not current:
        return ["release is not installed"]
    reasons = []
    status = (current.get("info") or {}).get("status")
    if status != "deployed":
        reasons.append("release status is %s, not deployed" % status)
    meta = (current.get("chart") or {}).get("metadata") or {}
    if (meta.get("name"), str(meta.get("version"))) != (desired["chart_name"], str(desired["chart_version"])):
        reasons.append("chart %s-%s differs from the deployed %s-%s" % (
            desired["chart_name"], desired["chart_version"], meta.get("name"), meta.get("version")))
    if normalise(current.get("config")) != normalise(desired["values"]):
        reasons.append("values differ")
    if canonical_docs(release_docs(current.get("manifest"))) != canonical_docs(release_docs(desired["manifest"])):
        reasons.append("rendered manifest differs")
    return reasons


def last_deployed_revision(history, before=None):
    """The revision a pending release should roll back to: the newest 'deployed', else 'superseded' one."""
    candidates = [h for h in history or [] if before is None or int(h.get("revision", 0)) < int(before)]
    for wanted in ("deployed", "superseded"):
        revs = [int(h["revision"]) for h in candidates if h.get("status") == wanted]
        if revs:
            return max(revs)
    return None


def pending_message(rel, name, namespace):
    info = release_info(rel)
    return ("release %s in namespace %s is stuck in %s at revision %s (an earlier helm run was interrupted); "
            "set recover_pending: rollback (inventory: -e portkey_recover_pending=rollback) to roll it back to the "
            "last deployed revision (or uninstall a pending install) and continue, or fix it by hand with "
            "`helm rollback %s -n %s`" % (name, namespace, info["status"], info["revision"], name, namespace))


ANOTHER_OPERATION = "another operation (install/upgrade/rollback) is in progress"


def is_concurrent_operation(helm_msg):
    """helm's errors when another run operated on the release at the same time: its lock message, or the release
    record of the revision this run wanted to write already written by the other run (helm 3: "release: already
    exists"; some storage drivers name the Secret sh.helm.release.v1.NAME.vN)."""
    return (ANOTHER_OPERATION in helm_msg or "release: already exists" in helm_msg
            or ("already exists" in helm_msg and "sh.helm.release" in helm_msg))


POLL_SECONDS = 2.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_HELM_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_duration(text, default=300.0):
    """Seconds of a Go duration (``5m``, ``90s``, ``1h30m``, a bare number = seconds); ``default`` if unparseable."""
    text = str(text or "").strip()
    if re.match(r"^\d+(\.\d+)?$", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return default
    scale = dict(h=3600.0, m=60.0, s=1.0, ms=0.001)
    return sum(float(n) * scale[u] for n, u in parts)


def parse_helm_time(text):
    """An aware datetime of helm's ``last_deployed`` (RFC 3339 with nanoseconds), or None."""
    m = _HELM_TIME.match((text or "").strip())
    if not m:
        return None
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    micro = int(((m.group(2) or "") + "000000")[:6])
    zone = m.group(3)
    offset = datetime.timedelta(0) if zone == "Z" else (
        (1 if zone[0] == "+" else -1) * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return base.replace(microsecond=micro, tzinfo=datetime.timezone(offset))


def pending_age(rel, now=None):
    """Seconds since a release revision was written (its last_deployed), or None when unknown."""
    when = parse_helm_time(((rel or {}).get("info") or {}).get("last_deployed"))
    if when is None:
        return None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return (now - when).total_seconds()


# ---------------------------------------------------------------------------------------------------------------
# the operation
# ---------------------------------------------------------------------------------------------------------------

class ReleaseRequest(object):
    """Everything gateway_release needs; built by the module from its params."""

    def __init__(self, name, namespace, chart_path=None, values_spec=None, values_files=None, state="present",
                 revision=None, atomic=True, wait=True, wait_strategy="watcher", timeout="5m", history_max=10,
                 create_namespace=True, recover_pending="none", skip_crds=False, check_mode=False, diff=False,
                 record_dir=None, record_name=None):
        self.name = name
        self.namespace = namespace
        self.chart_path = chart_path
        self.values_spec = values_spec
        self.values_files = list(values_files or [])
        self.state = state
        self.revision = revision
        self.atomic = atomic
        self.wait = wait
        self.wait_strategy = wait_strategy
        self.timeout = timeout
        self.history_max = history_max
        self.create_namespace = create_namespace
        self.recover_pending = recover_pending
        self.skip_crds = skip_crds
        self.check_mode = check_mode
        self.diff = diff
        self.record_dir = record_dir
        self.record_name = record_name


def _empty_result(req):
    return dict(changed=False, release=release_info(None, req.name, req.namespace), objects=[],
                values_checksum=None, env_checksum=None, generation=None, warnings=[], reasons=[],
                secrets_warning=None)


class ReleaseManager(object):
    """Runs one request. ``add_secrets`` is called with every secret value before anything is returned."""

    def __init__(self, helm, request, add_secrets=None, build_values=None, kube_secrets=None):
        self.helm = helm
        self.req = request
        # a callable returning a _secrets.KubeSecrets (created on first use: only the secret modes need it)
        self._kube_secrets_factory = kube_secrets
        self._kube_secrets = None
        self.secrets = set()
        self._add_secrets_cb = add_secrets
        self._build_values = build_values
        # what the audit record shows as values (the deployed / attempted user values) and their secret paths
        self._record_values = None
        self._record_paths = []
        self._clock = time.monotonic
        self._sleep = time.sleep
        self._now = None  # utc now for pending_age (tests set it)

    def add_secrets(self, values):
        values = set(v for v in values or () if isinstance(v, str) and v)
        self.secrets |= values
        if self._add_secrets_cb and values:
            self._add_secrets_cb(values)

    def _wait_kwargs(self):
        return dict(wait=self.req.wait, wait_strategy=self.req.wait_strategy, timeout=self.req.timeout)

    def run(self):
        try:
            if self.req.state == "absent":
                result = self.absent()
            elif self.req.state == "rollback":
                result = self.rollback()
            else:
                result = self.present()
        except PortkeyError as exc:
            if self.req.record_dir and not self.req.check_mode:
                failed = dict(_empty_result(self.req), release=exc.details.get("release") or {})
                try:
                    exc.details["record"], _warnings = self._record(failed, error=str(exc))
                except PortkeyError as record_exc:
                    exc.details["record_error"] = str(record_exc)
            raise
        result["record"] = None
        if self.req.record_dir and not self.req.check_mode:
            # an audit log, not a change: it never makes the result changed
            result["record"], warnings = self._record(result)
            result["warnings"].extend(warnings)
        return result

    def _record(self, result, error=None):
        now = datetime.datetime.now(datetime.timezone.utc)
        doc = record_document(result, self._record_values, self.secrets, self._record_paths,
                              record_name=self.req.record_name or self.req.name, state=self.req.state, now=now,
                              error=error)
        return write_record(self.req.record_dir, doc, now)

    @property
    def kube_secrets(self):
        if self._kube_secrets is None:
            if self._kube_secrets_factory is None:
                raise PortkeyError("this run needs the Kubernetes Secrets API (portkey_secrets), but no connection "
                                   "was given")
            self._kube_secrets = self._kube_secrets_factory()
        return self._kube_secrets

    # -- present -----------------------------------------------------------------------------------------------
    def _values(self, chart, extra=None):
        """(ValuesResult or None, desired user values, secret paths)."""
        vr = None
        values = {}
        paths = []
        if self.req.values_spec is not None:
            build = self._build_values
            if build is None:
                from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import build_values
                build = build_values
            vr = build(dict(self.req.values_spec, **(extra or {})),
                       dict(name=chart["chart_name"], version=chart["chart_version"],
                            app_version=chart["app_version"] or ""))
            self.add_secrets(getattr(vr, "secret_values", ()) or ())
            values = vr.values
            paths = list(getattr(vr, "secret_paths", ()) or ())
        for path in self.req.values_files:
            doc = load_values_file(path)
            self.add_secrets(values_secret_values(doc))
            values = deep_merge(values, doc)
        return vr, normalise(values), paths

    def _write_values(self, tmpdir, values):
        path = os.path.join(tmpdir, "values.json")
        with open_new_private(path) as handle:
            json.dump(values, handle, sort_keys=True)
        return path

    def _wait_other_operation(self, current, result):
        """A pending revision younger than ``timeout`` may be another run's operation in progress: poll (bounded
        by the time that operation may still take) until it is no longer pending. Returns the latest release."""
        req = self.req
        limit = parse_duration(req.timeout)
        age = pending_age(current, self._now)
        if age is None or age >= limit:
            return current
        info = release_info(current)
        deadline = self._clock() + (limit - max(age, 0)) + POLL_SECONDS
        latest = current
        first_poll, polls, started = len(self.helm.calls), 0, self._clock()
        while self._clock() < deadline:
            self._sleep(min(POLL_SECONDS, max(0.0, deadline - self._clock())))
            latest = self.helm.release(req.name, req.namespace)
            polls += 1
            if polls == 1:
                poll_calls = len(self.helm.calls) - first_poll
            if not latest or (latest.get("info") or {}).get("status") not in PENDING_STATES:
                break
        if polls > 1:  # the wait is reported once: one poll's commands stand for all of them
            del self.helm.calls[first_poll + poll_calls:]
        still = latest and (latest.get("info") or {}).get("status") in PENDING_STATES
        result["warnings"].append("another operation on release %s was in progress (revision %s %s): waited %ds "
                                  "(%d polls) for it to finish%s" % (
                                      req.name, info["revision"], info["status"], self._clock() - started, polls,
                                      "; it is still pending" if still else ""))
        if latest:
            self.add_secrets(values_secret_values(latest.get("config")))
        return latest

    def _recover_pending(self, current, result):
        req = self.req
        status = (current.get("info") or {}).get("status")
        if req.recover_pending != "rollback":
            raise PortkeyError(pending_message(current, req.name, req.namespace),
                               release=release_info(current))
        history = self.helm.history(req.name, req.namespace)
        target = last_deployed_revision(history, before=current.get("version"))
        result["changed"] = True
        if target:
            result["warnings"].append("release was %s at revision %s: rolled back to revision %s (recover_pending)"
                                      % (status, current.get("version"), target))
            if not req.check_mode:
                self.helm.rollback(req.name, req.namespace, revision=target, history_max=req.history_max,
                                   **self._wait_kwargs())
                return self.helm.release(req.name, req.namespace)
            return current
        result["warnings"].append("release was %s at revision %s with no deployed revision: uninstalled "
                                  "(recover_pending)" % (status, current.get("version")))
        if not req.check_mode:
            self.helm.uninstall(req.name, req.namespace, **self._wait_kwargs())
        return None

    def present(self):
        from ansible_collections.portkey_ai.gateway.plugins.module_utils._chart import load_chart
        req = self.req
        if not req.chart_path:
            raise PortkeyError("chart_path is required for state present (the path returned by "
                               "portkey_ai.gateway.chart_source)")
        chart = load_chart(req.chart_path)
        vr, desired_values, secret_paths = self._values(chart)
        plan = getattr(vr, "secrets", None) or {}
        if plan.get("mode") in ("existing", "external"):
            # rotation: the referenced Secret's checksum goes into the pod annotation
            checksum = self._referenced_secret_checksum(plan)
            vr, desired_values, secret_paths = self._values(chart, extra=dict(secret_checksum=checksum))
            plan = vr.secrets
        self._record_values, self._record_paths = desired_values, secret_paths
        result = _empty_result(req)
        if plan.get("mode") == "values" and vr.generation == "1.0" \
                and not ((req.values_spec or {}).get("secrets") or {}).get("mode"):
            # not an Ansible warning: the site.yml summary lists it with the cluster's warnings, once per run
            result["secrets_warning"] = LEGACY_SECRETS_WARNING % req.name
        secret_plan = self._secret_changes(plan, getattr(vr, "generation", None))
        if vr is not None:
            result.update(values_checksum=getattr(vr, "checksum", None),
                          env_checksum=getattr(vr, "env_checksum", None),
                          generation=getattr(vr, "generation", None))
            result["warnings"].extend(getattr(vr, "warnings", None) or [])
        current = self.helm.release(req.name, req.namespace)
        if current:
            # secrets of the deployed revision (maybe rotated since) never show in the output either
            self.add_secrets(values_secret_values(current.get("config")))
            if (current.get("info") or {}).get("status") in PENDING_STATES:
                current = self._wait_other_operation(current, result)
            if current and (current.get("info") or {}).get("status") in PENDING_STATES:
                current = self._recover_pending(current, result)
        tmpdir = tempfile.mkdtemp(prefix="portkey-release-")
        try:
            files = []
            if vr is not None:
                files.append(self._write_values(tmpdir, normalise(vr.values)))
            files += req.values_files
            rendered = None
            if current is not None or req.check_mode or req.diff:
                rendered = self.helm.template(req.name, req.namespace, chart["path"], files,
                                              is_upgrade=current is not None)
            desired = dict(chart_name=chart["chart_name"], chart_version=chart["chart_version"],
                           values=desired_values, manifest=rendered)
            reasons = compare(current, desired)
            secret_reasons = [change["reason"] for change in secret_plan["changes"]]
            result["reasons"] = secret_reasons + reasons
            result["changed"] = result["changed"] or bool(reasons) or bool(secret_plan["changes"] or
                                                                           secret_plan["stale"])
            if req.check_mode or req.diff:
                result["diff"] = self._diff(current, desired_values, rendered, secret_paths)
                result["diff"] += secret_diffs(secret_plan)
            deployed = current
            if not req.check_mode:
                self._write_secrets(secret_plan)
                if reasons:
                    try:
                        deployed = self._upgrade(chart, files)
                    except PortkeyError:
                        self._restore_secrets(secret_plan)
                        raise
                self._delete_stale_secrets(secret_plan)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        result["release"] = release_info(deployed, req.name, req.namespace)
        if deployed:
            result["objects"] = objects_from_manifest(deployed.get("manifest"), req.namespace)
        elif req.check_mode and rendered is not None:
            result["objects"] = objects_from_manifest(rendered, req.namespace)
        return result

    def _referenced_secret_checksum(self, plan):
        """sha256 of the existing / ExternalSecret-made Secret's data; errors name the portkey_secrets variable."""
        req = self.req
        secret = self.kube_secrets.get(plan["name"], req.namespace)
        if secret is None:
            if plan["mode"] == "external":
                raise PortkeyError("portkey_secrets: the Secret %s does not exist in namespace %s: the External Secrets "
                                   "Operator has not synced the ExternalSecret %s (store %s) yet; check the "
                                   "ExternalSecret's status, then rerun"
                                   % (plan["name"], req.namespace, plan["name"], plan["external"].get("store")))
            raise PortkeyError("portkey_secrets.name: the Secret %s does not exist in namespace %s; create it with "
                               "the keys %s (portkey_secrets.keys) before deploying"
                               % (plan["name"], req.namespace, ", ".join(plan["keys"])))
        data = secret.get("data") or {}
        self.add_secrets(decoded_data(secret).values())
        missing = [k for k in plan["keys"] if k not in data]
        if missing:
            raise PortkeyError("portkey_secrets.keys: the Secret %s in namespace %s has no key %s; add it to the "
                               "Secret or remove it from portkey_secrets.keys"
                               % (plan["name"], req.namespace, ", ".join(missing)))
        return data_checksum(dict((k, data[k]) for k in plan["keys"]))

    def _secret_changes(self, plan, generation):
        """The owned Secrets to create / replace (with their current state) and the stale owned ones to delete."""
        req = self.req
        found = {"changes": [], "stale": [], "unchanged": []}
        if not plan or (plan.get("mode") == "values" and generation != "1.7"):
            return found  # chart 1.0.x: no owned Secrets, no Secrets API call
        desired = owned_secrets(plan, req.namespace, req.name)
        for obj in desired:
            self.add_secrets(decoded_data(obj).values())
        existing = dict((s["metadata"]["name"], s) for s in self.kube_secrets.owned(req.namespace, req.name))
        for obj in desired:
            name = obj["metadata"]["name"]
            current = existing.pop(name, None) or self.kube_secrets.get(name, req.namespace)
            if current is not None:
                self.add_secrets(decoded_data(current).values())
            keys, meta_changed = secret_changes(current, obj)
            if current is None:
                reason = "Secret %s is created (keys %s)" % (name, ", ".join(sorted(obj["data"])))
            elif keys or meta_changed:
                reason = "Secret %s changes (keys %s)" % (name, ", ".join(keys) or "none; type or labels")
            else:
                found["unchanged"].append(obj)
                continue
            found["changes"].append(dict(current=current, desired=obj, reason=reason))
        found["stale"] = list(existing.values())
        return found

    def _write_secrets(self, secret_plan):
        if secret_plan["changes"]:
            if self.req.create_namespace:
                self.kube_secrets.ensure_namespace(self.req.namespace)
            for change in secret_plan["changes"]:
                self.kube_secrets.put(change["current"], change["desired"])

    def _restore_secrets(self, secret_plan):
        """After a failed upgrade the previous revision stays deployed: give it back its Secrets' content."""
        for change in secret_plan["changes"]:
            name = change["desired"]["metadata"]["name"]
            latest = self.kube_secrets.get(name, self.req.namespace)
            if change["current"] is not None and latest is not None:
                self.kube_secrets.put(latest, dict(change["current"], metadata=dict(
                    change["current"]["metadata"], namespace=self.req.namespace)))

    def _delete_stale_secrets(self, secret_plan):
        for secret in secret_plan["stale"]:
            self.kube_secrets.delete(secret["metadata"]["name"], self.req.namespace)

    def _upgrade(self, chart, files):
        req = self.req
        try:
            return self.helm.upgrade(req.name, req.namespace, chart["path"], files, atomic=req.atomic,
                                     history_max=req.history_max, create_namespace=req.create_namespace,
                                     skip_crds=req.skip_crds, **self._wait_kwargs())
        except HelmError as exc:
            raise self._failure("upgrade", exc)

    def _failure(self, verb, exc):
        req = self.req
        unreachable = None
        try:
            after = self.helm.release(req.name, req.namespace)
        except PortkeyError as read_exc:
            after, unreachable = None, str(read_exc)
        helm_msg = error_text(exc.stderr) or (exc.stdout or str(exc)).strip()
        if unreachable:
            info = release_info(None, req.name, req.namespace)
            state = ("the state of release %s is unknown (reading it back failed too: the cluster may be unreachable); "
                     "rerun when the cluster answers" % req.name)
        elif after:
            info = release_info(after)
            state = ("release %s is at revision %s, status %s, chart %s-%s" % (
                req.name, info["revision"], info["status"], info["chart"], info["chart_version"]))
            if info["status"] == "deployed":
                state += " (the previous configuration is still deployed)"
        else:
            info = release_info(None, req.name, req.namespace)
            state = "release %s is not installed in namespace %s" % (req.name, req.namespace)
        msg = "helm %s of release %s in namespace %s failed: %s; %s" % (
            verb, req.name, req.namespace, helm_msg, state)
        if is_concurrent_operation(helm_msg):
            msg += ("; another operation on this release is in progress (a concurrent run): this run changed "
                    "nothing, rerun when it has finished")
        return PortkeyError(redact(msg, self.secrets), release=info,
                            objects=objects_from_manifest(after.get("manifest"), req.namespace) if after else [])

    def _diff(self, current, desired_values, rendered, secret_paths):
        """[values diff, manifest diff]; secrets redacted (Secret data by key, known secrets anywhere)."""
        before_values = redact_values((current or {}).get("config") or {}, self.secrets, secret_paths)
        after_values = redact_values(desired_values, self.secrets, secret_paths)
        before_docs = redact_docs(canonical_docs(release_docs((current or {}).get("manifest"))), self.secrets)
        after_docs = redact_docs(canonical_docs(release_docs(rendered)), self.secrets)
        rev = (current or {}).get("version")
        where = "revision %s" % rev if rev else "not installed"
        return [
            dict(before_header="values (%s)" % where, after_header="values (desired)",
                 before=yaml.safe_dump(before_values, default_flow_style=False, sort_keys=True) if current else "",
                 after=yaml.safe_dump(after_values, default_flow_style=False, sort_keys=True)),
            dict(before_header="manifest (%s)" % where, after_header="manifest (desired)",
                 before=docs_text(before_docs), after=docs_text(after_docs)),
        ]

    # -- absent ------------------------------------------------------------------------------------------------
    def absent(self):
        req = self.req
        result = _empty_result(req)
        current = self.helm.release(req.name, req.namespace)
        owned = self.kube_secrets.owned(req.namespace, req.name) if self._kube_secrets_factory else []
        if owned:
            result["changed"] = True
            result["reasons"] = ["Secret %s is deleted" % s["metadata"]["name"] for s in owned]
        if not current:
            result["release"]["status"] = "absent"
            self._delete_stale_secrets(dict(stale=[] if req.check_mode else owned))
            return result
        self.add_secrets(values_secret_values(current.get("config")))
        result["changed"] = True
        result["objects"] = objects_from_manifest(current.get("manifest"), req.namespace)
        info = release_info(current)
        if req.diff or req.check_mode:
            result["diff"] = self._diff(current, {}, "", [])
            result["diff"][0]["after"] = ""
        if not req.check_mode:
            try:
                self.helm.uninstall(req.name, req.namespace, **self._wait_kwargs())
            except HelmError as exc:
                raise self._failure("uninstall", exc)
            info["status"] = "uninstalled"
            self._delete_stale_secrets(dict(stale=owned))
        result["release"] = info
        return result

    # -- rollback ----------------------------------------------------------------------------------------------
    def rollback(self):
        req = self.req
        result = _empty_result(req)
        current = self.helm.release(req.name, req.namespace)
        if not current:
            raise PortkeyError("release %s is not installed in namespace %s: nothing to roll back"
                               % (req.name, req.namespace), release=result["release"])
        self.add_secrets(values_secret_values(current.get("config")))
        target_rev = req.revision or int(current.get("version")) - 1
        if target_rev < 1:
            raise PortkeyError("release %s has only revision %s: there is no previous revision to roll back to"
                               % (req.name, current.get("version")), release=release_info(current))
        target = self.helm.release(req.name, req.namespace, revision=target_rev)
        if not target:
            raise PortkeyError("revision %s of release %s does not exist (helm history keeps %s revisions; "
                               "see `helm history %s -n %s`)"
                               % (target_rev, req.name, req.history_max, req.name, req.namespace),
                               release=release_info(current))
        self.add_secrets(values_secret_values(target.get("config")))
        self._record_values = target.get("config") or {}
        meta = (target.get("chart") or {}).get("metadata") or {}
        desired = dict(chart_name=meta.get("name"), chart_version=meta.get("version"),
                       values=target.get("config") or {}, manifest=target.get("manifest"))
        reasons = compare(current, desired)
        result["reasons"] = reasons
        result["changed"] = bool(reasons)
        if req.diff or req.check_mode:
            result["diff"] = self._diff(current, desired["values"], desired["manifest"], [])
        deployed = current
        if reasons and not req.check_mode:
            try:
                self.helm.rollback(req.name, req.namespace, revision=target_rev, history_max=req.history_max,
                                   **self._wait_kwargs())
            except HelmError as exc:
                raise self._failure("rollback", exc)
            deployed = self.helm.release(req.name, req.namespace)
        result["release"] = release_info(deployed, req.name, req.namespace)
        result["objects"] = objects_from_manifest((deployed or {}).get("manifest"), req.namespace)
        return result
