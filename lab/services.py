"""The lab's services, for labctl, the tests and the bench (see docs/dev/testing.md, "Test harness").

One owner for:
- the lab folder's layout (LabDir) and the ONE parser of its env file (`export KEY='value'` lines, written by
  `labctl up`): parse_env / read_env / lab_env;
- ONE launcher per service: the Kubernetes API emulator (lab.apiserver), Redis with TLS, moto's server, the
  Portkey gateway (node), the Helm repository (http.server). labctl keeps them running with a record file per
  process (Service); a test or the bench that needs its own short-lived copy uses the same argv and health check
  through start_* (a Started process, stopped on exit of its `with` block);
- `labctl` itself as a command (labctl()), for tests and the bench that start extra clusters.

Standard library + PyYAML only (labctl runs before anything else is set up).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shlex
import signal
import socket
import ssl
import subprocess
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
GATEWAY_JS = ROOT / "lab/gateway/node_modules/@portkey-ai/gateway/build/start-server.js"
LABCTL = ROOT / "lab" / "labctl.py"
HOST = "127.0.0.1"
DEFAULT_CLUSTER = "lab"
APISERVER_MODULE = os.environ.get("PORTKEY_LAB_APISERVER_MODULE", "lab.apiserver")
START_TIMEOUT = 60.0      # seconds a new process gets to answer its health check
RUNNING_TIMEOUT = 5.0     # seconds an already running process gets before it is restarted
STOP_TIMEOUT = 10.0       # seconds between SIGTERM and SIGKILL
POLL = 0.1


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


def run(argv: list[str], cwd: Path | None = None, env: dict | None = None) -> str:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"{shlex.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


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


# ONE launcher per service: its command line, health check and URL. labctl's Service records and the start_*
# helpers below (a test's or the bench's own short-lived copy) both build on these.


def gateway_argv(port: int) -> list[str]:
    return ["node", str(GATEWAY_JS), f"--port={port}"]


def gateway_healthy(port: int) -> bool:
    return http_ok(f"http://{HOST}:{port}/")


def moto_argv(port: int) -> list[str]:
    return [str(VENV_BIN / "moto_server"), "-H", HOST, "-p", str(port)]


def moto_healthy(port: int) -> bool:
    return http_ok(f"http://{HOST}:{port}/moto-api/data.json")


def helmrepo_argv(directory: Path, port: int) -> list[str]:
    return [str(VENV_BIN / "python"), "-m", "http.server", "--bind", HOST, "--directory", str(directory), str(port)]


def redis_argv(conf: Path) -> list[str]:
    """redis-server with a config file (the password stays out of the command line, which /proc shows)."""
    return ["redis-server", str(conf)]


def apiserver_argv(state: Path, port: int, *extra: str, module: str = APISERVER_MODULE) -> list[str]:
    """The Kubernetes API emulator (`python -m lab.apiserver`); it writes the port it listens on to state/port."""
    return [str(VENV_BIN / "python"), "-m", module, "--host", HOST, "--port", str(port), "--state-dir", str(state),
            *extra]


def apiserver_healthy(port: int, scheme: str = "http", cafile: Path | None = None) -> bool:
    return http_ok(f"{scheme}://{HOST}:{port}/_lab/healthz", cafile=cafile)


def gateway_service(lab: LabDir) -> Service:
    return Service(
        name="gateway", record=lab.record("gateway"), log=lab.logs / "gateway.log", argv=gateway_argv,
        healthy=gateway_healthy, url=lambda port: f"http://{HOST}:{port}", all_interfaces=True)


def moto_service(lab: LabDir) -> Service:
    return Service(
        name="moto", record=lab.record("moto"), log=lab.logs / "moto.log", argv=moto_argv,
        healthy=moto_healthy, url=lambda port: f"http://{HOST}:{port}")


def helmrepo_service(lab: LabDir) -> Service:
    return Service(
        name="helmrepo", record=lab.record("helmrepo"), log=lab.logs / "helmrepo.log",
        argv=lambda port: helmrepo_argv(lab.helmrepo, port),
        healthy=lambda port: http_ok(f"http://{HOST}:{port}/index.yaml"),
        url=lambda port: f"http://{HOST}:{port}/")


def redis_service(lab: LabDir) -> Service:
    password = redis_password(lab)
    ca = lab.redis / "ca.crt"
    return Service(
        name="redis", record=lab.record("redis"), log=lab.logs / "redis.log",
        argv=lambda port: redis_argv(write_redis_conf(lab.redis, port, password)),
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
        return apiserver_argv(state, port, "--gateway-url", gateway_url, "--cluster-name", cluster, "--persist",
                              "--token-file", str(state / "token"), *auth)
    config = {"gateway_url": gateway_url, "cluster": cluster, **({"sts_url": sts_url} if sts_url else {})}
    return Service(
        name=f"apiserver-{cluster}", record=record, log=log, argv=argv,
        healthy=lambda port: apiserver_healthy(port, scheme, cafile),
        url=lambda port: f"{scheme}://{HOST}:{port}", config=config,
        port_file=state / "port")


# ----------------------------------------------------------------------------------------------------------------
# Secrets and TLS material


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
    ensure_tls_certs(lab.redis)


def ensure_tls_certs(d: Path) -> None:
    """In folder d: a self-signed CA (ca.crt) and a server certificate for localhost/127.0.0.1 signed by it
    (server.crt, server.key); made once."""
    if all((d / name).exists() for name in ("ca.crt", "server.crt", "server.key")):
        return
    d.mkdir(parents=True, exist_ok=True)
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


def write_redis_conf(d: Path, port: int, password: str | None, tls: bool = True, name: str = "redis.conf") -> Path:
    """A redis.conf in folder d (0600: the password goes here, not on the command line, which /proc shows). tls:
    TLS only, with d's server certificate (ensure_tls_certs); else plain TCP. password None: no AUTH."""
    listen = ["port 0", f"tls-port {port}", f"tls-cert-file {d / 'server.crt'}", f"tls-key-file {d / 'server.key'}",
              f"tls-ca-cert-file {d / 'ca.crt'}", "tls-auth-clients no"] if tls else [f"port {port}"]
    auth = [f"requirepass {password}"] if password else []
    conf = d / name
    write_text(conf, "\n".join([
        *listen, f"bind {HOST}", "protected-mode yes" if password else "protected-mode no", *auth,
        "save \"\"", "appendonly no", f"dir {d}", "daemonize no", "",
    ]), 0o600)
    return conf


# ----------------------------------------------------------------------------------------------------------------
# kubeconfig and env file: the writer (labctl up) and the ONE parser (run_tests, the tests, the bench)


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


def env_text(values: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in values.items())


def parse_env(text: str) -> dict[str, str]:
    """The variables of an env file as env_text writes it (`export KEY=<shell-quoted value>` lines; blank lines and
    `#` comments ignored). Values are unquoted as the shell would (shlex), so any value env_text wrote reads back."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            raise LabError(f"env file line {number} is not `export KEY=value`: {raw!r}")
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise LabError(f"env file line {number} ({key}): {exc}") from None
        if len(words) > 1:
            raise LabError(f"env file line {number} ({key}): more than one word (unquoted spaces)")
        values[key] = words[0] if words else ""
    return values


def default_lab_dir() -> Path:
    """$PORTKEY_LAB_DIR, else .lab/ in the repository (labctl's --lab-dir default)."""
    return Path(os.environ.get("PORTKEY_LAB_DIR") or ROOT / ".lab").resolve()


def read_env(lab_dir: Path | None = None) -> dict[str, str]:
    """The variables `labctl up` wrote for the lab in lab_dir (default: default_lab_dir())."""
    path = LabDir(lab_dir or default_lab_dir()).env_file
    try:
        return parse_env(path.read_text())
    except FileNotFoundError:
        raise LabError(f"{path} is missing: start the lab first (`make lab-up`, or "
                       f"`PORTKEY_LAB_DIR={path.parent} .venv/bin/python lab/labctl.py up`)") from None


def lab_env(lab_dir: Path | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """base (default os.environ) with the lab's variables on top: the environment of a process that uses the lab."""
    return {**(os.environ if base is None else base), **read_env(lab_dir)}


# ----------------------------------------------------------------------------------------------------------------
# Short-lived copies of a service (a test's or the bench's own, outside any lab folder)


@dataclass
class Started:
    """A process start_* launched: its port and URL; stop() (or the end of a `with` block) ends its process group."""

    name: str
    proc: subprocess.Popen
    port: int
    url: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)   # variables a client of this service needs

    def stop(self) -> None:
        if self.proc.poll() is None:
            signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)

    def __enter__(self) -> "Started":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def launch(name: str, argv: list[str], log: Path, port: int, healthy: Callable[[int], bool], url: Callable[[int], str],
           port_file: Path | None = None, env: dict | None = None, timeout: float = START_TIMEOUT) -> Started:
    """Start argv (its own process group, output to log) and wait until healthy(port) answers; with port_file, the
    process picks its port and writes it there. Raises LabError with the log's tail when it exits or never answers."""
    if port_file:
        port_file.unlink(missing_ok=True)
    proc = spawn(argv, log, env)
    started = Started(name, proc, port, url(port), log)
    try:
        if port_file:
            def written() -> bool:
                text = port_file.read_text().strip() if port_file.exists() else ""
                return text.isdigit() and int(text) > 0
            if not wait_for(written, timeout, proc):
                raise LabError(f"{name} wrote no port to {port_file}; log {log}:\n{log_tail(log)}")
            started.port = int(port_file.read_text().strip())
            started.url = url(started.port)
        if not wait_for(lambda: healthy(started.port), timeout, proc):
            state = f"exited with {proc.returncode}" if proc.poll() is not None else "does not answer"
            raise LabError(f"{name} {state} (port {started.port}); log {log}:\n{log_tail(log)}")
    except BaseException:
        started.stop()
        raise
    return started


def start_moto(workdir: Path) -> Started:
    """moto's server on a free port; env: AWS_URL / AWS_ENDPOINT_URL."""
    port = pick_port()
    started = launch("moto", moto_argv(port), workdir / "moto.log", port, moto_healthy, lambda p: f"http://{HOST}:{p}")
    started.env = {"AWS_URL": started.url, "AWS_ENDPOINT_URL": started.url}
    return started


def start_apiserver(state: Path, *extra: str, token: str | None = None, log: Path | None = None,
                    env: dict | None = None) -> Started:
    """The Kubernetes API emulator with state dir `state` (extra: more emulator options, e.g. --gateway-url, --persist);
    with token, a kubeconfig (state/kubeconfig) carrying it. env: KUBECONFIG / K8S_AUTH_KUBECONFIG when written."""
    state.mkdir(parents=True, exist_ok=True)
    started = launch("apiserver", apiserver_argv(state, 0, *extra), log or state.parent / f"{state.name}.log", 0,
                     apiserver_healthy, lambda p: f"http://{HOST}:{p}", port_file=state / "port", env=env)
    if token is not None:
        kubeconfig = state / "kubeconfig"
        write_text(kubeconfig, kubeconfig_text("lab", started.url, token), 0o600)
        started.env = {"KUBECONFIG": str(kubeconfig), "K8S_AUTH_KUBECONFIG": str(kubeconfig)}
    return started


def start_redis(workdir: Path, password: str | None, tls: bool = True, name: str = "redis") -> Started:
    """redis-server on a free port: TLS only with workdir's lab CA (ensure_tls_certs) or plain TCP; password None:
    no AUTH. env: the PORTKEY_LAB_REDIS_* variables of a TLS instance."""
    workdir.mkdir(parents=True, exist_ok=True)
    if tls:
        ensure_tls_certs(workdir)
    port = pick_port()
    conf = write_redis_conf(workdir, port, password, tls, name=f"{name}.conf")
    if tls and password:
        def healthy(p: int) -> bool:
            return redis_ping(p, workdir / "ca.crt", password)
    else:
        def healthy(p: int) -> bool:
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, p), timeout=0.5).close()
                return True
            return False
    started = launch(name, redis_argv(conf), workdir / f"{name}.log", port, healthy,
                     lambda p: f"{'rediss' if tls else 'redis'}://localhost:{p}")
    if tls:
        started.env = {"PORTKEY_LAB_REDIS_HOST": "localhost", "PORTKEY_LAB_REDIS_PORT": str(port),
                       "PORTKEY_LAB_REDIS_CA": str(workdir / "ca.crt"),
                       **({"PORTKEY_LAB_REDIS_PASSWORD": password} if password else {})}
    return started


def labctl(*args: str, lab_dir: Path | None = None, env: dict | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    """Run lab/labctl.py (e.g. cluster-up NAME) on lab_dir (default: default_lab_dir()); env is added to this
    process's environment (it reaches the emulators labctl starts). Raises LabError when it fails."""
    argv = [str(VENV_BIN / "python"), str(LABCTL), "--lab-dir", str(lab_dir or default_lab_dir()), *args]
    proc = subprocess.run(argv, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise LabError(f"labctl {' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc
