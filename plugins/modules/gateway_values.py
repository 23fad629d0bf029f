#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_values
short_description: Build the Portkey gateway Helm values from inventory inputs
version_added: 0.1.0
description:
  - Builds the values document of the Portkey gateway chart (C(gateway) 1.0.x from Portkey-AI/helm-chart, or
    1.7.x from Portkey-AI/helm) from structured inputs named like the C(portkey_*) inventory variables.
  - Validates every input and reports B(all) problems at once, each naming the inventory variable
    (for example C(portkey_environment.LOG_STORE_REGION)) and the fix. Nothing is written when any input is wrong.
  - Every C(environment.data) value is rendered as a string. Unknown environment keys are kept and warned about.
  - Pods get the annotation C(portkey.ai/env-checksum) (sha256 of the environment only), so they restart when,
    and only when, the environment changes. The chart's random C(autoRestart) is always disabled.
  - Secrets (C(client_auth), image pull password, secret environment keys such as C(LOG_STORE_SECRET_KEY),
    C(*PASSWORD*), C(*_KEY), and credentials inside URLs) are added to the module's no_log values before anything
    is printed and appear in C(values) and C(diff) only as C(<redacted sha256:XXXXXXXX>), the first 8 hex digits
    of the secret's sha256 (a 32-bit prefix - enough to see that a secret changed, not enough to recover a
    high-entropy secret).
  - With O(dest), writes the values atomically to a file with mode 0600 in a directory that only its owner can
    write (a missing parent is created with mode 0700).
  - The builder is shared with P(portkey_ai.gateway.gateway_release#module) (its C(values_spec) takes the same inputs).
  - Warnings are emitted as Ansible warnings (the standard C(warnings) key of the result).
author:
  - portkey_ai.gateway maintainers (@portkey-ai)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details: Builds, validates and diffs; does not write O(dest).
  diff_mode:
    support: full
    details: Before/after YAML text of O(dest), secrets redacted.
options:
  chart_path:
    description:
      - Chart directory (or its C(Chart.yaml)); its C(name) and C(version) select the generation and the object names.
      - Required when O(generation=auto).
    type: path
  generation:
    description:
      - Chart generation. V(auto) detects it from C(Chart.yaml) (version 1.0.x or 0.x is V(1.0), 1.1 and later V(1.7)).
      - Inventory variable C(portkey_chart_generation).
    type: str
    choices: [auto, "1.0", "1.7"]
    default: auto
  release_name:
    description: Helm release name; with the chart name it gives the object names (Helm fullname rule).
    type: str
    default: portkey-gateway
  namespace:
    description: Namespace of the release (used in the IRSA trust hint).
    type: str
    default: portkeyai
  client_auth:
    description:
      - PORTKEY_CLIENT_AUTH, the Client Auth Key from Portkey. Required here or in O(environment) (not both with
        different values).
    type: raw
  organisations_to_sync:
    description: ORGANISATIONS_TO_SYNC, a string or a list of organisation ids (joined with commas). Required here or in O(environment).
    type: raw
  environment:
    description:
      - The gateway environment (C(environment.data)), keys as in Portkey's docs (C(LOG_STORE), C(CACHE_STORE),
        C(REDIS_URL), ...). Booleans become V(true)/V(false), numbers decimal strings.
      - Defaults C(ANALYTICS_STORE=control_plane) and C(CACHE_STORE=redis) (in-cluster Redis with
        C(REDIS_URL=redis://redis:6379), C(REDIS_TLS_ENABLED=false)).
    type: raw
  environment_secret:
    description: Store the environment in a Secret (V(true), default) or in a ConfigMap (not allowed on 1.0.x).
    type: raw
  secrets:
    description:
      - Where the secrets live (chart 1.7.x), a dict; see docs/secrets.md. C(mode) - V(owned) (1.7.x default - the
        secret environment keys and the registry credentials go to Secrets the collection owns, C(<fullname>-env) and
        C(<fullname>-registry), and the values only name them through C(environment.existingSecret),
        C(environment.secretKeys) and C(imagePullSecrets)), V(existing) (your Secret - C(name), C(keys)),
        V(external) (a Secret made by the External Secrets Operator - C(name), C(store), C(store_kind),
        C(remote_key), C(keys), C(refresh_interval)) or V(values) (secrets in the values, the only mode of 1.0.x).
      - C(pull_secret_name) names the owned pull Secret; C(wait_timeout) is read by the gateway role.
      - V(false) for O(environment_secret) makes V(values) the default.
    type: raw
  secret_checksum:
    description:
      - sha256 of the data of the referenced Secret (modes V(existing) and V(external)); it becomes the pod
        annotation C(portkey.ai/secret-checksum). M(portkey_ai.gateway.gateway_release) reads the Secret and sets it.
    type: raw
  image:
    description: "C({repository, tag, pull_policy}) of the gateway image. A given tag must be pinned (not empty, not V(latest))."
    type: raw
  image_credentials:
    description:
      - Registry credentials; the chart creates the pull secret (C(imageCredentials) list item with C(create=true)).
      - Mutually exclusive with O(image_pull_secret).
    type: dict
    suboptions:
      username:
        description: Registry user.
        type: raw
      password:
        description: Registry password or token.
        type: raw
      auth:
        description: A ready C(auth) token (base64 of C(user:password)) instead of username/password.
        type: raw
      email:
        description: E-mail of the registry account.
        type: raw
      registry:
        description: Registry URL, default C(https://index.docker.io/v1/).
        type: raw
      name:
        description: Name of the pull secret, default C(portkeyenterpriseregistrycredentials).
        type: raw
  image_pull_secret:
    description:
      - Name of a pre-created pull secret (1.0.x - an C(imageCredentials) item with C(create=false); 1.7.x - C(imagePullSecrets)).
    type: raw
  replicas:
    description: Gateway replicas (integer >= 1, default 1); ignored while autoscaling is enabled.
    type: raw
  service:
    description:
      - "C({type, port, annotations}); default type V(LoadBalancer), port V(8787). On 1.0.x the port must stay 8787
        (it is also the container port). There is no C(targetPort)."
    type: raw
  load_balancer:
    description:
      - "C({enabled, type=nlb, scheme, cidrs, allow_world, target_type=ip, certificate_arn, ssl_policy,
        health_check_path=/v1/health, health_check_port}): the Service as an AWS Load Balancer Controller network
        load balancer, rendered into C(service.annotations) (both generations; neither chart renders
        C(service.loadBalancerSourceRanges), so its C(cidrs) become the source-ranges annotation)."
      - Defaults are safe - internet-facing only to C(44.221.117.129/32), or internal with O(private_link).
    type: raw
  private_link:
    description:
      - "C({enabled, allowed_principals, acceptance_required, accept_connections, wait_timeout, wait_interval}) of
        the C(private_link) role; checked here. C(enabled) makes the load balancer internal (an internet-facing
        scheme is refused)."
    type: raw
  service_account:
    description:
      - "C({create, name, annotations, role_arn}); C(role_arn) becomes the IRSA annotation C(eks.amazonaws.com/role-arn).
        On 1.7.x the name defaults to the release fullname and C(create) to true."
    type: raw
  resources:
    description: "C({requests, limits}); default requests cpu 1 / memory 2Gi, limits cpu 2 / memory 4Gi. Replaces the default as a whole."
    type: raw
  autoscaling:
    description: "C({enabled, min_replicas, max_replicas, target_cpu, target_memory}) for the chart's HPA."
    type: raw
  high_availability:
    description:
      - "C({zone_spread, max_skew=1, topology_key=topology.kubernetes.io/zone, when_unsatisfiable=ScheduleAnyway, pdb}).
        C(zone_spread) renders C(topologySpreadConstraints) on 1.7.x and a preferred C(podAntiAffinity) on 1.0.x,
        selecting the gateway pods only. C(pdb) is accepted for the gateway role and not a chart value."
    type: raw
  strategy:
    description: "C({max_surge, max_unavailable}) for the rolling update (1.7.x only; warned about and ignored on 1.0.x)."
    type: raw
  node_selector:
    description: Pod node selector.
    type: raw
  tolerations:
    description: Pod tolerations (list of dicts).
    type: raw
  affinity:
    description: Pod affinity; the zone anti-affinity of O(high_availability) is added to it on 1.0.x.
    type: raw
  pod_annotations:
    description: Extra pod annotations (C(portkey.ai/env-checksum) is reserved).
    type: raw
  pod_labels:
    description: Extra pod labels (the selector labels are reserved).
    type: raw
  dataservice:
    description: "C({enabled}) to deploy the Portkey dataservice."
    type: raw
  extra_values:
    description:
      - Chart values merged last (dicts merged deeply, lists replaced). The rules above still apply to the result.
    type: raw
  values_spec:
    description:
      - All the inputs above in one dict, as P(portkey_ai.gateway.gateway_release#module) takes them (the roles
        compose it once from the C(portkey_*) inventory variables).
      - When given, the individual input options are ignored; O(chart_path) and O(dest) still apply.
      - Secret values inside it are found by key and kept out of the output.
    type: dict
  dest:
    description:
      - Write the values (canonical YAML) to this file, mode 0600. Its directory must not be group/world-writable.
      - The file holds the secrets in clear text; prefer P(portkey_ai.gateway.gateway_release#module) with C(values_spec), which leaves no file behind.
    type: path
notes:
  - RV(checksum) is the sha256 of the canonical YAML including the secrets. A hash of a document that contains
    high-entropy secrets does not reveal them; it equals C(sha256sum) of O(dest).
  - Secrets inside O(environment) or O(extra_values) reach the module invocation log on the target (syslog/journal)
    unless C(no_target_syslog) is set; the collection's C(ansible.cfg) should set it.
seealso:
  - module: portkey_ai.gateway.gateway_release
  - module: portkey_ai.gateway.chart_source
"""

EXAMPLES = r"""
- name: Render the values for a 1.0.x chart checked out by chart_source
  portkey_ai.gateway.gateway_values:
    chart_path: "{{ chart.path }}"
    release_name: "{{ portkey_release_name }}"
    client_auth: "{{ vault_portkey_client_auth }}"
    organisations_to_sync: "{{ portkey_organisations_to_sync }}"
    image_credentials:
      username: portkeyenterprise
      password: "{{ vault_portkey_docker_password }}"
    environment:
      LOG_STORE: s3_assume
      LOG_STORE_REGION: us-east-1
      LOG_STORE_GENERATIONS_BUCKET: portkey-logs
      CACHE_STORE: aws-elastic-cache
      REDIS_URL: rediss://portkey.abc123.use1.cache.amazonaws.com:6379
      REDIS_TLS_ENABLED: true
    service_account:
      role_arn: arn:aws:iam::123456789012:role/portkey-gateway
    replicas: 3
    high_availability:
      zone_spread: true
  register: values

- name: Write them to a private file for review (never commit it)
  portkey_ai.gateway.gateway_values:
    generation: "1.7"
    client_auth: "{{ vault_portkey_client_auth }}"
    organisations_to_sync: org-1234
    image_pull_secret: portkey-registry
    dest: "{{ lookup('env', 'HOME') }}/.portkey/values.yaml"
  diff: true
"""

RETURN = r"""
chart_values:
  description: The values document with every secret replaced by C(<redacted sha256:XXXXXXXX>).
  returned: always
  type: dict
checksum:
  description: sha256 of the canonical YAML of the (unredacted) values; equals the sha256 of O(dest).
  returned: always
  type: str
env_checksum:
  description: sha256 of the sorted, stringified environment; also the pod annotation C(portkey.ai/env-checksum).
  returned: always
  type: str
secret_paths:
  description: Paths in the values that hold secrets.
  returned: always
  type: list
  elements: str
  sample: ["environment.data.PORTKEY_CLIENT_AUTH", "imageCredentials[0].password"]
generation:
  description: Chart generation the values were built for.
  returned: always
  type: str
  sample: "1.7"
chart_name:
  description: Chart name (from C(Chart.yaml), else C(gateway)).
  returned: always
  type: str
fullname:
  description: Name of the chart's objects (Helm fullname rule).
  returned: always
  type: str
  sample: portkey-gateway
dest:
  description: The file written, or null.
  returned: always
  type: str
diff:
  description: Before/after YAML text of O(dest), secrets redacted.
  returned: when diff mode is on
  type: dict
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import (
    PortkeyError,
    exit_or_fail,
    render_yaml,
    require_yaml,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._private_files import (
    PRIVATE_FILE_MODE,
    check_private_parent,
    read_text,
    write_private_file,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import (
    redact,
    redacted_yaml_text,
    secret_values_of,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._values import (
    DEFAULT_NAMESPACE,
    DEFAULT_RELEASE,
    GENERATIONS,
    INPUTS,
    build_values,
    read_chart,
)

LOOSE = dict(type="raw")
CREDENTIAL_OPTIONS = dict(
    username=dict(type="raw"),
    password=dict(type="raw", no_log=True),
    auth=dict(type="raw", no_log=True),
    email=dict(type="raw"),
    registry=dict(type="raw"),
    name=dict(type="raw"),
)


def argument_spec():
    spec = dict((name, dict(LOOSE)) for name in INPUTS)
    spec.update(
        chart_path=dict(type="path"),
        generation=dict(type="str", default="auto", choices=["auto"] + list(GENERATIONS)),
        release_name=dict(type="str", default=DEFAULT_RELEASE),
        namespace=dict(type="str", default=DEFAULT_NAMESPACE),
        client_auth=dict(type="raw", no_log=True),
        image_credentials=dict(type="dict", options=CREDENTIAL_OPTIONS),
        image_pull_secret=dict(type="raw", no_log=False),
        environment_secret=dict(type="raw", no_log=False),
        secrets=dict(type="raw", no_log=False),
        secret_checksum=dict(type="raw", no_log=False),
        values_spec=dict(type="dict"),
        dest=dict(type="path"),
    )
    return spec


def _needs_chmod(path):
    return os.path.exists(path) and stat.S_IMODE(os.stat(path).st_mode) != PRIVATE_FILE_MODE


def ensure_values(module):
    params = module.params
    if params["values_spec"] is not None:
        inputs = dict(params["values_spec"])
    else:
        inputs = dict((name, params[name]) for name in INPUTS)
    module.no_log_values.update(secret_values_of(inputs))  # first: before anything can be printed
    chart = read_chart(params["chart_path"]) if params["chart_path"] else None
    dest = params["dest"]
    dest_errors = check_private_parent(dest, "dest") if dest else []
    try:
        built = build_values(inputs, chart)
    except PortkeyError as exc:
        raise PortkeyError(exc.msg, errors=exc.errors + dest_errors)
    if dest_errors:
        raise PortkeyError("dest is not a private location", errors=dest_errors)
    module.no_log_values.update(built.secret_values)

    text = render_yaml(built.values)
    before = read_text(dest) if dest else None
    changed = bool(dest) and (before != text or _needs_chmod(dest))
    if changed and not module.check_mode:
        write_private_file(dest, text)

    after_redacted = render_yaml(redact(built.values, built.secret_values))
    result = dict(
        changed=changed,
        chart_values=redact(built.values, built.secret_values),
        checksum=built.checksum,
        env_checksum=built.env_checksum,
        secret_paths=built.secret_paths,
        generation=built.generation,
        chart_name=built.chart_name,
        fullname=built.fullname,
        dest=dest,
    )
    if module._diff:
        result["diff"] = dict(
            before=redacted_yaml_text(before, built.secret_values) if dest else after_redacted,
            after=after_redacted,
            before_header=dest or "values",
            after_header=dest or "values",
        )
    for warning in built.warnings:
        module.warn(warning)
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    require_yaml(module)
    exit_or_fail(module, ensure_values)


if __name__ == "__main__":
    main()
