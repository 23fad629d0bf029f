# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_release record_dir end to end (real helm, the lab emulator): a record per run, never a change."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import stat
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_gateway_release import SECRET_AUTH, SECRET_KEY, SECRET_PW, Emulator, run, spec, write_chart  # noqa: E402


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = Emulator(str(tmp_path_factory.mktemp("emulator")))
    yield emu
    emu.stop()


def test_record_dir(emulator, tmp_path, capsys):
    chart = write_chart(str(tmp_path / "gateway"))
    records = tmp_path / "records"
    args = dict(release_name="rec", namespace="rec", chart_path=chart, values_spec=spec(), wait=False,
                kubeconfig=emulator.kubeconfig, record_dir=str(records), record_name="cluster-a")
    out = run(args, capsys, check=True)
    assert out["record"] is None and not records.exists()  # check mode writes nothing
    out = run(args, capsys)
    assert out["changed"] is True and out["record"].startswith(str(records / "cluster-a-"))
    assert stat.S_IMODE(os.stat(str(records)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(out["record"]).st_mode) == 0o600
    doc = json.loads(open(out["record"]).read())
    assert (doc["name"], doc["namespace"], doc["revision"], doc["status"], doc["chart"], doc["chart_version"],
            doc["app_version"]) == ("rec", "rec", 1, "deployed", "gateway", "1.0.8", "1.11.4")
    assert doc["values_checksum"] == out["values_checksum"] and doc["values"]["environment"]["data"]["LOG_STORE"] == "s3"
    text = open(out["record"]).read()
    for secret in (SECRET_AUTH, SECRET_KEY, SECRET_PW):
        assert secret not in text
    assert "<redacted sha256:" in text
    # a no-op rerun still records (an audit log), and stays unchanged
    again = run(args, capsys)
    assert again["changed"] is False and again["record"] != out["record"] and len(os.listdir(str(records))) == 2
    assert json.loads(open(again["record"]).read())["revision"] == 1
