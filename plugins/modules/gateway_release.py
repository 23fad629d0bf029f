#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_release
short_description: Install, upgrade, uninstall or roll back the Portkey gateway Helm release
version_added: "0.1.0"
description:
  - Manages ONE Helm release of the Portkey gateway chart (default C(portkey-gateway) in namespace C(portkeyai)) with
    the helm CLI (helm 3.8+ or helm 4).
  - O(values_spec) holds the inputs of the values builder (the options of M(portkey_ai.gateway.gateway_values)); the
    values are rendered in-process and written to a 0600 file inside a private temporary directory that is removed
    before the module returns, so no values file with secrets is left behind.
  - Change detection compares the deployed release (C(helm status -o json) - status, chart name and version, user
    values and manifest in one call) with what would be deployed now (C(helm template) with the same release name,
    namespace and values, hooks left out). A template change at the same chart version is therefore seen. A run with
    nothing to change runs two helm processes (status, template) and no C(helm upgrade).
  - Every secret value (found by the values builder and in the deployed release's values) is added to the module's
    C(no_log_values) before anything else, so it never appears in the output. In the diff, the C(data) and
    C(stringData) values of Secrets and any known secret are shown as C(<redacted sha256:XXXXXXXX>).
  - Chart 1.7.x keeps the secrets out of the values (O(values_spec) C(secrets), docs/secrets.md). In mode C(owned) the
    module creates or replaces the collection's Secrets (C(<fullname>-env), C(<fullname>-registry), labelled
    C(portkey.ai/release=<release_name>)) through the Kubernetes API before C(helm upgrade), only when their content
    differs; the diff lists them key by key as C(<redacted sha256:XXXXXXXX>); after a failed upgrade they get their
    previous content back; owned Secrets no longer wanted are deleted after the upgrade, all of them on uninstall.
    In modes C(existing) and C(external) it reads the referenced Secret and puts a checksum of its content into the
    pod annotation C(portkey.ai/secret-checksum), so a rotated secret rolls the pods.
  - On chart 1.0.x the secrets stay in the values (the chart cannot reference a Secret); the module warns once.
author:
  - portkey_ai.gateway maintainers (@portkey-ai)
options:
  release_name:
    description: Helm release name. Use one name for install, verify, port-forward and uninstall.
    type: str
    default: portkey-gateway
  namespace:
    description: Namespace of the release (created when missing and O(create_namespace=true)).
    type: str
    default: portkeyai
  chart_path:
    description: Chart directory (RV(portkey_ai.gateway.chart_source#module:path)). Required for O(state=present).
    type: path
  values_spec:
    description:
      - The inputs of the values builder, named like the inventory variables without C(portkey_)
        (C(client_auth), C(organisations_to_sync), C(environment), C(image), C(service), C(extra_values), ...).
      - C(release_name) and C(namespace) default to O(release_name) and O(namespace) and must match them.
      - C(generation) defaults to C(auto) (from the chart's C(Chart.yaml)).
      - The option is marked C(no_log) so that it is never written to the system log; in the module result only
        the secret values found in it are masked.
    type: dict
  values_files:
    description:
      - Extra values files, passed after the values rendered from O(values_spec), so they override them.
    type: list
    elements: path
    default: []
  state:
    description:
      - C(present) installs or upgrades (C(helm upgrade --install)).
      - C(absent) uninstalls; nothing happens when the release does not exist.
      - C(rollback) rolls back to O(revision) (default the previous revision). Nothing happens when the current
        revision already has the target revision's chart, values and manifest.
    type: str
    choices: [present, absent, rollback]
    default: present
  revision:
    description: Target revision for O(state=rollback); default the revision before the current one.
    type: int
  atomic:
    description:
      - Roll back automatically when the upgrade fails (helm 3 C(--atomic), helm 4 C(--rollback-on-failure)).
        Implies waiting.
    type: bool
    default: true
  wait:
    description: Wait until the release's resources are ready (upgrade, rollback) or deleted (uninstall).
    type: bool
    default: true
  wait_strategy:
    description: helm 4 only, the C(--wait) strategy (C(watcher) uses watches and kstatus, C(legacy) polls).
    type: str
    choices: [watcher, legacy]
    default: watcher
  timeout:
    description: helm C(--timeout) (a Go duration such as C(5m) or C(90s)).
    type: str
    default: 5m
  history_max:
    description: helm C(--history-max) (revisions kept per release; 0 keeps all).
    type: int
    default: 10
  create_namespace:
    description: Create O(namespace) when missing (C(--create-namespace)).
    type: bool
    default: true
  recover_pending:
    description:
      - What to do when the release is stuck in C(pending-install), C(pending-upgrade) or C(pending-rollback)
        (an earlier helm run was interrupted).
      - C(none) fails with a message naming this option.
      - C(rollback) rolls back to the last deployed revision, or uninstalls a pending install that has none, then
        proceeds.
    type: str
    choices: [none, rollback]
    default: none
  skip_crds:
    description: Do not install the chart's CRDs (C(--skip-crds)).
    type: bool
    default: false
  record_dir:
    description:
      - When set, every run that is not in check mode writes an audit record
        C(<record_dir>/<record_name>-<UTC timestamp>.json) (mode 0600; the folder is created with mode 0700)
        holding the release name, namespace, revision, status, chart, chart version, app version, the values
        checksum and the values with every secret redacted. A failed run writes a record with C(failed=true) and
        the (redacted) error.
      - A record is an audit log, not a change; it never makes the module report C(changed).
    type: path
  record_name:
    description:
      - First part of the record's file name (for example the inventory host, so that one folder can hold the
        records of many clusters). Characters other than letters, digits, C(.), C(_) and C(-) become C(_).
      - Defaults to O(release_name).
    type: str
extends_documentation_fragment:
  - portkey_ai.gateway.attributes.helm
  - portkey_ai.gateway.k8s_auth
  - portkey_ai.gateway.k8s_auth.validate_certs
attributes:
  check_mode:
    description: Can run in check mode and return changed status and the diff without touching the cluster.
    support: full
    details:
      - Check mode only reads from the cluster (C(helm status), C(helm history)) and renders client side
        (C(helm template)); it returns the diff.
  diff_mode:
    description: Returns the values and manifest diff (secrets redacted).
    support: full
notes:
  - helm runs as a child of the module, which forwards C(SIGINT), C(SIGTERM) and C(SIGHUP) to it and sends it
    C(SIGTERM) when the playbook that started the module is gone (Ansible runs each task in its own session); an
    interrupted atomic upgrade is rolled back by helm and the module fails saying the run was interrupted.
  - Failure messages carry helm's C(Error:) lines; helm's client log lines (C(I1201 ...)) are dropped.
  - Warnings of the values builder and of the pending-state recovery are emitted as Ansible warnings (the standard
    C(warnings) key of the result). The chart 1.0.x secrets warning is returned as RV(secrets_warning) instead, so
    that the summary of C(site.yml) (which lists it) says it once per cluster and run.
  - helm runs as argv lists with C(LC_ALL=C); its version (C(helm version)) is asked only when an upgrade, rollback
    or uninstall is needed, to choose the helm 3 or helm 4 flags.
  - Change detection renders with C(helm template), which cannot see the cluster; a chart whose output depends on
    C(lookup) or on the cluster's capabilities may be reported changed on every run.
"""

EXAMPLES = r"""
- name: Deploy the gateway
  portkey_ai.gateway.gateway_release:
    release_name: portkey-gateway
    namespace: portkeyai
    chart_path: "{{ chart.path }}"
    values_spec:
      client_auth: "{{ vault_portkey_client_auth }}"
      organisations_to_sync: "{{ portkey_organisations_to_sync }}"
      environment: "{{ portkey_environment }}"
    timeout: 5m

- name: Deploy with helm 4
  portkey_ai.gateway.gateway_release:
    chart_path: "{{ chart.path }}"
    values_spec: "{{ gateway_values_spec }}"
    helm_binary: helm4

- name: Roll back to the previous revision
  portkey_ai.gateway.gateway_release:
    state: rollback

- name: Uninstall (idempotent)
  portkey_ai.gateway.gateway_release:
    state: absent
"""

RETURN = r"""
release:
  description: The release after the run (fields are null when it is not installed).
  returned: always
  type: dict
  contains:
    name: {description: Release name., type: str, sample: portkey-gateway}
    namespace: {description: Namespace., type: str, sample: portkeyai}
    revision: {description: Current revision., type: int, sample: 3}
    status:
      description: helm status (C(deployed), C(failed), C(pending-upgrade)...); C(uninstalled) after an uninstall,
        C(absent) when there was nothing to uninstall.
      type: str
      sample: deployed
    chart: {description: Chart name., type: str, sample: gateway}
    chart_version: {description: Chart version., type: str, sample: 1.0.8}
    app_version: {description: Chart appVersion., type: str, sample: 1.11.4}
    updated: {description: Time of the last deploy (helm C(last_deployed))., type: str}
objects:
  description: The objects of the deployed manifest (parsed from it, never guessed from names).
  returned: always
  type: list
  elements: dict
  sample: [{api_version: apps/v1, kind: Deployment, name: portkey-gateway, namespace: portkeyai}]
values_checksum:
  description: sha256 of the rendered values (null without O(values_spec)).
  returned: always
  type: str
env_checksum:
  description: sha256 of the gateway environment (null without O(values_spec)).
  returned: always
  type: str
generation:
  description: Chart generation the values were built for (C(1.0) or C(1.7); null without O(values_spec)).
  returned: always
  type: str
reasons:
  description: Why the release is (or would be) changed; empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample: [rendered manifest differs]
secrets_warning:
  description:
    - With chart 1.0.x and every secret in the chart values (the only mode it has), the warning that the secrets stay
      in every Helm release record; null otherwise. Not emitted as an Ansible warning; the summary of C(site.yml)
      shows it.
  returned: always
  type: str
helm_commands:
  description: The helm command lines run (argv lists; no secrets, values travel in a removed file).
  returned: always
  type: list
  elements: list
record:
  description: Path of the audit record written for this run (null without O(record_dir) and in check mode).
  returned: always
  type: str
  sample: /var/lib/portkey/records/prod-eu-west-1-20250101T120000.123456Z.json
diff:
  description: Values and manifest before/after, secrets redacted.
  returned: in check mode or with --diff
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError, exit_or_fail, require_yaml
from ansible_collections.portkey_ai.gateway.plugins.module_utils._k8s_auth import K8sAuth, k8s_auth_spec


def _leaf_strings(obj):
    """The strings AnsibleModule adds to no_log_values for a no_log dict option."""
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple, set)):
        for value in obj:
            yield from _leaf_strings(value)
    elif isinstance(obj, bool) or obj is None:
        return
    else:
        yield str(obj)


def manage_release(module):
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import Helm, run_interruptible
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._release import ReleaseManager, ReleaseRequest
    from ansible_collections.portkey_ai.gateway.plugins.module_utils._secrets import KubeSecrets

    p = module.params
    spec = p["values_spec"]
    if spec is not None:
        # values_spec is no_log (kept out of the system log); mask only what really is secret in the result:
        # the values builder's secret values are added by ReleaseManager before anything is returned.
        module.no_log_values.difference_update(set(_leaf_strings(spec)))
        spec = dict(spec)
        for key in ("release_name", "namespace"):
            if spec.setdefault(key, p[key]) != p[key]:
                raise PortkeyError("values_spec.%s (%s) differs from %s (%s): the release and its values must use "
                                   "the same %s" % (key, spec[key], key, p[key], key))
    req = ReleaseRequest(
        name=p["release_name"], namespace=p["namespace"], chart_path=p["chart_path"], values_spec=spec,
        values_files=p["values_files"], state=p["state"], revision=p["revision"], atomic=p["atomic"],
        wait=p["wait"], wait_strategy=p["wait_strategy"], timeout=p["timeout"], history_max=p["history_max"],
        create_namespace=p["create_namespace"], recover_pending=p["recover_pending"], skip_crds=p["skip_crds"],
        check_mode=module.check_mode, diff=module._diff, record_dir=p["record_dir"], record_name=p["record_name"],
    )
    # host + api_key (K8S_AUTH_HOST / K8S_AUTH_API_KEY): helm reads them from a private 0600 kubeconfig that
    # exists only while helm runs; the token is never in argv (helm_commands) nor in the output (no_log).
    auth = K8sAuth.from_params(p)
    with auth.helm_connection() as conn:
        # helm runs under this module (signals forwarded; stopped when the playbook is gone): see run_interruptible
        helm = Helm(run_interruptible, p["helm_binary"], kubeconfig=conn["kubeconfig"], context=conn["context"],
                    env=conn["env"], global_args=conn["global_args"])
        manager = ReleaseManager(helm, req, add_secrets=module.no_log_values.update,
                                 kube_secrets=lambda: KubeSecrets(auth))
        try:
            result = manager.run()
        except PortkeyError as exc:
            exc.details.setdefault("helm_commands", helm.calls)
            raise
    for warning in result.pop("warnings"):
        module.warn(warning)
    result["helm_commands"] = helm.calls
    return result


def main():
    spec = dict(
        release_name=dict(type="str", default="portkey-gateway"),
        namespace=dict(type="str", default="portkeyai"),
        chart_path=dict(type="path"),
        values_spec=dict(type="dict", no_log=True),
        values_files=dict(type="list", elements="path", default=[]),
        state=dict(type="str", default="present", choices=["present", "absent", "rollback"]),
        revision=dict(type="int"),
        atomic=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_strategy=dict(type="str", default="watcher", choices=["watcher", "legacy"]),
        timeout=dict(type="str", default="5m"),
        history_max=dict(type="int", default=10),
        create_namespace=dict(type="bool", default=True),
        recover_pending=dict(type="str", default="none", choices=["none", "rollback"]),
        skip_crds=dict(type="bool", default=False),
        record_dir=dict(type="path"),
        record_name=dict(type="str"),
        helm_binary=dict(type="str", default="helm"),
    )
    spec.update(k8s_auth_spec())
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        required_if=[("state", "present", ("chart_path",))],
    )
    require_yaml(module)
    exit_or_fail(module, manage_release)


if __name__ == "__main__":
    main()
