# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway's environment rules on their own: a minimal build that records errors and warnings."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _env_rules


class Build(object):
    def __init__(self, generation="1.7", **inputs):
        self.generation = generation
        self.inputs = inputs
        self.errors, self.warnings, self.bad, self.env_origin, self.from_secret = [], [], set(), {}, ()

    def get(self, name, default=None):
        return self.inputs.get(name, default)

    def error(self, var, problem):
        self.errors.append("%s: %s" % (var, problem))

    def invalid(self, var, problem):
        self.bad.add(var)
        self.error(var, problem)

    def env_var(self, key):
        return self.env_origin.get(key, "portkey_environment.%s" % key)


def test_read_environment_stringifies_and_names_the_source():
    build = Build(environment={"A": True, "B": 1}, extra_values={"environment": {"data": {"C": "x"}}})
    env = _env_rules.read_environment(build)
    assert env == {"A": "true", "B": "1", "C": "x"}
    assert build.env_var("C") == "portkey_extra_values.environment.data.C"
    bad = Build(environment={"1X": "a", "Y": ["secret-list"]})
    assert _env_rules.read_environment(bad) == {}
    assert len(bad.errors) == 2 and "secret-list" not in "".join(bad.errors)


def test_rules_apply_defaults_and_store_requirements():
    build = Build()
    env = {"LOG_STORE": "s3_assume", "LOG_STORE_ACCESS_KEY": "k", "OTEL_PUSH_ENABLED": "yes", "PORT": "8080"}
    _env_rules.apply_env_rules(build, env)
    assert env["CACHE_STORE"] == "redis" and env["REDIS_URL"] == _env_rules.IN_CLUSTER_REDIS_URL
    assert env["OTEL_PUSH_ENABLED"] == "true"
    text = "\n".join(build.errors)
    assert "portkey_environment.LOG_STORE_REGION: is required with LOG_STORE s3_assume" in text
    assert "portkey_environment.LOG_STORE_ACCESS_KEY: must not be set with LOG_STORE s3_assume" in text
    assert any("OTEL_ENDPOINT is not set" in w for w in build.warnings)


def test_chart_10_keeps_port_8787():
    build = Build(generation="1.0")
    _env_rules.apply_env_rules(build, {"PORT": "8080"})
    assert any(e.startswith("portkey_environment.PORT: chart 1.0.x probes") for e in build.errors)
    ok = Build(generation="1.0")
    _env_rules.apply_env_rules(ok, {"PORT": "8787"})
    assert ok.errors == []


def test_unknown_variables_are_warned_about():
    build = Build()
    _env_rules.apply_env_rules(build, {"PROMETHEUS_X": "1", "TYPO_VAR": "1"})
    assert [w for w in build.warnings if "not a known" in w] == \
        ["portkey_environment.TYPO_VAR is not a known Portkey gateway variable (kept as is); check the spelling"]
