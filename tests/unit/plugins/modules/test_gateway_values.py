# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import sys
import stat

import pytest
import yaml

from ansible_collections.portkey_ai.gateway.plugins.modules import gateway_values

sys.path.insert(0, os.path.dirname(__file__))
from module_runner import run_module  # noqa: E402

CLIENT_AUTH = "ck-module-test-0123456789"
DOCKER_PASSWORD = "dckr_pat_ABCDEFGHIJ"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY"


def args(**overrides):
    module_args = {
        "generation": "1.7",
        "secrets": {"mode": "values"},  # the values-file behaviour; the owned-Secret mode is tested below
        "client_auth": CLIENT_AUTH,
        "organisations_to_sync": "org-1",
        "image_credentials": {"username": "portkey", "password": DOCKER_PASSWORD},
        "environment": {"LOG_STORE": "s3", "LOG_STORE_REGION": "us-east-1", "LOG_STORE_ACCESS_KEY": "AKIAEXAMPLE1",
                        "LOG_STORE_SECRET_KEY": SECRET_KEY, "LOG_STORE_GENERATIONS_BUCKET": "logs"},
    }
    module_args.update(overrides)
    return module_args


def run(capsys, module_args, check=False, diff=False):
    return run_module(gateway_values, module_args, capsys, check=check, diff=diff,
                      secrets=(CLIENT_AUTH, DOCKER_PASSWORD, SECRET_KEY, "AKIAEXAMPLE1"))


def warning_texts(result):
    """Warnings as text: ansible-core >= 2.19 serializes them as WarningSummary dicts on the module side."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


@pytest.fixture
def private_dir(tmp_path):
    path = tmp_path / "private"
    path.mkdir(mode=0o700)
    return path


def test_returns_redacted_values_without_dest(capsys):
    code, result = run(capsys, args(), diff=True)
    assert code == 0
    assert result["changed"] is False and result["dest"] is None
    assert result["generation"] == "1.7" and result["chart_name"] == "gateway"
    assert result["fullname"] == "portkey-gateway"
    assert result["chart_values"]["environment"]["data"]["PORTKEY_CLIENT_AUTH"].startswith("<redacted sha256:")
    assert result["chart_values"]["imageCredentials"][0]["password"].startswith("<redacted sha256:")
    assert result["secret_paths"] == [
        "environment.data.LOG_STORE_ACCESS_KEY", "environment.data.LOG_STORE_SECRET_KEY",
        "environment.data.PORTKEY_CLIENT_AUTH", "imageCredentials[0].password"]
    assert len(result["checksum"]) == 64 and len(result["env_checksum"]) == 64
    assert result["diff"]["before"] == result["diff"]["after"]
    assert any("in-cluster Redis" in w for w in warning_texts(result))


def test_writes_a_0600_file_in_a_new_0700_dir_and_is_idempotent(capsys, tmp_path):
    dest = tmp_path / "new" / "values.yaml"
    code, first = run(capsys, args(dest=str(dest)), diff=True)
    assert code == 0 and first["changed"] is True
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
    written = yaml.safe_load(dest.read_text())
    assert written["environment"]["data"]["PORTKEY_CLIENT_AUTH"] == CLIENT_AUTH  # the file holds the real values
    assert first["checksum"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert first["diff"]["before"] == "" and "<redacted sha256:" in first["diff"]["after"]

    code, second = run(capsys, args(dest=str(dest)), diff=True)
    assert second["changed"] is False
    assert second["diff"]["before"] == second["diff"]["after"]
    assert os.listdir(str(dest.parent)) == ["values.yaml"]


def test_check_mode_reports_the_change_without_writing(capsys, private_dir):
    dest = private_dir / "values.yaml"
    code, result = run(capsys, args(dest=str(dest)), check=True, diff=True)
    assert code == 0 and result["changed"] is True
    assert not dest.exists()


def test_changed_only_when_content_differs_and_diff_redacts_rotated_secrets(capsys, private_dir):
    dest = private_dir / "values.yaml"
    old_secret = "ck-old-secret-abcdefghij"
    run(capsys, args(dest=str(dest), client_auth=old_secret))
    code, result = run(capsys, args(dest=str(dest)), diff=True)
    assert result["changed"] is True
    assert old_secret not in json.dumps(result)
    assert "PORTKEY_CLIENT_AUTH: <redacted sha256:" in result["diff"]["before"]
    assert result["diff"]["before"] != result["diff"]["after"]
    code, again = run(capsys, args(dest=str(dest)))
    assert again["changed"] is False


def test_fixes_a_loose_file_mode(capsys, private_dir):
    dest = private_dir / "values.yaml"
    run(capsys, args(dest=str(dest)))
    dest.chmod(0o644)
    code, result = run(capsys, args(dest=str(dest)))
    assert result["changed"] is True and stat.S_IMODE(dest.stat().st_mode) == 0o600


def test_refuses_a_group_or_world_writable_parent_together_with_input_errors(capsys, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    code, result = run(capsys, args(dest=str(shared / "values.yaml"), replicas="two"))
    assert code == 1 and result["failed"] is True
    assert any(e.startswith("portkey_replicas:") for e in result["errors"])
    assert any(e.startswith("dest: parent directory") for e in result["errors"])
    assert not (shared / "values.yaml").exists()


def test_fails_with_all_errors_and_writes_nothing(capsys, private_dir):
    dest = private_dir / "values.yaml"
    code, result = run(capsys, args(dest=str(dest), client_auth=None, environment={"LOG_STORE": "s3"},
                                    service={"targetPort": 8787}))
    assert code == 1
    assert result["msg"].startswith("%d problem(s)" % len(result["errors"]))
    names = [e.split(":")[0] for e in result["errors"]]
    assert "portkey_client_auth" in names and "portkey_service.targetPort" in names
    assert "portkey_environment.LOG_STORE_SECRET_KEY" in names
    assert not dest.exists()


def test_detects_the_generation_from_chart_path(capsys, tmp_path):
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: gateway\nversion: 1.0.8\n")
    code, result = run(capsys, args(generation="auto", chart_path=str(chart), release_name="portkey-ai"))
    assert code == 0 and result["generation"] == "1.0"
    assert result["fullname"] == "portkey-ai-gateway"
    assert "imagePullSecrets" not in result["chart_values"]


def test_missing_chart_path_fails(capsys, tmp_path):
    code, result = run(capsys, args(generation="auto", chart_path=str(tmp_path / "nope")))
    assert code == 1 and "chart_path: chart directory" in result["msg"] and "does not exist" in result["msg"]


def test_argument_spec_marks_the_secrets_no_log():
    spec = gateway_values.argument_spec()
    assert spec["client_auth"]["no_log"] is True
    assert spec["image_credentials"]["options"]["password"]["no_log"] is True
    assert spec["image_credentials"]["options"]["auth"]["no_log"] is True


def test_values_spec_gives_the_same_values_as_the_individual_options(capsys):
    individual = run(capsys, args())[1]
    as_spec = run(capsys, {"values_spec": args(), "generation": "1.0"})[1]  # individual options are ignored
    assert as_spec["checksum"] == individual["checksum"]
    assert as_spec["generation"] == "1.7"


def test_values_spec_errors_name_the_inventory_variable_and_keep_secrets_out(capsys):
    rc, result = run(capsys, {"values_spec": args(environment={"LOG_STORE": "s3", "LOG_STORE_SECRET_KEY": SECRET_KEY})})
    assert rc == 1 and result["failed"]
    assert "portkey_environment.LOG_STORE_REGION" in result["msg"]


def test_owned_secret_mode_keeps_every_secret_out_of_the_values(capsys, tmp_path):
    """1.7.x default: the values name the collection's Secrets; no secret is in them, the plan is not returned."""
    dest = tmp_path / "values.yaml"
    module_args = args(dest=str(dest))
    del module_args["secrets"]
    code, result = run(capsys, module_args)
    assert code == 0
    text = dest.read_text()
    for secret in (CLIENT_AUTH, DOCKER_PASSWORD, SECRET_KEY, "AKIAEXAMPLE1"):
        assert secret not in text and secret not in json.dumps(result)
    env = result["chart_values"]["environment"]
    assert env["existingSecret"] == "portkey-gateway-env" and env["create"] is False
    assert env["secretKeys"] == ["LOG_STORE_ACCESS_KEY", "LOG_STORE_SECRET_KEY", "PORTKEY_CLIENT_AUTH"]
    assert result["chart_values"]["imagePullSecrets"] == [{"name": "portkey-gateway-registry"}]
    assert result["secret_paths"] == [] and "secrets" not in result
