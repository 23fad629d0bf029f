#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chart_source
short_description: Get the Portkey gateway Helm chart from git, a Helm repository or a local path
version_added: "0.1.0"
description:
  - Puts the Portkey gateway chart into a local cache folder and returns its path and metadata, so
    M(portkey_ai.gateway.gateway_release) can deploy it.
  - C(source=git) clones O(git_url) once (C(git clone --no-checkout)) and resolves O(git_ref) (a tag, a branch or a
    commit). A tag or commit already in the cache needs no network at all; a branch is fetched on every run and
    reported as a warning (a moving ref). The chart files of each commit are kept in their own folder.
  - C(source=repo) runs C(helm pull --repo URL NAME --version V --untar). No C(helm repo add), so no repository state is
    written to the home directory (helm's cache and config live in O(cache_dir)/.helm). A cached exact version needs
    no network.
  - C(source=path) uses a local chart directory as is (air-gapped installs).
  - Every source validates C(Chart.yaml) (apiVersion v2, name, version); errors name the file.
  - The module reports C(changed) only when the selected commit (git) or chart version (repo) differs from the one
    selected by the last run that was not in check mode (recorded in the cache folder as C(selected.json)).
author:
  - portkey_ai.gateway maintainers (@portkey-ai)
options:
  source:
    description: Where the chart comes from.
    type: str
    choices: [git, repo, path]
    default: git
  git_url:
    description: Git URL of the chart repository (any URL git understands, also C(file://)).
    type: str
    default: https://github.com/Portkey-AI/helm-chart
  git_ref:
    description:
      - Tag, branch or commit of O(git_url). Required for O(source=git).
      - A tag or full commit sha is a pinned ref. A branch works but moves, so the module warns.
    type: str
  git_path:
    description: Folder of the chart inside the git repository.
    type: str
    default: helm/enterprise
  repo_url:
    description: URL of the Helm repository (the folder holding C(index.yaml)).
    type: str
    default: https://portkey-ai.github.io/helm
  chart_name:
    description: Name of the chart in O(repo_url).
    type: str
    default: gateway
  chart_version:
    description: Chart version to pull from O(repo_url). Required for O(source=repo).
    type: str
  path:
    description: Local chart directory (the folder holding C(Chart.yaml)). Required for O(source=path).
    type: path
  cache_dir:
    description:
      - Cache folder (created 0700; one sub-folder per source, named from a hash of URL and path or
        repository and chart name).
      - Defaults to C($PORTKEY_CACHE_DIR), else C(<tmpdir>/portkey-ai-charts-<uid>). A home directory is never assumed.
    type: path
  helm_binary:
    description: helm binary (name on PATH or path) used for O(source=repo).
    type: str
    default: helm
  git_binary:
    description: git binary used for O(source=git).
    type: str
    default: git
attributes:
  check_mode:
    description: Can run in check mode and return the chart that would be used.
    support: full
    details:
      - Check mode may clone, fetch or pull into O(cache_dir) (a local cache, no cluster or account is touched), so
        RV(path) points at the chart that would be used; it does not record the selection, so C(changed) is the
        same in check mode and in the following real run.
  diff_mode:
    description: Does not return a diff.
    support: none
notes:
  - Runs git and helm as argv lists with C(LC_ALL=C); needs git for O(source=git).
  - Hosts that run the module in parallel share O(cache_dir); a lock file serialises them.
"""

EXAMPLES = r"""
- name: Chart from the runbook's git repository at a tag
  portkey_ai.gateway.chart_source:
    source: git
    git_url: https://github.com/Portkey-AI/helm-chart
    git_ref: v1.0.8
    git_path: helm/enterprise
  register: chart

- name: Chart from the Helm repository
  portkey_ai.gateway.chart_source:
    source: repo
    repo_url: https://portkey-ai.github.io/helm
    chart_name: gateway
    chart_version: 1.7.7

- name: Chart from a local folder (air-gapped)
  portkey_ai.gateway.chart_source:
    source: path
    path: /opt/charts/gateway
"""

RETURN = r"""
path:
  description: Absolute path of the chart directory (holding C(Chart.yaml)).
  returned: always
  type: str
  sample: /tmp/portkey-ai-charts-1000/git-3f2a9c1d0e4b5a67/commits/8269410.../helm/enterprise
chart_name:
  description: C(name) from C(Chart.yaml).
  returned: always
  type: str
  sample: gateway
chart_version:
  description: C(version) from C(Chart.yaml).
  returned: always
  type: str
  sample: 1.0.8
app_version:
  description: C(appVersion) from C(Chart.yaml) (null when absent).
  returned: always
  type: str
  sample: 1.11.4
commit:
  description: Full commit sha of the chart (null unless O(source=git)).
  returned: always
  type: str
  sample: 82694108c2b0f35a1d6e8c9f0b7a4d3e2c1b0a99
ref_kind:
  description: What O(git_ref) turned out to be, C(tag), C(branch) or C(commit) (null unless O(source=git)).
  returned: always
  type: str
  sample: tag
generation:
  description: Chart generation for the values builder, C(1.0) (chart 0.x and 1.0.x) or C(1.7) (1.1 and later).
  returned: always
  type: str
  sample: "1.0"
source:
  description: The source used (C(git), C(repo) or C(path)).
  returned: always
  type: str
  sample: git
cache_dir:
  description: The cache folder used (null for O(source=path)).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import exit_or_fail, require_yaml
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redact_url_error, url_credentials
from ansible_collections.portkey_ai.gateway.plugins.module_utils._chart import (
    DEFAULT_CHART_NAME, DEFAULT_GIT_PATH, DEFAULT_GIT_URL, DEFAULT_REPO_URL, Git,
    default_cache_dir, git_source, path_source, repo_source,
)


def get_chart(module):
    p = module.params
    cache_dir = p["cache_dir"] or default_cache_dir()
    if p["source"] == "git":
        git = Git(module.run_command, module.get_bin_path(p["git_binary"], required=True))
        chart = git_source(p["git_url"], p["git_ref"], p["git_path"], cache_dir, git, module.check_mode)
    elif p["source"] == "repo":
        from ansible_collections.portkey_ai.gateway.plugins.module_utils._helm import Helm
        chart = repo_source(p["repo_url"], p["chart_name"], p["chart_version"], cache_dir,
                            Helm(module.run_command, p["helm_binary"]), module.check_mode)
    else:
        chart = path_source(p["path"])
        cache_dir = None
    for warning in chart.pop("warnings", []):
        module.warn(warning)
    chart.setdefault("ref_kind", None)
    chart.pop("ref", None)
    chart["cache_dir"] = cache_dir
    return chart


def main():
    spec = dict(
        source=dict(type="str", default="git", choices=["git", "repo", "path"]),
        git_url=dict(type="str", default=DEFAULT_GIT_URL),
        git_ref=dict(type="str"),
        git_path=dict(type="str", default=DEFAULT_GIT_PATH),
        repo_url=dict(type="str", default=DEFAULT_REPO_URL),
        chart_name=dict(type="str", default=DEFAULT_CHART_NAME),
        chart_version=dict(type="str"),
        path=dict(type="path"),
        cache_dir=dict(type="path"),
        helm_binary=dict(type="str", default="helm"),
        git_binary=dict(type="str", default="git"),
    )
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        required_if=[("source", "git", ("git_ref",)), ("source", "repo", ("chart_version",)),
                     ("source", "path", ("path",))],
    )
    require_yaml(module)
    for url in (module.params["git_url"], module.params["repo_url"]):
        module.no_log_values.update(url_credentials(url))  # a token in a URL is masked in every output
    exit_or_fail(module, get_chart, adapt=redact_url_error)


if __name__ == "__main__":
    main()
