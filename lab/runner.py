"""ONE way to run a playbook of this collection for the tests and the bench (docs/dev/testing.md, "Test harness").

- playbook_env(): the environment: the caller's (os.environ by default) with the venv's bin first on PATH,
  ANSIBLE_CONFIG=ansible.cfg (the checkout's collections path), no colour, and the AWS call log (every AWS API call
  the modules make is appended to $PORTKEY_AWS_CALL_LOG by tests/integration/aws_calls/sitecustomize.py, which
  PYTHONPATH puts in front); a lab's variables come in through `base` (lab.services.lab_env()).
- playbook_argv(): `ansible-playbook <playbook> -i <inventory> ...` (a playbook path relative to the checkout, or a
  collection playbook name such as portkey_ai.gateway.site).
- run_playbook() runs it and returns a PlaybookRun (rc, stdout, stderr, the PLAY RECAP counts per host, the JSON
  callback's document); start_playbook() / finish() do the same in two steps, for a run that a test interrupts.
- parse_recap(): PLAY RECAP lines -> {host: {ok, changed, unreachable, failed, skipped, rescued, ignored}}.

Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
ANSIBLE_CFG = ROOT / "ansible.cfg"
AWS_CALL_HOOK = ROOT / "tests" / "integration" / "aws_calls"   # sitecustomize.py: logs each botocore call
DEFAULT_AWS_CALL_LOG = ROOT / "tests" / "output" / "aws-calls.log"
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)"
                   r"\s+ignored=(?P<ignored>\d+)", re.M)


def parse_recap(text: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines of the default callback -> {host: {ok, changed, unreachable, failed, skipped, rescued,
    ignored}}."""
    return {m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"} for m in RECAP.finditer(text)}


def aws_call_env(log: Path | str | None = None, base: dict | None = None) -> dict[str, str]:
    """PORTKEY_AWS_CALL_LOG and a PYTHONPATH with the call-logging hook first (base's PYTHONPATH kept after it)."""
    base = os.environ if base is None else base
    log = log or base.get("PORTKEY_AWS_CALL_LOG") or DEFAULT_AWS_CALL_LOG
    paths = [str(AWS_CALL_HOOK)] + [p for p in base.get("PYTHONPATH", "").split(os.pathsep)
                                    if p and p != str(AWS_CALL_HOOK)]
    return {"PORTKEY_AWS_CALL_LOG": str(log), "PYTHONPATH": os.pathsep.join(paths)}


def playbook_env(extra: dict | None = None, base: dict | None = None, aws_call_log: Path | str | None = None,
                 aws_calls: bool = True) -> dict[str, str]:
    """The environment of an ansible-playbook run: base (default os.environ; pass lab.services.lab_env() for a lab
    that is not exported), the venv first on PATH, ANSIBLE_CONFIG, ANSIBLE_NOCOLOR, the AWS call log (not with
    aws_calls=False: the bench measures without the hook); then extra."""
    base = dict(os.environ if base is None else base)
    env = {**base, **(aws_call_env(aws_call_log, base) if aws_calls else {})}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{base.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ANSIBLE_CFG)
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra or {})
    return env


def playbook_argv(playbook: str | Path, inventory: str | Path, *args: str) -> list[str]:
    """ansible-playbook argv; a relative playbook path is taken from the checkout (a dotted collection playbook
    name such as portkey_ai.gateway.site is passed as it is)."""
    path = Path(playbook)
    if not path.is_absolute() and (ROOT / path).exists():
        playbook = str(ROOT / path)
    return [str(VENV_BIN / "ansible-playbook"), str(playbook), "-i", str(inventory), *args]


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    started: float = 0.0   # time.time() around the run: the window of its requests in the emulator's log
    ended: float = 0.0

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return parse_recap(self.stdout)

    def changed(self, host: str = "lab") -> int:
        return self.recap[host]["changed"]

    def failed(self, host: str = "lab") -> int:
        return self.recap[host]["failed"]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def json(self) -> dict:
        """The run as a JSON callback printed it (ANSIBLE_STDOUT_CALLBACK=ansible.builtin.json / ansible.posix.json);
        anything printed before the opening brace is skipped."""
        start = self.stdout.find("{")
        if start < 0:
            raise ValueError(f"no JSON document in the output:\n{self.output[-2000:]}")
        return json.loads(self.stdout[start:])

    def failures(self) -> dict[str, list[dict]]:
        """host -> [{task, msg, errors}] of every failed task result (JSON callback runs only)."""
        found: dict[str, list[dict]] = {}
        for play in self.json.get("plays", []):
            for task in play.get("tasks", []):
                for host, res in task.get("hosts", {}).items():
                    if res.get("failed") or res.get("unreachable"):
                        found.setdefault(host, []).append({"task": task["task"]["name"],
                                                           "msg": str(res.get("msg", "")),
                                                           "errors": res.get("errors") or []})
        return found

    def stats(self) -> dict[str, dict[str, int]]:
        """host -> {ok, changed, failures, ...} (JSON callback runs only)."""
        return self.json.get("stats", {})


def run_playbook(playbook: str | Path, inventory: str | Path, *args: str, env: dict | None = None,
                 base: dict | None = None, timeout: float = 300, cwd: Path = ROOT) -> PlaybookRun:
    """Run a playbook (see playbook_argv / playbook_env) and return its PlaybookRun (stdout and stderr captured)."""
    started = time.time()
    proc = subprocess.run(playbook_argv(playbook, inventory, *args), cwd=cwd, env=playbook_env(env, base),
                          capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, started, time.time())


def start_playbook(playbook: str | Path, inventory: str | Path, *args: str, env: dict | None = None,
                   base: dict | None = None, cwd: Path = ROOT) -> subprocess.Popen:
    """Start a playbook in the background, in a session of its own (a test may signal it, or its process group),
    stdout and stderr piped; finish() waits for it. The Popen carries .started (time.time())."""
    proc = subprocess.Popen(playbook_argv(playbook, inventory, *args), cwd=cwd, env=playbook_env(env, base),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    proc.started = time.time()
    return proc


def finish(proc: subprocess.Popen, timeout: float = 300) -> PlaybookRun:
    """Wait for a start_playbook() run. After timeout its process group is killed and subprocess.TimeoutExpired
    raised (its .output: what the run printed)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        exc.output = (out or "") + (err or "")
        raise
    return PlaybookRun(proc.returncode, out, err, getattr(proc, "started", 0.0), time.time())
