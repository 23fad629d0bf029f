#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cache_check
short_description: Check that the gateway's external Redis answers PING
version_added: 0.1.0
description:
  - When the gateway is configured for an external Redis (C(CACHE_STORE) other than V(redis) and a
    C(REDIS_URL)), connects from the controller, with TLS when C(REDIS_TLS_ENABLED) is V("true"),
    authenticates when the server asks for it, and sends C(PING).
  - "Diagnoses a TLS mismatch. A server that resets or closes a plain connection but completes a TLS handshake
    fails the check with the message C(the server speaks TLS: set REDIS_TLS_ENABLED to \"true\" ...). A server that
    answers plain RESP while TLS was asked for fails with the opposite advice."
  - The password is sent only after the server has answered PING in the expected protocol. The password and
    the URL are never printed.
  - Read-only; never reports changed. Uses only the Python standard library.
author:
  - portkey_ai.gateway maintainers (@portkey-ai)
options:
  cache_store:
    description:
      - The gateway's C(CACHE_STORE). V(redis) (the in-cluster Redis of the chart) skips the check.
      - When omitted, the check runs if O(redis_url) is given and is skipped otherwise.
    type: str
  redis_url:
    description:
      - The gateway's C(REDIS_URL), C(redis[s]://[user[:password]@]host[:port]).
      - Required when O(cache_store) is given and is not V(redis).
    type: str
  tls_enabled:
    description:
      - The gateway's C(REDIS_TLS_ENABLED); V("true") / V(true) means TLS. A C(rediss://) URL also means TLS.
    type: raw
    default: "false"
  ca_file:
    description: CA bundle to verify the server certificate. Defaults to the system trust store.
    type: path
  tls_check_hostname:
    description: Verify that the certificate names the host of O(redis_url).
    type: bool
    default: true
  password:
    description: Password, when not in O(redis_url).
    type: str
  username:
    description: ACL user name, when not in O(redis_url).
    type: str
  connect_timeout:
    description: Seconds for connecting and for each reply.
    type: float
    default: 5
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - portkey_ai.gateway.attributes.read_only
notes:
  - The check runs where the task runs (usually the controller), so it proves the URL, TLS setting and password,
    and reachability from there; reachability from the pods also depends on security groups and network policy.
"""

EXAMPLES = r"""
- name: Check the external Redis before changing the release
  portkey_ai.gateway.cache_check:
    cache_store: "{{ portkey_environment.CACHE_STORE | default('redis') }}"
    redis_url: "{{ portkey_environment.REDIS_URL | default(omit) }}"
    tls_enabled: "{{ portkey_environment.REDIS_TLS_ENABLED | default('false') }}"
    ca_file: /etc/ssl/certs/elasticache-ca.pem
  no_log: false   # the module hides the password and URL itself
"""

RETURN = r"""
cache:
  description: What was checked.
  returned: always
  type: dict
  contains:
    checked: {description: false when CACHE_STORE is redis or no REDIS_URL was given (nothing to check), type: bool}
    store: {description: CACHE_STORE, type: str, sample: aws-elastic-cache}
    host: {description: Redis host, type: str}
    port: {description: Redis port, type: int, sample: 6379}
    tls: {description: Whether TLS was used, type: bool}
    response: {description: The answer to PING, type: str, sample: PONG}
    latency_ms: {description: Connect + PING time, type: int}
    reason: {description: Why nothing was checked, type: str}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.portkey_ai.gateway.plugins.module_utils import _cache


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cache_store=dict(type="str"),
            redis_url=dict(type="str", no_log=True),
            tls_enabled=dict(type="raw", default="false"),
            ca_file=dict(type="path"),
            tls_check_hostname=dict(type="bool", default=True),
            password=dict(type="str", no_log=True),
            username=dict(type="str"),
            connect_timeout=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for secret in _cache.secrets_of(p["redis_url"]) + ([p["password"]] if p["password"] else []):
        module.no_log_values.add(secret)
    try:
        cache = _cache.check_cache(p["cache_store"], p["redis_url"], tls_enabled=p["tls_enabled"],
                                   ca_file=p["ca_file"], password=p["password"], username=p["username"],
                                   timeout=p["connect_timeout"], check_hostname=p["tls_check_hostname"])
    except _cache.CacheError as exc:
        module.fail_json(msg="Redis check failed: %s" % exc, cache=dict(checked=False, store=p["cache_store"]))
    msg = "Redis answered %s" % cache["response"] if cache["checked"] else cache["reason"]
    module.exit_json(changed=False, cache=cache, msg=msg)


if __name__ == "__main__":
    main()
