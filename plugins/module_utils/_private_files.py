# -*- coding: utf-8 -*-
# Copyright (c) portkey_ai.gateway contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# private to portkey_ai.gateway: not a public API, may change in any release.

"""Private files and directories, in one place: directories are created 0700, files 0600 (``O_EXCL`` for a new
file, ``fchmod`` so the umask cannot widen it, an atomic replace for a rewritten one), and a parent directory that
other users can write to is refused for a file that holds secrets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import tempfile

from ansible_collections.portkey_ai.gateway.plugins.module_utils._common import PortkeyError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def is_shared(mode):
    """True when permission bits ``mode`` give the group or other users any access."""
    return bool(stat.S_IMODE(mode) & 0o077)


def make_private_dir(path):
    """Create ``path`` (and missing parents) mode 0700 and return its ``os.stat``; an existing directory is kept
    as it is (the caller decides whether to tighten or warn, see is_shared/tighten_dir). Raises OSError."""
    if not os.path.isdir(path):
        os.makedirs(path, PRIVATE_DIR_MODE, exist_ok=True)
        os.chmod(path, PRIVATE_DIR_MODE)
    return os.stat(path)


def tighten_dir(path):
    """chmod 0700. Raises OSError."""
    os.chmod(path, PRIVATE_DIR_MODE)


def open_new_private(path, mode="w"):
    """A new file at ``path`` opened for writing, mode 0600 (``O_EXCL``: an existing file or link raises
    FileExistsError, so nothing else's file is ever written through)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    handle = os.fdopen(fd, mode)
    os.fchmod(handle.fileno(), PRIVATE_FILE_MODE)
    return handle


def replace_private(path, text, prefix=".portkey-"):
    """Write ``text`` to ``path`` atomically (a 0600 temporary file in the same directory, fsync, rename).
    Raises OSError; the temporary file is removed on failure."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), PRIVATE_FILE_MODE)
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (IOError, OSError):
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_private_parent(path, var="dest"):
    """Errors for a parent directory that other users could write to (a secret file must not live there)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(parent):
        return []
    if not os.path.isdir(parent):
        return ["%s: parent %s is not a directory; choose a path in a private directory" % (var, parent)]
    mode = os.stat(parent).st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return ["%s: parent directory %s is group/world-writable (mode %s); the values file holds secrets, "
                "so write it to a private directory (chmod 0700 %s, or another dest)"
                % (var, parent, oct(stat.S_IMODE(mode)), parent)]
    if os.path.isdir(path):
        return ["%s: %s is a directory; give a file path" % (var, path)]
    return []


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError) as exc:
        if not os.path.exists(path):
            return None
        raise PortkeyError("cannot read %s: %s" % (path, exc))


def write_private_file(path, text):
    """Write ``text`` to ``path`` atomically with mode 0600, creating a missing parent directory 0700.

    The caller checked the parent with check_private_parent. Returns nothing; raises PortkeyError.
    """
    parent = os.path.dirname(os.path.abspath(path))
    try:
        if not os.path.exists(parent):
            make_private_dir(parent)
    except (IOError, OSError) as exc:
        raise PortkeyError("cannot create a file in %s: %s" % (parent, exc))
    try:
        replace_private(path, text, prefix=".portkey-values-")
    except (IOError, OSError) as exc:
        raise PortkeyError("cannot write %s: %s" % (path, exc))
