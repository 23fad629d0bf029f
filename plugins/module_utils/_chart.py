# -*- coding: utf-8 -*-
# Copyright: (c) 2025, portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change without notice.
"""Get the Portkey gateway chart: a git URL at a pinned ref, a Helm repository, or a local path.

Cache layout (``cache_dir``, mode 0700)::

    git-<sha256(url NUL path)[:16]>/repo/            git clone --no-checkout (objects only)
    git-<...>/commits/<sha>/<git_path>/Chart.yaml      the chart as of one commit (git archive)
    git-<...>/commits/<sha>.sha256                     its content hash, written last (completion marker)
    git-<...>/selected.json                            {"commit", "ref"} of the last real (non-check) run
    repo-<sha256(repo_url NUL name)[:16]>/versions/<version>/<name>/Chart.yaml   (helm pull --untar)
    repo-<...>/versions/<version>.sha256                its content hash, written last (completion marker)
    repo-<...>/selected.json                           {"version"}
    .helm/                                              helm's cache/config for `helm pull` (never $HOME)

``changed`` means "the selected commit / version differs from the last real run".  Check mode may fill the cache
(it is local, not a cluster or account) but never moves ``selected.json``, so check -> real -> check -> real gives
changed, changed, ok, ok.

Integrity: an entry is extracted into a temporary folder, renamed into place, then its content hash (every file's
path and bytes) is written beside it, last. Reuse recomputes the hash: an entry without its marker (a run killed
half-way) or whose files changed since (damage, even damage that still parses) is removed and rebuilt. A cache
that cannot be written (read-only, full, another owner) fails before any cluster write, naming portkey_cache_dir.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError, yaml
from ansible_collections.portkey_ai.gateway.plugins.module_utils._private_files import (
    is_shared, make_private_dir, replace_private, tighten_dir,
)
from ansible_collections.portkey_ai.gateway.plugins.module_utils._redact import redact_url, urls_redacted

SHA_RE = re.compile(r"^[0-9a-fA-F]{7,40}$")
SEMVER_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$")

DEFAULT_GIT_URL = "https://github.com/Portkey-AI/helm-chart"
DEFAULT_GIT_PATH = "helm/enterprise"
DEFAULT_REPO_URL = "https://portkey-ai.github.io/helm"
DEFAULT_CHART_NAME = "gateway"


# ---------------------------------------------------------------------------------------------------------------
# Chart.yaml
# ---------------------------------------------------------------------------------------------------------------

def parse_semver(version):
    m = SEMVER_RE.match(str(version or "").strip())
    if not m:
        return None
    return tuple(int(x) for x in m.groups()[:3])


def generation_of(version):
    """'1.0' for chart 0.x and 1.0.x (helm/enterprise layout), '1.7' for 1.1 and later (Portkey-AI/helm), None
    when ``version`` is not a semantic version."""
    parsed = parse_semver(version)
    if parsed is None:
        return None
    major, minor = parsed[0], parsed[1]
    if major == 0 or (major == 1 and minor == 0):
        return "1.0"
    return "1.7"


def generation_for(version):
    """generation_of() of a version that must be semantic (raises PortkeyError otherwise)."""
    generation = generation_of(version)
    if generation is None:
        raise PortkeyError("chart version %r is not a semantic version (MAJOR.MINOR.PATCH)" % (version,))
    return generation


def validate_chart_meta(meta, where):
    """Errors (a list) for a Chart.yaml document; ``where`` names the file."""
    if not isinstance(meta, dict):
        return ["%s: not a YAML mapping" % where]
    errors = []
    api = meta.get("apiVersion")
    if api != "v2":
        errors.append("%s: apiVersion must be v2 (Helm 3 chart), found %r" % (where, api))
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append("%s: name is missing" % where)
    version = meta.get("version")
    if version is None or str(version).strip() == "":
        errors.append("%s: version is missing" % where)
    elif parse_semver(version) is None:
        errors.append("%s: version %r is not a semantic version (MAJOR.MINOR.PATCH)" % (where, version))
    return errors


def load_chart(path):
    """Validate ``path``/Chart.yaml; returns {path, chart_name, chart_version, app_version, generation}."""
    chart_yaml = os.path.join(path, "Chart.yaml")
    if not os.path.isdir(path):
        raise PortkeyError("chart directory %s does not exist" % path)
    if not os.path.isfile(chart_yaml):
        raise PortkeyError("%s does not exist: %s is not a Helm chart directory" % (chart_yaml, path))
    try:
        with open(chart_yaml, "rb") as handle:
            meta = yaml.safe_load(handle.read().decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PortkeyError("%s: invalid YAML: %s" % (chart_yaml, exc))
    errors = validate_chart_meta(meta, chart_yaml)
    if errors:
        raise PortkeyError("invalid chart at %s" % path, errors=errors)
    version = str(meta["version"]).strip()
    app_version = meta.get("appVersion")
    return dict(path=os.path.abspath(path), chart_name=meta["name"], chart_version=version,
                app_version=None if app_version is None else str(app_version),
                generation=generation_for(version))


def chart_defaults(path):
    """The chart's own defaults the input model checks against (values.yaml ``autoscaling``); {} if unreadable."""
    try:
        with open(os.path.join(path, "values.yaml"), "rb") as handle:
            values = yaml.safe_load(handle.read().decode("utf-8")) or {}
    except (IOError, OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    scaling = values.get("autoscaling") if isinstance(values, dict) else None
    return {"autoscaling": dict((k, v) for k, v in scaling.items() if k in ("minReplicas", "maxReplicas"))
            if isinstance(scaling, dict) else {}}


# ---------------------------------------------------------------------------------------------------------------
# cache plumbing
# ---------------------------------------------------------------------------------------------------------------

def default_cache_dir():
    """$PORTKEY_CACHE_DIR, else <tmpdir>/portkey-ai-charts-<uid> (never a home directory)."""
    env = os.environ.get("PORTKEY_CACHE_DIR")
    if env:
        return env
    return os.path.join(tempfile.gettempdir(), "portkey-ai-charts-%d" % os.getuid())


def source_key(*parts):
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:16]


CACHE_HINT = "set portkey_cache_dir (cache_dir / PORTKEY_CACHE_DIR) to a private directory this user can write"


def cache_error(what, path, exc):
    """A PortkeyError for a cache write that failed: names portkey_cache_dir and the fix, no traceback."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return PortkeyError("the chart cache (portkey_cache_dir) is not usable: cannot %s %s: %s; %s"
                        % (what, path, reason, CACHE_HINT))


def ensure_private_dir(path):
    """Create ``path`` 0700 (parents too). An existing dir must belong to us; it is tightened to 0700."""
    try:
        st = make_private_dir(path)
    except OSError as exc:
        raise cache_error("create the directory", path, exc)
    if st.st_uid != os.getuid():
        raise PortkeyError("chart cache directory %s belongs to uid %d, not to this user (uid %d); %s"
                           % (path, st.st_uid, os.getuid(), CACHE_HINT))
    if is_shared(st.st_mode):
        try:
            tighten_dir(path)
        except OSError as exc:
            raise cache_error("make private (chmod 0700)", path, exc)
    return path


def tree_digest(path):
    """sha256 over every file (relative path, mode's executable bit, bytes) and symlink under ``path``."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path)
            if os.path.islink(full):
                digest.update(b"L\0" + rel.encode("utf-8") + b"\0" + os.readlink(full).encode("utf-8") + b"\0")
                continue
            digest.update(b"F\0" + rel.encode("utf-8") + b"\0")
            with open(full, "rb") as handle:
                for block in iter(lambda: handle.read(65536), b""):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()


def _marker(entry):
    return entry.rstrip(os.sep) + ".sha256"


def entry_intact(entry):
    """True when ``entry`` exists with a completion marker that matches its content."""
    if not os.path.isdir(entry):
        return False
    try:
        with open(_marker(entry)) as handle:
            expected = handle.read().strip()
        return bool(expected) and expected == tree_digest(entry)
    except (IOError, OSError, UnicodeDecodeError):
        return False


def discard_entry(entry):
    """Remove a damaged or partial entry (and its marker) so it is rebuilt."""
    try:
        if os.path.lexists(_marker(entry)):
            os.unlink(_marker(entry))
        if os.path.isdir(entry):
            shutil.rmtree(entry)
    except OSError as exc:
        raise cache_error("remove the damaged entry", entry, exc)


def install_entry(tmp, entry):
    """Rename the completed folder ``tmp`` to ``entry``, then write its content hash beside it (last)."""
    try:
        os.replace(tmp, entry)
        replace_private(_marker(entry), tree_digest(entry) + "\n", prefix=".marker-")
    except OSError as exc:
        raise cache_error("write the entry", entry, exc)


@contextlib.contextmanager
def locked(folder):
    """An exclusive lock on folder/.lock (parallel hosts of one play share the cache)."""
    try:
        handle = open(os.path.join(folder, ".lock"), "a")
    except (IOError, OSError) as exc:
        raise cache_error("write the lock file in", folder, exc)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def read_selected(folder):
    try:
        with open(os.path.join(folder, "selected.json")) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return {}


def write_selected(folder, data):
    """selected.json of a cache folder; URLs are kept without their credentials (a token never lands on disk)."""
    data = dict((key, redact_url(value)) for key, value in data.items())
    try:
        replace_private(os.path.join(folder, "selected.json"), json.dumps(data, sort_keys=True), prefix=".selected-")
    except OSError as exc:
        raise cache_error("write", os.path.join(folder, "selected.json"), exc)


# ---------------------------------------------------------------------------------------------------------------
# git
# ---------------------------------------------------------------------------------------------------------------

class Git(object):
    """git CLI runner (argv lists, LC_ALL=C, no prompts). ``calls`` lists every argv run."""

    def __init__(self, run_command, binary="git"):
        """``run_command`` is AnsibleModule.run_command (or a callable with its signature and return value)."""
        self.run_command = run_command
        self.binary = binary
        self.calls = []

    def run(self, args, cwd=None, check=True, binary_out=False):
        argv = [self.binary] + list(args)
        self.calls.append(argv)
        env = dict(LC_ALL="C", LANG="C", LC_MESSAGES="C", GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true",
                   GIT_CONFIG_NOSYSTEM="1")
        try:
            rc, out, err = self.run_command(argv, check_rc=False, environ_update=env, cwd=cwd,
                                            encoding=None if binary_out else "utf-8")
        except OSError as exc:
            raise PortkeyError("could not run git (%s): %s; install git or use portkey_chart_source: repo/path"
                               % (self.binary, exc))
        if isinstance(err, bytes):
            err = err.decode("utf-8", "replace")
        if check and rc != 0:
            raise PortkeyError("git %s failed (rc=%d): %s" % (args[0] if args else "", rc, err.strip()))
        return rc, out, err

    def network_calls(self):
        """The calls that may touch the network (clone, fetch, ls-remote)."""
        return [c for c in self.calls if len(c) > 1 and c[1] in ("fetch", "clone", "ls-remote")]

    def rev_parse(self, repo, ref):
        rc, out, _err = self.run(["rev-parse", "--verify", "--quiet", "%s^{commit}" % ref], cwd=repo, check=False)
        return out.strip() if rc == 0 and out.strip() else None


def _resolve_local(git, repo, ref):
    """(commit, kind) from local refs only: kind is 'tag', 'branch' or 'commit'; (None, None) if unknown."""
    sha = git.rev_parse(repo, "refs/tags/%s" % ref)
    if sha:
        return sha, "tag"
    sha = git.rev_parse(repo, "refs/remotes/origin/%s" % ref)
    if sha:
        return sha, "branch"
    if SHA_RE.match(ref):
        sha = git.rev_parse(repo, ref)
        if sha and sha.lower().startswith(ref.lower()):
            return sha, "commit"
    return None, None


def _fetch_all(git, repo):
    git.run(["fetch", "--quiet", "--force", "--prune", "origin",
             "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"], cwd=repo)


def resolve_git_ref(git, repo, url, ref):
    """Resolve ``ref`` in the cached clone, fetching only when needed.

    Fast path (no network): a tag or a commit already present locally.  A branch is fetched on every run.
    Unknown refs trigger one full fetch (heads + tags), then a direct fetch of a commit sha.
    """
    sha, kind = _resolve_local(git, repo, ref)
    if kind in ("tag", "commit"):
        return sha, kind
    if kind == "branch":
        git.run(["fetch", "--quiet", "--force", "origin",
                 "+refs/heads/%s:refs/remotes/origin/%s" % (ref, ref)], cwd=repo)
        sha2, kind2 = _resolve_local(git, repo, ref)
        if kind2 == "branch":
            return sha2, kind2
    _fetch_all(git, repo)
    sha, kind = _resolve_local(git, repo, ref)
    if sha:
        return sha, kind
    if SHA_RE.match(ref):
        rc, _out, _err = git.run(["fetch", "--quiet", "origin", ref], cwd=repo, check=False)
        if rc == 0:
            sha = git.rev_parse(repo, "FETCH_HEAD")
            if sha and sha.lower().startswith(ref.lower()):
                return sha, "commit"
    raise PortkeyError("portkey_chart_git_ref %r (git_ref) is not a tag, branch or commit of %s; "
                       "list the tags with `git ls-remote --tags %s` and set portkey_chart_git_ref to one of them"
                       % (ref, url, url))


def _extract_tree(git, repo, commit, git_path, dest):
    """Write the files of ``commit``:``git_path`` under ``dest`` (via git archive, no working tree)."""
    rc, data, err = git.run(["archive", "--format=tar", commit, "--", git_path or "."], cwd=repo, check=False,
                            binary_out=True)
    if rc != 0:
        raise PortkeyError("portkey_chart_git_path %r (git_path) does not exist at commit %s: %s"
                           % (git_path, commit[:12], err.strip()))
    try:
        tmp = tempfile.mkdtemp(dir=os.path.dirname(dest), prefix=".extract-")
    except OSError as exc:
        raise cache_error("create a folder in", os.path.dirname(dest), exc)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            try:
                tar.extractall(tmp, filter="data")
            except TypeError:  # Python without extraction filters
                tar.extractall(tmp)
        install_entry(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise cache_error("extract the chart into", dest, exc)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@urls_redacted
def git_source(url, ref, git_path, cache_dir, git, check_mode=False):
    """The chart at ``url``@``ref``:``git_path``. Returns the chart dict plus commit, ref_kind, changed, warnings.
    Errors never show the credentials of ``url``."""
    if not ref:
        raise PortkeyError("portkey_chart_git_ref (git_ref) is required for source git: pin a tag or commit "
                           "of %s" % url)
    git_path = (git_path or "").strip("/")
    ensure_private_dir(cache_dir)
    folder = ensure_private_dir(os.path.join(cache_dir, "git-%s" % source_key(url, git_path)))
    warnings = []
    with locked(folder):
        repo = os.path.join(folder, "repo")
        if not os.path.isdir(os.path.join(repo, ".git")) and not os.path.isfile(os.path.join(repo, "HEAD")):
            shutil.rmtree(repo, ignore_errors=True)
            rc, _out, err = git.run(["clone", "--quiet", "--no-checkout", "--origin", "origin", url, repo],
                                    check=False)
            if rc != 0:
                shutil.rmtree(repo, ignore_errors=True)
                raise PortkeyError("cannot clone portkey_chart_git_url %s (git_url): %s" % (url, err.strip()))
        commit, kind = resolve_git_ref(git, repo, url, ref)
        if kind == "branch":
            warnings.append("portkey_chart_git_ref %r is a branch, a moving ref: each run may deploy another "
                            "commit (now %s); pin a tag or commit for repeatable deploys" % (ref, commit[:12]))
        commits = ensure_private_dir(os.path.join(folder, "commits"))
        tree = os.path.join(commits, commit)
        if not entry_intact(tree):
            if os.path.lexists(tree) or os.path.lexists(_marker(tree)):
                warnings.append("the cached chart %s in portkey_cache_dir was incomplete or changed since it was "
                                "extracted: rebuilt from the git clone" % tree)
                discard_entry(tree)
            _extract_tree(git, repo, commit, git_path, tree)
        chart_dir = os.path.join(tree, git_path) if git_path else tree
        if not os.path.isfile(os.path.join(chart_dir, "Chart.yaml")):
            raise PortkeyError("portkey_chart_git_path %r (git_path) at %s@%s (commit %s) has no Chart.yaml"
                               % (git_path, url, ref, commit[:12]))
        chart = load_chart(chart_dir)
        selected = read_selected(folder)
        changed = selected.get("commit") != commit
        if changed and not check_mode:
            write_selected(folder, dict(commit=commit, ref=ref, url=url, path=git_path))
    chart.update(commit=commit, ref=ref, ref_kind=kind, changed=changed, warnings=warnings, source="git")
    return chart


# ---------------------------------------------------------------------------------------------------------------
# Helm repository
# ---------------------------------------------------------------------------------------------------------------

@urls_redacted
def repo_source(repo_url, chart_name, chart_version, cache_dir, helm, check_mode=False):
    """``helm pull --repo`` into the cache; a cached exact version needs no network. Errors never show the
    credentials of ``repo_url``."""
    if not chart_version:
        raise PortkeyError("portkey_chart_version (chart_version) is required for source repo: pin the version "
                           "of chart %s from %s" % (chart_name, repo_url))
    ensure_private_dir(cache_dir)
    folder = ensure_private_dir(os.path.join(cache_dir, "repo-%s" % source_key(repo_url, chart_name)))
    versions = ensure_private_dir(os.path.join(folder, "versions"))
    exact = parse_semver(chart_version) is not None
    warnings = []
    with locked(folder):
        entry = os.path.join(versions, str(chart_version).lstrip("v"))
        chart_dir = os.path.join(entry, chart_name)
        if not (exact and entry_intact(entry)):
            if exact and (os.path.lexists(entry) or os.path.lexists(_marker(entry))):
                warnings.append("the cached chart %s in portkey_cache_dir was incomplete or changed since it was "
                                "pulled: pulled again" % entry)
                discard_entry(entry)
            try:
                tmp = tempfile.mkdtemp(dir=versions, prefix=".pull-")
            except OSError as exc:
                raise cache_error("create a folder in", versions, exc)
            try:
                helm_home = ensure_private_dir(os.path.join(cache_dir, ".helm"))
                try:
                    helm.pull(repo_url, chart_name, chart_version, tmp, helm_home=helm_home)
                except PortkeyError as exc:
                    raise PortkeyError("cannot pull chart %s version %s from %s (portkey_chart_repo_url / "
                                       "portkey_chart_name / portkey_chart_version): %s"
                                       % (chart_name, chart_version, repo_url, getattr(exc, "stderr", "") or exc))
                meta = load_chart(os.path.join(tmp, chart_name))
                entry = os.path.join(versions, meta["chart_version"])
                chart_dir = os.path.join(entry, chart_name)
                if not entry_intact(entry):
                    discard_entry(entry)
                    install_entry(tmp, entry)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        chart = load_chart(chart_dir)
        if chart["chart_name"] != chart_name:
            raise PortkeyError("chart pulled as %r from %s is named %r in its Chart.yaml"
                               % (chart_name, repo_url, chart["chart_name"]))
        selected = read_selected(folder)
        changed = selected.get("version") != chart["chart_version"]
        if changed and not check_mode:
            write_selected(folder, dict(version=chart["chart_version"], repo_url=repo_url, name=chart_name))
    chart.update(commit=None, changed=changed, warnings=warnings, source="repo")
    return chart


def path_source(path):
    if not path:
        raise PortkeyError("portkey_chart_local_path (path) is required for source path: set it to the chart "
                           "directory (the folder holding Chart.yaml)")
    try:
        chart = load_chart(path)
    except PortkeyError as exc:
        raise PortkeyError("portkey_chart_local_path (path): %s" % exc.msg, errors=exc.errors, **exc.details)
    chart.update(commit=None, changed=False, warnings=[], source="path")
    return chart
