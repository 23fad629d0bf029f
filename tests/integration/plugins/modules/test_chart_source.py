# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""chart_source main(): git (a local repo), a Helm repository served from tmp, and a local path."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import subprocess
import sys
import threading
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler

import pytest


from ansible_collections.portkey_ai.gateway.plugins.modules import chart_source

sys.path.insert(0, os.path.dirname(__file__))
from module_runner import run_module  # noqa: E402

BIN = os.path.dirname(sys.executable)
CHART_YAML = "apiVersion: v2\nname: gateway\nversion: %s\nappVersion: \"2.13.0\"\n"


def run(args, capsys, check=False):
    return run_module(chart_source, args, capsys, check=check)[1]


def make_chart(path, version):
    os.makedirs(os.path.join(path, "templates"), exist_ok=True)
    with open(os.path.join(path, "Chart.yaml"), "w") as handle:
        handle.write(CHART_YAML % version)
    return path


@pytest.fixture
def git_repo(tmp_path):
    repo = str(tmp_path / "helm")
    make_chart(os.path.join(repo, "charts", "portkey-gateway"), "1.7.7")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e")
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "c"], ["tag", "gateway-1.7.7"]):
        subprocess.run(["git"] + argv, cwd=repo, env=env, check=True)
    return "file://" + repo


def test_git_source_module(git_repo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PORTKEY_CACHE_DIR", str(tmp_path / "cache"))
    args = dict(git_url=git_repo, git_ref="gateway-1.7.7", git_path="charts/portkey-gateway")
    results = [run(args, capsys, check=check) for check in (True, False, True, False)]
    assert [r["changed"] for r in results] == [True, True, False, False]
    out = results[-1]
    assert out["chart_name"] == "gateway" and out["chart_version"] == "1.7.7" and out["generation"] == "1.7"
    assert out["app_version"] == "2.13.0" and out["source"] == "git" and len(out["commit"]) == 40
    assert out["ref_kind"] == "tag" and out["cache_dir"] == str(tmp_path / "cache")
    assert os.path.isfile(os.path.join(out["path"], "Chart.yaml"))
    out = run(dict(args, git_ref="v0.0.0"), capsys)
    assert out["failed"] and "portkey_chart_git_ref" in out["msg"]


def test_git_branch_warning(git_repo, tmp_path, capsys):
    out = run(dict(git_url=git_repo, git_ref="main", git_path="charts/portkey-gateway",
                   cache_dir=str(tmp_path / "c")), capsys)
    assert out["ref_kind"] == "branch" and "moving ref" in json.dumps(out.get("warnings"))


def test_path_source_module(tmp_path, capsys):
    path = make_chart(str(tmp_path / "gateway"), "1.0.8")
    out = run(dict(source="path", path=path), capsys)
    assert out["changed"] is False and out["generation"] == "1.0" and out["commit"] is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "Chart.yaml").write_text("apiVersion: v1\nname: gateway\nversion: 1.0.8\n")
    out = run(dict(source="path", path=str(tmp_path / "bad")), capsys)
    assert out["failed"] and str(tmp_path / "bad" / "Chart.yaml") in out["msg"] + json.dumps(out["errors"])


class CountingHandler(SimpleHTTPRequestHandler):
    count = 0

    def do_GET(self):
        CountingHandler.count += 1
        return SimpleHTTPRequestHandler.do_GET(self)

    def log_message(self, *args):
        pass


@pytest.fixture
def helm_repo(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    for version in ("1.0.8", "1.7.7"):
        chart = make_chart(str(tmp_path / ("src-" + version) / "gateway"), version)
        subprocess.run([os.path.join(BIN, "helm"), "package", chart, "-d", str(served)], check=True,
                       stdout=subprocess.DEVNULL)
    server = HTTPServer(("127.0.0.1", 0), partial(CountingHandler, directory=str(served)))
    url = "http://127.0.0.1:%d/" % server.server_port
    subprocess.run([os.path.join(BIN, "helm"), "repo", "index", str(served), "--url", url], check=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield url
    server.shutdown()


def test_repo_source_module(helm_repo, tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    args = dict(source="repo", repo_url=helm_repo, chart_name="gateway", chart_version="1.7.7",
                cache_dir=str(tmp_path / "cache"))
    out = run(args, capsys)
    assert out["changed"] is True and out["chart_version"] == "1.7.7" and out["generation"] == "1.7"
    assert out["source"] == "repo" and os.path.isfile(os.path.join(out["path"], "Chart.yaml"))
    before = CountingHandler.count
    out = run(args, capsys)
    assert out["changed"] is False and CountingHandler.count == before   # cached: no network
    with open(os.path.join(out["path"], "Chart.yaml"), "a") as handle:     # damage that still parses
        handle.write("description: tampered\n")
    out = run(args, capsys)
    assert CountingHandler.count > before and "tampered" not in open(os.path.join(out["path"], "Chart.yaml")).read()
    assert "was incomplete or changed since it was pulled" in json.dumps(out), out   # the module warns
    out = run(dict(args, chart_version="1.0.8"), capsys)
    assert out["changed"] is True and out["generation"] == "1.0"
    assert os.listdir(str(home)) == []                                    # no helm repo state in HOME
    out = run(dict(args, chart_version="9.9.9"), capsys)
    assert out["failed"] and "portkey_chart_version" in out["msg"]
