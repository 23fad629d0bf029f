# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The git chart source on real local git repos (git runs: not a unit test)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import stat
import subprocess
import sys

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._chart import (
    Git, git_source,
)

sys.path.insert(0, os.path.dirname(__file__))
from test_helm_process import run_command  # noqa: E402

CHART_YAML = "apiVersion: v2\nname: gateway\nversion: %s\nappVersion: \"1.11.4\"\n"


def git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org", LC_ALL="C")
    return subprocess.run(["git"] + list(args), cwd=cwd, env=env, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE).stdout.decode().strip()


def commit_chart(repo, version, message, extra=""):
    chart = os.path.join(repo, "helm", "enterprise")
    os.makedirs(os.path.join(chart, "templates"), exist_ok=True)
    with open(os.path.join(chart, "Chart.yaml"), "w") as handle:
        handle.write(CHART_YAML % version)
    with open(os.path.join(chart, "templates", "cm.yaml"), "w") as handle:
        handle.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: %r\n" % (message + extra))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def upstream(tmp_path):
    repo = str(tmp_path / "upstream")
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
    shas = {}
    shas["v1.0.7"] = commit_chart(repo, "1.0.7", "one")
    git(repo, "tag", "v1.0.7")
    shas["v1.0.8"] = commit_chart(repo, "1.0.8", "two")
    git(repo, "tag", "-a", "v1.0.8", "-m", "annotated")
    shas["main"] = commit_chart(repo, "1.0.8", "three")
    return dict(path=repo, url="file://" + repo, shas=shas)


def test_git_tag_then_fast_path(tmp_path, upstream):
    cache = str(tmp_path / "cache")
    g = Git(run_command)
    first = git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, g)
    assert first["changed"] is True and first["commit"] == upstream["shas"]["v1.0.7"]
    assert first["chart_version"] == "1.0.7" and first["generation"] == "1.0" and first["ref_kind"] == "tag"
    assert first["warnings"] == [] and os.path.isfile(os.path.join(first["path"], "Chart.yaml"))
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    # second run: same tag, no clone / fetch at all, not changed
    g2 = Git(run_command)
    second = git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, g2)
    assert second["changed"] is False and second["path"] == first["path"]
    assert g2.network_calls() == []
    # annotated tag -> the commit, changed
    third = git_source(upstream["url"], "v1.0.8", "helm/enterprise", cache, Git(run_command))
    assert third["changed"] is True and third["commit"] == upstream["shas"]["v1.0.8"]
    assert third["chart_version"] == "1.0.8"


def test_git_new_upstream_tag_is_fetched(tmp_path, upstream):
    cache = str(tmp_path / "cache")
    git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, Git(run_command))
    sha = commit_chart(upstream["path"], "1.0.9", "four")
    git(upstream["path"], "tag", "v1.0.9")
    g = Git(run_command)
    chart = git_source(upstream["url"], "v1.0.9", "helm/enterprise", cache, g)
    assert chart["commit"] == sha and chart["chart_version"] == "1.0.9" and chart["changed"]
    assert [c[1] for c in g.network_calls()] == ["fetch"]


def test_git_branch_warns_and_fetches_every_run(tmp_path, upstream):
    cache = str(tmp_path / "cache")
    first = git_source(upstream["url"], "main", "helm/enterprise", cache, Git(run_command))
    assert first["ref_kind"] == "branch" and first["commit"] == upstream["shas"]["main"]
    assert len(first["warnings"]) == 1 and "branch" in first["warnings"][0]
    assert "portkey_chart_git_ref" in first["warnings"][0]
    g = Git(run_command)
    again = git_source(upstream["url"], "main", "helm/enterprise", cache, g)
    assert again["changed"] is False and len(g.network_calls()) == 1
    moved = commit_chart(upstream["path"], "1.0.8", "five")
    third = git_source(upstream["url"], "main", "helm/enterprise", cache, Git(run_command))
    assert third["changed"] is True and third["commit"] == moved


def test_git_sha_is_pinned(tmp_path, upstream):
    cache = str(tmp_path / "cache")
    sha = upstream["shas"]["v1.0.8"]
    chart = git_source(upstream["url"], sha, "helm/enterprise", cache, Git(run_command))
    assert chart["ref_kind"] == "commit" and chart["commit"] == sha and chart["warnings"] == []
    g = Git(run_command)
    short = git_source(upstream["url"], sha[:10], "helm/enterprise", cache, g)
    assert short["commit"] == sha and short["changed"] is False and g.network_calls() == []


def test_git_unknown_ref(tmp_path, upstream):
    with pytest.raises(PortkeyError) as exc:
        git_source(upstream["url"], "v9.9.9", "helm/enterprise", str(tmp_path / "cache"), Git(run_command))
    assert "portkey_chart_git_ref" in str(exc.value) and "v9.9.9" in str(exc.value)
    with pytest.raises(PortkeyError, match="portkey_chart_git_ref"):
        git_source(upstream["url"], "deadbeefdeadbeef", "helm/enterprise", str(tmp_path / "cache"), Git(run_command))


def test_git_wrong_path_and_url(tmp_path, upstream):
    with pytest.raises(PortkeyError, match="portkey_chart_git_path"):
        git_source(upstream["url"], "v1.0.7", "charts/portkey-gateway", str(tmp_path / "cache"), Git(run_command))
    with pytest.raises(PortkeyError, match="portkey_chart_git_url"):
        git_source("file://" + str(tmp_path / "nope"), "v1.0.7", "helm/enterprise", str(tmp_path / "cache"),
                   Git(run_command))


def test_git_check_mode_does_not_select(tmp_path, upstream):
    cache = str(tmp_path / "cache")
    sequence = []
    for check in (True, False, True, False):
        chart = git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, Git(run_command), check_mode=check)
        sequence.append(chart["changed"])
    assert sequence == [True, True, False, False]


def _cm_path(chart):
    return os.path.join(chart["path"], "templates", "cm.yaml")


def test_git_damage_that_still_parses_is_rebuilt(tmp_path, upstream):
    cache = str(tmp_path / "cache")
    first = git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, Git(run_command))
    tree = os.path.dirname(os.path.dirname(first["path"]))
    assert os.path.isfile(tree + ".sha256")
    original = open(_cm_path(first)).read()
    with open(_cm_path(first), "w") as handle:  # still valid YAML, another manifest
        handle.write(original.replace("one", "tampered"))
    again = git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, Git(run_command))
    assert open(_cm_path(again)).read() == original
    assert any("portkey_cache_dir" in w and "rebuilt" in w for w in again["warnings"]), again["warnings"]
    # a clean entry is reused silently
    third = git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, Git(run_command))
    assert third["warnings"] == []


@pytest.mark.parametrize("damage", ["no-marker", "half-written", "extra-file"])
def test_git_partial_entry_is_rebuilt(tmp_path, upstream, damage):
    cache = str(tmp_path / "cache")
    first = git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, Git(run_command))
    tree = os.path.dirname(os.path.dirname(first["path"]))
    if damage == "no-marker":  # killed between the rename and the marker
        os.unlink(tree + ".sha256")
    elif damage == "half-written":
        with open(_cm_path(first), "w") as handle:
            handle.write("apiVersion: v1\nkind: Conf")
    else:
        with open(os.path.join(first["path"], "templates", "stray.yaml"), "w") as handle:
            handle.write("kind: Secret\n")
    again = git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, Git(run_command))
    assert "one" in open(_cm_path(again)).read()
    assert not os.path.exists(os.path.join(again["path"], "templates", "stray.yaml"))
    assert again["warnings"] and os.path.isfile(tree + ".sha256")
    assert not [n for n in os.listdir(os.path.dirname(tree)) if n.startswith(".extract-")]


def _read_only(monkeypatch):
    """A read-only file system under the cache (root ignores directory modes, so the calls fail instead)."""
    import errno
    from ansible_collections.portkey_ai.gateway.plugins.module_utils import _chart

    def refuse(*args, **kwargs):
        if not kwargs.get("ignore_errors"):
            raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(_chart.tempfile, "mkdtemp", refuse)
    monkeypatch.setattr(_chart.shutil, "rmtree", refuse)
    monkeypatch.setattr(_chart.os, "unlink", refuse)


def test_read_only_cache_names_portkey_cache_dir(tmp_path, upstream, monkeypatch):
    cache = str(tmp_path / "cache")
    _read_only(monkeypatch)
    with pytest.raises(PortkeyError) as exc:
        git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, Git(run_command))
    text = str(exc.value)
    assert "portkey_cache_dir" in text and "Read-only file system" in text and cache in text


def test_damaged_entry_in_read_only_cache_fails_naming_portkey_cache_dir(tmp_path, upstream, monkeypatch):
    cache = str(tmp_path / "cache")
    first = git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, Git(run_command))
    with open(_cm_path(first), "a") as handle:
        handle.write("# changed\n")
    _read_only(monkeypatch)
    with pytest.raises(PortkeyError, match="portkey_cache_dir.*Read-only file system"):
        git_source(upstream["url"], "v1.0.7", "helm/enterprise", cache, Git(run_command))


TOKEN = "ghp_unitTok3nNeverShown0123"


def test_git_url_token_never_reaches_selected_json_or_errors(tmp_path, upstream, monkeypatch):
    """A token in portkey_chart_git_url: the clone works, selected.json and every error hold the URL without it."""
    url = "https://x-access-token:%s@example.invalid/helm-chart" % TOKEN
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "url.%s.insteadOf" % upstream["url"])
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", url)
    cache = str(tmp_path / "cache")
    chart = git_source(url, "v1.0.7", "helm/enterprise", cache, Git(run_command))
    assert chart["commit"] == upstream["shas"]["v1.0.7"]
    written = []
    for root, _dirs, files in os.walk(cache):
        written += [os.path.join(root, f) for f in files if f == "selected.json"]
    assert len(written) == 1
    with open(written[0]) as handle:
        text = handle.read()
    assert TOKEN not in text and "https://***@example.invalid/helm-chart" in text
    with pytest.raises(PortkeyError) as exc:
        git_source(url, "v9.9.9", "helm/enterprise", cache, Git(run_command))
    assert TOKEN not in str(exc.value) and "https://***@example.invalid/helm-chart" in str(exc.value)


def test_unreachable_git_url_with_token_fails_without_it(tmp_path):
    url = "https://user:%s@127.0.0.1:9/nothing.git" % TOKEN
    with pytest.raises(PortkeyError, match="portkey_chart_git_url") as exc:
        git_source(url, "v1.0.7", "helm/enterprise", str(tmp_path / "cache"), Git(run_command))
    assert TOKEN not in str(exc.value) and "https://***@127.0.0.1:9/nothing.git" in str(exc.value)
