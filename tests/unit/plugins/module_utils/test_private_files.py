# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.portkey_ai.gateway.plugins.module_utils import _private_files
from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError
from ansible_collections.portkey_ai.gateway.plugins.module_utils._private_files import (
    check_private_parent,
    is_shared,
    make_private_dir,
    open_new_private,
    read_text,
    replace_private,
    tighten_dir,
    write_private_file,
)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_check_private_parent(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert check_private_parent(str(private / "values.yaml")) == []
    assert check_private_parent(str(tmp_path / "missing" / "values.yaml")) == []
    errors = check_private_parent(str(shared / "values.yaml"), "dest")
    assert len(errors) == 1 and errors[0].startswith("dest: parent directory") and "world-writable" in errors[0]
    (private / "file").write_text("x")
    assert "is not a directory" in check_private_parent(str(private / "file" / "values.yaml"))[0]


def test_check_private_parent_refuses_a_directory_as_dest(tmp_path):
    (tmp_path / "d").mkdir()
    tmp_path.chmod(0o700)
    assert "is a directory" in check_private_parent(str(tmp_path / "d"))[0]


def test_write_private_file_creates_0700_parent_and_0600_file(tmp_path):
    dest = tmp_path / "new" / "values.yaml"
    write_private_file(str(dest), "a: 1\n")
    assert dest.read_text() == "a: 1\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
    assert os.listdir(str(dest.parent)) == ["values.yaml"]


def test_write_private_file_is_atomic(tmp_path, monkeypatch):
    dest = tmp_path / "values.yaml"
    dest.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(_private_files.os, "replace", broken_replace)
    with pytest.raises(PortkeyError, match="cannot write"):
        write_private_file(str(dest), "new\n")
    assert dest.read_text() == "old\n"
    assert os.listdir(str(tmp_path)) == ["values.yaml"]  # the temp file is gone


def test_make_private_dir_creates_0700_and_keeps_an_existing_one(tmp_path):
    old = os.umask(0)
    try:
        made = str(tmp_path / "a" / "b")
        assert stat.S_IMODE(make_private_dir(made).st_mode) == 0o700 and mode(made) == 0o700
        shared = str(tmp_path / "shared")
        os.mkdir(shared, 0o755)
        assert is_shared(make_private_dir(shared).st_mode) and mode(shared) == 0o755
        tighten_dir(shared)
        assert mode(shared) == 0o700 and not is_shared(os.stat(shared).st_mode)
    finally:
        os.umask(old)


def test_open_new_private_is_0600_whatever_the_umask_and_never_reuses_a_file(tmp_path):
    old = os.umask(0)
    try:
        path = str(tmp_path / "f.json")
        with open_new_private(path) as handle:
            handle.write("x")
        assert mode(path) == 0o600 and read_text(path) == "x"
        with pytest.raises(FileExistsError):
            open_new_private(path)
        os.symlink(path, str(tmp_path / "link"))
        with pytest.raises(FileExistsError):
            open_new_private(str(tmp_path / "link"))
    finally:
        os.umask(old)


def test_replace_private_is_0600_and_leaves_no_temporary_file(tmp_path):
    path = str(tmp_path / "selected.json")
    with open(path, "w") as handle:
        handle.write("old")
    os.chmod(path, 0o644)
    replace_private(path, "new", prefix=".selected-")
    assert read_text(path) == "new" and mode(path) == 0o600 and os.listdir(str(tmp_path)) == ["selected.json"]


def test_read_text_of_a_missing_file_is_none(tmp_path):
    assert read_text(str(tmp_path / "none")) is None
    with pytest.raises(PortkeyError, match="cannot read"):
        read_text(str(tmp_path))
