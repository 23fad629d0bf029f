"""lab.services: the env file's parser (pure) against its writer, and the lab folder's default."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import services

VALUES = {
    "KUBECONFIG": "/lab dir/kubeconfig",                   # a space
    "PORTKEY_LAB_REDIS_PASSWORD": "it's\"a$secret`x`\\",   # quotes, $, backticks, a backslash
    "EMPTY": "",
    "AWS_URL": "http://127.0.0.1:5000",
}


def test_parse_env_reads_back_what_env_text_wrote():
    assert services.parse_env(services.env_text(VALUES)) == VALUES


def test_parse_env_skips_comments_and_blank_lines_and_accepts_lines_without_export():
    text = "# written by labctl\n\nexport A='b c'\nB=1\n  export C=\"d\"\n"
    assert services.parse_env(text) == {"A": "b c", "B": "1", "C": "d"}


@pytest.mark.parametrize("line, fragment", [
    ("export NOVALUE", "line 1 is not `export KEY=value`"),
    ("export 1X=a", "line 1 is not `export KEY=value`"),
    ("export A='unclosed", "line 1 (A): No closing quotation"),
    ("export A=b c", "line 1 (A): more than one word"),
])
def test_parse_env_names_the_bad_line(line, fragment):
    with pytest.raises(services.LabError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        services.parse_env(line + "\n")


def test_read_env_of_a_lab_that_is_not_up_says_how_to_start_it(tmp_path: Path):
    with pytest.raises(services.LabError, match=r"env is missing: start the lab first .*labctl.py up"):
        services.read_env(tmp_path)


def test_lab_env_puts_the_lab_over_the_base(tmp_path: Path):
    (tmp_path / "env").write_text(services.env_text({"A": "lab", "B": "2"}))
    assert services.lab_env(tmp_path, base={"A": "base", "PATH": "/bin"}) == {"A": "lab", "B": "2", "PATH": "/bin"}


def test_default_lab_dir(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("PORTKEY_LAB_DIR", str(tmp_path))
    assert services.default_lab_dir() == tmp_path.resolve()
    monkeypatch.delenv("PORTKEY_LAB_DIR")
    assert services.default_lab_dir() == services.ROOT / ".lab"
