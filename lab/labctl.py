#!/usr/bin/env python3
"""Start, stop and inspect the local lab (see lab/README.md).

Run from the repository root with the project venv:  .venv/bin/python lab/labctl.py up|down|status|env|...
Everything the lab runs listens on 127.0.0.1 (except the npm gateway, which has no host flag) and keeps its
state, logs and process records under one folder (default .lab/, or --lab-dir / PORTKEY_LAB_DIR).
Standard library + PyYAML only.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script (lab/labctl.py): make the package `lab` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.services import (  # noqa: E402 (the services: processes, launchers, env file; see lab/services.py)
    APISERVER_MODULE, AWS_CLI, DEFAULT_CLUSTER, GATEWAY_JS, ROOT, VENV_BIN, LabDir, LabError, apiserver_service,
    apiserver_state, apiserver_token, eks_sts_url, ensure_redis_certs, env_text, forget_objects, gateway_service,
    helmrepo_service, is_alive, kubeconfig_text, lab_secret, locked, moto_service, read_json, redis_password,
    redis_service, run, stop_record, write_text)

CHARTS = ROOT / "lab" / "charts"
CLUSTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")


# ----------------------------------------------------------------------------------------------------------------
# Requirements


def require_tools(names: list[str]) -> None:
    packages = {"redis-server": "redis-server", "node": "nodejs", "git": "git", "openssl": "openssl"}
    missing = [name for name in names if not shutil.which(name)]
    if missing:
        pkgs = " ".join(packages[name] for name in missing)
        raise LabError(f"missing {', '.join(missing)}: install the Debian package(s) {pkgs} "
                       f"(`make bootstrap` installs them: apt-get install -y {pkgs})")
    for tool in ("helm", "moto_server", "python"):
        if not (VENV_BIN / tool).exists():
            raise LabError(f"{VENV_BIN / tool} is missing: run `make bootstrap`")
    if not GATEWAY_JS.exists():
        raise LabError(f"{GATEWAY_JS.relative_to(ROOT)} is missing: run `make bootstrap` "
                       "(it runs `npm ci` in lab/gateway)")


def require_apiserver() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:  # looks the package up without running its code
        spec = importlib.util.find_spec(APISERVER_MODULE)
    except ModuleNotFoundError:
        spec = None
    locations = (spec.submodule_search_locations or []) if spec else []
    if not any(Path(location, "__main__.py").exists() for location in locations):
        raise LabError(f"the Kubernetes API emulator ({APISERVER_MODULE}, run as `python -m {APISERVER_MODULE}`) "
                       "does not exist yet: lab/apiserver/ must provide __main__.py")


# ----------------------------------------------------------------------------------------------------------------
# Chart sources: git repos laid out like Portkey's, and a Helm repository


@dataclass(frozen=True)
class Commit:
    ref: str            # tag name
    version: str        # Chart.yaml version
    date: str           # author/committer date (fixed: stable commit ids)
    variant: str = ""   # "tpl": a template-only change
    branch: str = "main"


@dataclass(frozen=True)
class ChartRepo:
    name: str           # <name>.git
    source: Path        # chart sources in lab/charts
    chart_path: str     # where the chart lives in the repo
    readme: str
    commits: tuple[Commit, ...]


CHART_REPOS = (
    ChartRepo("helm-chart", CHARTS / "legacy", "helm/enterprise",
              "# helm-chart (lab copy)\n\nLaid out like Portkey-AI/helm-chart: chart `gateway` at helm/enterprise.\n",
              (Commit("v1.0.7", "1.0.7", "2025-05-30T10:00:00+00:00"),
               Commit("v1.0.8", "1.0.8", "2025-06-18T10:00:00+00:00"),
               Commit("v1.0.8-tpl", "1.0.8", "2025-06-19T10:00:00+00:00", "tpl", "template-change"))),
    ChartRepo("helm", CHARTS / "current", "charts/portkey-gateway",
              "# helm (lab copy)\n\nLaid out like Portkey-AI/helm: chart `gateway` at charts/portkey-gateway.\n",
              (Commit("gateway-1.7.6", "1.7.6", "2026-07-01T10:00:00+00:00"),
               Commit("gateway-1.7.7", "1.7.7", "2026-07-20T10:00:00+00:00"))),
)
TPL_ANCHOR = "  labels:\n    {{- include \"portkey.labels\" . | nindent 4 }}\n"
TPL_EXTRA = "    portkey.ai/lab-template-change: \"true\"\n"


def charts_hash() -> str:
    digest = hashlib.sha256(repr(CHART_REPOS).encode() + TPL_ANCHOR.encode() + TPL_EXTRA.encode())
    for path in sorted(p for p in CHARTS.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(CHARTS)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def git_env(date: str = "2025-01-01T00:00:00+00:00") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="Portkey Lab", GIT_AUTHOR_EMAIL="lab@portkey.invalid", GIT_AUTHOR_DATE=date,
               GIT_COMMITTER_NAME="Portkey Lab", GIT_COMMITTER_EMAIL="lab@portkey.invalid", GIT_COMMITTER_DATE=date)
    return env


def write_chart(repo: ChartRepo, commit: Commit, work: Path) -> None:
    for child in work.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    (work / "README.md").write_text(repo.readme)
    dest = work / repo.chart_path
    shutil.copytree(repo.source, dest)
    chart_yaml = dest / "Chart.yaml"
    text, count = re.subn(r"(?m)^version: .*$", f'version: "{commit.version}"', chart_yaml.read_text())
    if count != 1:
        raise LabError(f"{chart_yaml}: no single version line")
    chart_yaml.write_text(text)
    if commit.variant == "tpl":
        deployment = dest / "templates/gateway/deployment.yaml"
        text = deployment.read_text()
        if TPL_ANCHOR not in text:
            raise LabError(f"{deployment}: the labels block the template-only change hooks into is missing")
        deployment.write_text(text.replace(TPL_ANCHOR, TPL_ANCHOR + TPL_EXTRA, 1))


def build_git_repo(repo: ChartRepo, dest: Path) -> None:
    """Build <dest> (bare) with one commit per Commit, tagged, on branch main (or a side branch)."""
    with tempfile.TemporaryDirectory(prefix=f"lab-{repo.name}-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        run(["git", "init", "-q", "-b", "main", str(work)], env=git_env())
        for commit in repo.commits:
            env = git_env(commit.date)
            if commit.branch != current_branch(work, env):
                run(["git", "checkout", "-q", "-b", commit.branch], cwd=work, env=env)
            write_chart(repo, commit, work)
            run(["git", "add", "-A"], cwd=work, env=env)
            run(["git", "commit", "-q", "-m", f"chart {commit.version} ({commit.ref})"], cwd=work, env=env)
            run(["git", "tag", commit.ref], cwd=work, env=env)
        bare = Path(tmp) / "bare.git"
        run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], env=git_env())
        run(["git", "push", "-q", str(bare), "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"],
            cwd=work, env=git_env())
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(bare), dest)


def current_branch(work: Path, env: dict) -> str:
    return run(["git", "symbolic-ref", "--short", "HEAD"], cwd=work, env=env).strip()


def build_helm_repo(dest: Path) -> None:
    """`helm package` the newest version of each chart source and `helm repo index` them (relative URLs)."""
    helm = str(VENV_BIN / "helm")
    for old in dest.iterdir():
        old.unlink()
    for repo in CHART_REPOS:
        run([helm, "package", str(repo.source), "-d", str(dest)])
    run([helm, "repo", "index", str(dest)])


def ensure_charts(lab: LabDir) -> bool:
    """Build the git repos and the Helm repo when the chart sources changed; return True when rebuilt."""
    want = charts_hash()
    repos = [lab.git / f"{repo.name}.git" for repo in CHART_REPOS]
    have = lab.charts_stamp.read_text().strip() if lab.charts_stamp.exists() else ""
    if have == want and all(path.is_dir() for path in repos) and (lab.helmrepo / "index.yaml").exists():
        return False
    for repo, path in zip(CHART_REPOS, repos):
        build_git_repo(repo, path)
    build_helm_repo(lab.helmrepo)
    write_text(lab.charts_stamp, want + "\n")
    return True


def git_url(lab: LabDir, name: str) -> str:
    return (lab.git / f"{name}.git").as_uri()


# ----------------------------------------------------------------------------------------------------------------
# kubeconfig and env file


def env_vars(lab: LabDir, records: dict[str, dict]) -> dict[str, str]:
    moto = records["moto"]["url"]
    return {
        "KUBECONFIG": str(lab.kubeconfig),
        "K8S_AUTH_KUBECONFIG": str(lab.kubeconfig),
        "PORTKEY_LAB_API_URL": records["apiserver"]["url"],
        "AWS_URL": moto,
        "AWS_ENDPOINT_URL": moto,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "PORTKEY_LAB_REDIS_HOST": "localhost",
        "PORTKEY_LAB_REDIS_PORT": str(records["redis"]["port"]),
        "PORTKEY_LAB_REDIS_CA": str(lab.redis / "ca.crt"),
        "PORTKEY_LAB_REDIS_PASSWORD": redis_password(lab),
        "PORTKEY_LAB_GATEWAY_URL": records["gateway"]["url"],
        "PORTKEY_LAB_CHART_GIT_LEGACY": git_url(lab, "helm-chart"),
        "PORTKEY_LAB_CHART_GIT_CURRENT": git_url(lab, "helm"),
        "PORTKEY_LAB_HELM_REPO_URL": records["helmrepo"]["url"],
        "PORTKEY_LAB_DIR": str(lab.root),
        # Stand-ins for the vault values of inventories/lab (a real inventory keeps them in Ansible Vault).
        "PORTKEY_LAB_CLIENT_AUTH": lab_secret(lab.root / "secrets" / "client-auth"),
        "PORTKEY_LAB_REGISTRY_PASSWORD": lab_secret(lab.root / "secrets" / "registry-password"),
    }


# ----------------------------------------------------------------------------------------------------------------
# Commands


def report(name: str, record: dict, started: bool) -> None:
    state = "started" if started else "running"
    print(f"{name:<16} {state:<8} pid {record['pid']:<8} {record['url']}")


def cmd_up(lab: LabDir) -> None:
    require_tools(["node", "redis-server", "git", "openssl"])
    require_apiserver()
    lab.prepare()
    ensure_redis_certs(lab)
    if ensure_charts(lab):
        print(f"{'charts':<16} built    {lab.git} {lab.helmrepo}")
    records = {}
    for service in (gateway_service(lab), moto_service(lab), redis_service(lab), helmrepo_service(lab)):
        records[service.name], started = service.ensure()
        report(service.name, records[service.name], started)
    apiserver = apiserver_service(lab, DEFAULT_CLUSTER, records["gateway"]["url"])
    records["apiserver"], started = apiserver.ensure()
    report(apiserver.name, records["apiserver"], started)
    write_text(lab.kubeconfig, kubeconfig_text(DEFAULT_CLUSTER, records["apiserver"]["url"],
                                               apiserver_token(apiserver_state(lab, DEFAULT_CLUSTER))), 0o600)
    write_text(lab.env_file, env_text(env_vars(lab, records)), 0o600)
    ensure_clusters(lab, extra_clusters(lab), records["gateway"]["url"])
    print(f"env: {lab.env_file}")


def ensure_clusters(lab: LabDir, names: list[str], gateway_url: str) -> None:
    """Start (or keep) one emulator per extra cluster, pointed at the current gateway."""
    for name in names:
        service = apiserver_service(lab, name, gateway_url)
        record, started = service.ensure()
        write_text(lab.cluster_dir(name) / "kubeconfig",
                   kubeconfig_text(name, record["url"], apiserver_token(apiserver_state(lab, name)),
                                   eks_sts_url(lab, name), lab.redis / "ca.crt"), 0o600)
        report(service.name, record, started)


def extra_clusters(lab: LabDir) -> list[str]:
    if not lab.clusters.is_dir():
        return []
    return sorted(path.name for path in lab.clusters.iterdir() if (path / "pid.json").exists())


def cmd_down(lab: LabDir) -> None:
    for name in extra_clusters(lab):
        stop_and_report(f"apiserver-{name}", lab.cluster_dir(name) / "pid.json")
        forget_objects(lab, name)
    for name in ("apiserver", "helmrepo", "redis", "moto", "gateway"):
        stop_and_report(name, lab.record(name))
    forget_objects(lab, DEFAULT_CLUSTER)


def stop_and_report(name: str, record: Path) -> None:
    if record.exists():
        print(f"{name:<16} {'stopped' if stop_record(record) else 'was not running'}")


def running_gateway_url(lab: LabDir) -> str:
    record = read_json(lab.record("gateway"))
    if not is_alive(record):
        raise LabError("the lab gateway is not running: run `labctl.py up` first")
    return record["url"]


def check_cluster_name(name: str) -> None:
    if name == DEFAULT_CLUSTER:
        raise LabError(f"cluster {DEFAULT_CLUSTER!r} is the default cluster, started by `up`")
    if not CLUSTER_NAME.match(name):
        raise LabError(f"bad cluster name {name!r}: use lowercase letters, digits and '-' (max 32)")


def cmd_cluster_up(lab: LabDir, names: list[str], eks: bool = False) -> None:
    for name in names:
        check_cluster_name(name)
    require_apiserver()
    if eks and not AWS_CLI.exists():
        raise LabError(f"--eks needs the AWS CLI at {AWS_CLI}: run `make bootstrap`")
    for name in names:
        profile = lab.cluster_dir(name) / "profile"
        if eks:
            profile.parent.mkdir(parents=True, exist_ok=True)
            write_text(profile, "eks\n")
        else:
            profile.unlink(missing_ok=True)
    ensure_clusters(lab, names, running_gateway_url(lab))


def cmd_cluster_down(lab: LabDir, names: list[str]) -> None:
    for name in names:
        check_cluster_name(name)
        stop_and_report(f"apiserver-{name}", lab.cluster_dir(name) / "pid.json")
        forget_objects(lab, name)


def cmd_status(lab: LabDir) -> dict:
    gateway = read_json(lab.record("gateway")) or {}
    services = [gateway_service(lab), moto_service(lab), helmrepo_service(lab),
                apiserver_service(lab, DEFAULT_CLUSTER, gateway.get("url", ""))]
    if (lab.redis / "password").exists():
        services.insert(2, redis_service(lab))
    out = {
        "lab_dir": str(lab.root),
        "env_file": str(lab.env_file) if lab.env_file.exists() else None,
        "kubeconfig": str(lab.kubeconfig) if lab.kubeconfig.exists() else None,
        "services": {s.name.removesuffix(f"-{DEFAULT_CLUSTER}"): s.status() for s in services},
        "clusters": {},
        "charts": {"git": {repo.name: git_url(lab, repo.name) for repo in CHART_REPOS},
                   "helm_repo_dir": str(lab.helmrepo),
                   "built": lab.charts_stamp.exists()},
    }
    for name in extra_clusters(lab):
        status = apiserver_service(lab, name, gateway.get("url", "")).status()
        status["kubeconfig"] = str(lab.cluster_dir(name) / "kubeconfig")
        out["clusters"][name] = status
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    default_dir = os.environ.get("PORTKEY_LAB_DIR") or str(ROOT / ".lab")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lab-dir", default=argparse.SUPPRESS, help=f"lab state folder (default {default_dir})")
    parser = argparse.ArgumentParser(prog="labctl.py", description=__doc__.splitlines()[0], parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", parents=[common], help="start everything (idempotent)")
    sub.add_parser("down", parents=[common], help="stop everything up/cluster-up started")
    sub.add_parser("status", parents=[common], help="print JSON of what runs")
    sub.add_parser("env", parents=[common], help="print the env file path")
    for name, text in (("cluster-up", "start one more emulator per NAME"), ("cluster-down", "stop them")):
        sub.add_parser(name, parents=[common], help=text).add_argument("names", nargs="+", metavar="NAME")
    sub.choices["cluster-up"].add_argument(
        "--eks", action="store_true",
        help="production profile: EKS token auth (kubeconfig with the `aws eks get-token` exec plugin)")
    args = parser.parse_args(argv)
    args.lab_dir = Path(getattr(args, "lab_dir", default_dir)).resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    lab = LabDir(args.lab_dir)
    try:
        if args.command == "env":
            print(lab.env_file)
            return 0
        if args.command == "status":
            print(json.dumps(cmd_status(lab), indent=2))
            return 0
        if args.command in ("down", "cluster-down") and not lab.root.exists():
            return 0
        with locked(lab):
            if args.command == "up":
                cmd_up(lab)
            elif args.command == "down":
                cmd_down(lab)
            elif args.command == "cluster-up":
                cmd_cluster_up(lab, args.names, args.eks)
            else:
                cmd_cluster_down(lab, args.names)
    except LabError as exc:
        print(f"labctl: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
