#!/usr/bin/env python3
"""Start, stop and inspect the local lab (see lab/README.md).

Run from the repository root with the project venv:  .venv/bin/python lab/labctl.py up|down|status|env|...
Everything the lab runs listens on 127.0.0.1 (except the npm gateway, which has no host flag) and keeps its
state, logs and process records under one folder (default .lab/, or --lab-dir / PORTKEY_LAB_DIR).
Standard library + PyYAML only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
AWS_CLI = ROOT / ".tools" / "awscli" / "bin" / "aws"   # scripts/bootstrap.sh installs it (requirements/awscli.txt)
EKS_REGION = "us-east-1"
CHARTS = ROOT / "lab" / "charts"
GATEWAY_JS = ROOT / "lab/gateway/node_modules/@portkey-ai/gateway/build/start-server.js"
HOST = "127.0.0.1"
DEFAULT_CLUSTER = "lab"
APISERVER_MODULE = os.environ.get("PORTKEY_LAB_APISERVER_MODULE", "lab.apiserver")
START_TIMEOUT = 60.0      # seconds a new process gets to answer its health check
RUNNING_TIMEOUT = 5.0     # seconds an already running process gets before it is restarted
STOP_TIMEOUT = 10.0       # seconds between SIGTERM and SIGKILL
POLL = 0.1
CLUSTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")


class LabError(Exception):
    """A failure with a message meant for the user."""


# ----------------------------------------------------------------------------------------------------------------
# Paths


@dataclass(frozen=True)
class LabDir:
    root: Path

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def redis(self) -> Path:
        return self.root / "redis"

    @property
    def git(self) -> Path:
        return self.root / "git"

    @property
    def helmrepo(self) -> Path:
        return self.root / "helmrepo"

    @property
    def clusters(self) -> Path:
        return self.root / "clusters"

    @property
    def env_file(self) -> Path:
        return self.root / "env"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def charts_stamp(self) -> Path:
        return self.root / "charts.sha256"

    def record(self, name: str) -> Path:
        return self.run / f"{name}.json"

    def cluster_dir(self, name: str) -> Path:
        return self.clusters / name

    def prepare(self) -> None:
        for path in (self.root, self.run, self.logs, self.redis, self.git, self.helmrepo, self.clusters):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.redis, 0o700)


# ----------------------------------------------------------------------------------------------------------------
# Small file helpers


def write_text(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write atomically with `mode`; return False (and touch nothing) when the content is already there."""
    if path.exists() and path.read_text() == text and (path.stat().st_mode & 0o777) == mode:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@contextlib.contextmanager
def locked(lab: LabDir):
    """Serialise labctl commands on one lab dir."""
    lab.root.mkdir(parents=True, exist_ok=True)
    with open(lab.root / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# ----------------------------------------------------------------------------------------------------------------
# Processes: a record file per process ({pid, starttime, argv, port, url, log, config}); the pair (pid, starttime
# from /proc/PID/stat) identifies the process, so a recycled pid is never signalled.


def proc_starttime(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a live, non-zombie process, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_alive(record: dict | None) -> bool:
    return bool(record) and proc_starttime(record["pid"]) == record["starttime"]


def spawn(argv: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} {shlex.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT, env=env, start_new_session=True)


def stop_record(path: Path) -> bool:
    """Stop the process of a record file (its whole process group) if it is still the same process."""
    record = read_json(path)
    stopped = False
    if is_alive(record):
        stopped = True
        signal_group(record["pid"], signal.SIGTERM)
        if not wait_for(lambda: not is_alive(record), STOP_TIMEOUT):
            signal_group(record["pid"], signal.SIGKILL)
            if not wait_for(lambda: not is_alive(record), STOP_TIMEOUT):
                raise LabError(f"process {record['pid']} ({path.stem}) did not stop")
    path.unlink(missing_ok=True)
    return stopped


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def wait_for(check: Callable[[], bool], timeout: float, proc: subprocess.Popen | None = None) -> bool:
    """Poll `check` until it is true (True) or `timeout` passes or `proc` exits (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline or (proc is not None and proc.poll() is not None):
            return False
        time.sleep(POLL)


# ----------------------------------------------------------------------------------------------------------------
# Ports and health checks


def port_free(port: int, all_interfaces: bool = False) -> bool:
    family, addr = (socket.AF_INET6, "::") if all_interfaces and socket.has_ipv6 else (socket.AF_INET, HOST)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            sock.bind((addr, port))
        except OSError:
            return False
    return True


def pick_port(preferred: int | None = None, all_interfaces: bool = False) -> int:
    """The preferred port when it is still free (keeps URLs stable across restarts), else a fresh free one."""
    if preferred and port_free(preferred, all_interfaces):
        return preferred
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
        if port_free(port, all_interfaces):
            return port
    raise LabError("no free port found on 127.0.0.1")


def http_ok(url: str, timeout: float = 1.0, cafile: Path | None = None) -> bool:
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def resp(*parts: str) -> bytes:
    out = f"*{len(parts)}\r\n"
    for part in parts:
        out += f"${len(part.encode())}\r\n{part}\r\n"
    return out.encode()


def redis_ping(port: int, ca: Path, password: str, timeout: float = 1.0) -> bool:
    """AUTH + PING over TLS, verifying the server certificate against the lab CA."""
    try:
        context = ssl.create_default_context(cafile=str(ca))
        with socket.create_connection((HOST, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(resp("AUTH", password) + resp("PING"))
                data = b""
                while b"PONG" not in data and len(data) < 4096:
                    chunk = sock.recv(1024)
                    if not chunk:
                        break
                    data += chunk
        return data.startswith(b"+OK\r\n+PONG")
    except (OSError, ssl.SSLError):
        return False


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
# Services


@dataclass
class Service:
    """A long-running process of the lab, kept by a record file."""

    name: str
    record: Path
    log: Path
    argv: Callable[[int], list[str]]           # port -> command line
    healthy: Callable[[int], bool]             # port -> answers?
    url: Callable[[int], str]
    config: dict = field(default_factory=dict)  # a running process with another config is restarted
    all_interfaces: bool = False
    port_file: Path | None = None              # the process picks its port and writes it here

    def running_port(self) -> int | None:
        """Port of the recorded process when it is alive, has this config and answers in time."""
        record = read_json(self.record)
        if not is_alive(record) or record.get("config") != self.config or not record.get("port"):
            return None
        port = record["port"]
        return port if wait_for(lambda: self.healthy(port), RUNNING_TIMEOUT) else None

    def ensure(self) -> tuple[dict, bool]:
        """Make the service run and answer; return (record, started_now)."""
        port = self.running_port()
        if port:
            return read_json(self.record), False
        previous = read_json(self.record) or {}
        stop_record(self.record)
        return self.start(self.next_port(previous.get("port"))), True

    def next_port(self, previous: int | None) -> int:
        """Reuse the previous port when free; a process that reports its own port gets 0 (it picks) otherwise."""
        if self.port_file:
            return previous if previous and port_free(previous) else 0
        return pick_port(previous, self.all_interfaces)

    def start(self, port: int) -> dict:
        if self.port_file:
            self.port_file.unlink(missing_ok=True)
        argv = self.argv(port)
        proc = spawn(argv, self.log)
        starttime = wait_starttime(proc)
        record = {"name": self.name, "pid": proc.pid, "starttime": starttime, "argv": argv, "port": port,
                  "url": self.url(port), "log": str(self.log), "config": self.config}
        write_text(self.record, json.dumps(record, indent=2) + "\n")
        if self.port_file:
            port = self.wait_port_file(proc)
            record.update(port=port, url=self.url(port))
            write_text(self.record, json.dumps(record, indent=2) + "\n")
        if not wait_for(lambda: self.healthy(port), START_TIMEOUT, proc):
            state = f"exited with {proc.returncode}" if proc.poll() is not None else "does not answer"
            stop_record(self.record)
            raise LabError(f"{self.name} {state} (port {port}); log {self.log}:\n{log_tail(self.log)}")
        return record

    def wait_port_file(self, proc: subprocess.Popen) -> int:
        def ready() -> bool:
            text = self.port_file.read_text().strip() if self.port_file.exists() else ""
            return text.isdigit() and int(text) > 0
        if not wait_for(ready, START_TIMEOUT, proc):
            stop_record(self.record)
            raise LabError(f"{self.name} wrote no port to {self.port_file}; log {self.log}:\n{log_tail(self.log)}")
        return int(self.port_file.read_text().strip())

    def status(self) -> dict:
        record = read_json(self.record)
        alive = is_alive(record)
        out = {"running": alive, "log": str(self.log)}
        if record:
            out.update(pid=record["pid"], port=record["port"], url=record["url"])
            out["healthy"] = alive and self.healthy(record["port"])
        return out


def wait_starttime(proc: subprocess.Popen) -> int:
    starttime = None

    def seen() -> bool:
        nonlocal starttime
        starttime = proc_starttime(proc.pid)
        return starttime is not None
    if not wait_for(seen, 5.0, proc):
        raise LabError(f"{shlex.join(proc.args)} exited at once with {proc.poll()}")
    return starttime


def gateway_service(lab: LabDir) -> Service:
    return Service(
        name="gateway", record=lab.record("gateway"), log=lab.logs / "gateway.log",
        argv=lambda port: ["node", str(GATEWAY_JS), f"--port={port}"],
        healthy=lambda port: http_ok(f"http://{HOST}:{port}/"),
        url=lambda port: f"http://{HOST}:{port}", all_interfaces=True)


def moto_service(lab: LabDir) -> Service:
    return Service(
        name="moto", record=lab.record("moto"), log=lab.logs / "moto.log",
        argv=lambda port: [str(VENV_BIN / "moto_server"), "-H", HOST, "-p", str(port)],
        healthy=lambda port: http_ok(f"http://{HOST}:{port}/moto-api/data.json"),
        url=lambda port: f"http://{HOST}:{port}")


def helmrepo_service(lab: LabDir) -> Service:
    return Service(
        name="helmrepo", record=lab.record("helmrepo"), log=lab.logs / "helmrepo.log",
        argv=lambda port: [str(VENV_BIN / "python"), "-m", "http.server", "--bind", HOST,
                           "--directory", str(lab.helmrepo), str(port)],
        healthy=lambda port: http_ok(f"http://{HOST}:{port}/index.yaml"),
        url=lambda port: f"http://{HOST}:{port}/")


def redis_service(lab: LabDir) -> Service:
    password = redis_password(lab)
    ca = lab.redis / "ca.crt"

    def argv(port: int) -> list[str]:
        return ["redis-server", str(write_redis_conf(lab, port, password))]
    return Service(
        name="redis", record=lab.record("redis"), log=lab.logs / "redis.log", argv=argv,
        healthy=lambda port: redis_ping(port, ca, password),
        url=lambda port: f"rediss://localhost:{port}")


def eks_sts_url(lab: LabDir, cluster: str) -> str | None:
    """moto's URL when the cluster has the production profile (EKS token auth, `cluster-up --eks`), else None."""
    if cluster == DEFAULT_CLUSTER or not (lab.cluster_dir(cluster) / "profile").exists():
        return None
    return (read_json(lab.record("moto")) or {}).get("url") or f"http://{HOST}:0"  # no moto: nothing accepted


def apiserver_service(lab: LabDir, cluster: str, gateway_url: str) -> Service:
    state = apiserver_state(lab, cluster)
    record = lab.record("apiserver") if cluster == DEFAULT_CLUSTER else state / "pid.json"
    log = lab.logs / "apiserver.log" if cluster == DEFAULT_CLUSTER else state / "apiserver.log"
    sts_url = eks_sts_url(lab, cluster)
    # EKS profile: https (client-go runs exec plugins only for https servers) with the lab CA's localhost cert
    auth = ["--sts-url", sts_url, "--tls-cert",
            str(lab.redis / "server.crt"), "--tls-key", str(lab.redis / "server.key")] if sts_url else []
    scheme, cafile = ("https", lab.redis / "ca.crt") if sts_url else ("http", None)

    def argv(port: int) -> list[str]:
        state.mkdir(parents=True, exist_ok=True)
        apiserver_token(state)
        return [str(VENV_BIN / "python"), "-m", APISERVER_MODULE, "--host", HOST, "--port", str(port),
                "--state-dir", str(state), "--gateway-url", gateway_url, "--cluster-name", cluster, "--persist",
                "--token-file", str(state / "token"), *auth]
    config = {"gateway_url": gateway_url, "cluster": cluster, **({"sts_url": sts_url} if sts_url else {})}
    return Service(
        name=f"apiserver-{cluster}", record=record, log=log, argv=argv,
        healthy=lambda port: http_ok(f"{scheme}://{HOST}:{port}/_lab/healthz", cafile=cafile),
        url=lambda port: f"{scheme}://{HOST}:{port}", config=config,
        port_file=state / "port")


# ----------------------------------------------------------------------------------------------------------------
# Redis TLS material


def lab_secret(path: Path) -> str:
    """A random secret made once and kept 0600 under the lab folder (lab stand-ins for vault values)."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_text(path, secrets.token_hex(24) + "\n", 0o600)
    return path.read_text().strip()


def apiserver_token(state: Path) -> str:
    """The bearer token an emulator requires (lab/apiserver/auth.py), in its state dir; its kubeconfig carries it."""
    return lab_secret(state / "token")


def apiserver_state(lab: LabDir, cluster: str) -> Path:
    return lab.root / "apiserver" if cluster == DEFAULT_CLUSTER else lab.cluster_dir(cluster)


def forget_objects(lab: LabDir, cluster: str) -> None:
    """A cluster stopped on purpose (down / cluster-down) is deleted: the next start is empty. A killed emulator
    started again keeps its objects (objects.jsonl), as a restarted API server does."""
    (apiserver_state(lab, cluster) / "objects.jsonl").unlink(missing_ok=True)


def redis_password(lab: LabDir) -> str:
    return lab_secret(lab.redis / "password")


def ensure_redis_certs(lab: LabDir) -> None:
    """A self-signed CA and a server certificate for localhost/127.0.0.1 signed by it (made once)."""
    d = lab.redis
    if all((d / name).exists() for name in ("ca.crt", "server.crt", "server.key")):
        return
    ext = d / "server.ext"
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                   "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=Portkey lab CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt")])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-keyout", str(d / "server.key"), "-out", str(d / "server.csr")])
    run(["openssl", "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"), "-CAkey",
         str(d / "ca.key"), "-set_serial", str(secrets.randbits(63)), "-days", "3650", "-extfile", str(ext),
         "-out", str(d / "server.crt")])
    for name in ("ca.key", "server.key"):
        os.chmod(d / name, 0o600)
    (d / "server.csr").unlink()
    ext.unlink()


def write_redis_conf(lab: LabDir, port: int, password: str) -> Path:
    """The password goes in a 0600 config file, not on the command line (visible in /proc)."""
    d = lab.redis
    conf = d / "redis.conf"
    write_text(conf, "\n".join([
        "port 0", f"tls-port {port}", f"bind {HOST}", "protected-mode yes",
        f"tls-cert-file {d / 'server.crt'}", f"tls-key-file {d / 'server.key'}",
        f"tls-ca-cert-file {d / 'ca.crt'}", "tls-auth-clients no", f"requirepass {password}",
        "save \"\"", "appendonly no", f"dir {d}", "daemonize no", "",
    ]), 0o600)
    return conf


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


def run(argv: list[str], cwd: Path | None = None, env: dict | None = None) -> str:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"{shlex.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


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


def kubeconfig_text(name: str, url: str, token: str, sts_url: str | None = None,
                    ca_file: Path | None = None) -> str:
    """A static-token kubeconfig; with ``sts_url``, the EKS one: the exec plugin `aws eks get-token` (as
    `aws eks update-kubeconfig` writes it), the AWS CLI pointed at the lab's STS (moto)."""
    user: dict = {"token": token}
    cluster: dict = {"server": url}
    if sts_url:
        cluster["certificate-authority"] = str(ca_file)
        user = {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(AWS_CLI),
            "args": ["--region", EKS_REGION, "eks", "get-token", "--cluster-name", name, "--output", "json"],
            "env": [{"name": "AWS_ENDPOINT_URL_STS", "value": sts_url}], "interactiveMode": "Never"}}
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}],
        "current-context": name,
        "users": [{"name": name, "user": user}],
    }, sort_keys=False)


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


def env_text(values: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in values.items())


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
