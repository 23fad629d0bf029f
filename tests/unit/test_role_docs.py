# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every role's README documents exactly the variables of its meta/argument_specs.yml.

The README's variables table is a markdown table with a `Variable` (or `Name`) column whose cells hold the
backticked variable name. When the README has a "Variables" section, only tables in that section count, so an
Outputs table does not.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir() and not p.name.startswith(".")) \
    if (ROOT / "roles").is_dir() else []
NAME_COLUMNS = {"variable", "variables", "name", "option", "parameter"}
IDENT = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:[.\[][^`]*)?`")


def _cells(line):
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)]


def _sections(text):
    """[(heading or '', lines)] split on markdown headings, ignoring fenced code blocks."""
    sections, heading, lines, fenced = [], "", [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and re.match(r"#{1,6}\s", line):
            sections.append((heading, lines))
            heading, lines = line.lstrip("#").strip(), []
        else:
            lines.append("" if fenced else line)
    sections.append((heading, lines))
    return sections


def readme_variables(text):
    """Variable names listed in the README's variables table(s)."""
    sections = _sections(text)
    scoped = [s for s in sections if re.search(r"\bvariables?\b", s[0], re.I)]
    names = set()
    for _heading, lines in scoped or sections:
        i = 0
        while i < len(lines):
            header = lines[i]
            is_table = header.strip().startswith("|") and i + 1 < len(lines) \
                and re.fullmatch(r"\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?", lines[i + 1].strip())
            if not is_table:
                i += 1
                continue
            columns = [c.strip("` *").lower() for c in _cells(header)]
            col = next((n for n, c in enumerate(columns) if c in NAME_COLUMNS), None)
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                if col is not None:
                    cells = _cells(lines[i])
                    if col < len(cells):
                        names.update(IDENT.findall(cells[col]))
                i += 1
    return names


def spec_variables(spec_file):
    data = yaml.safe_load(spec_file.read_text()) or {}
    names = set()
    for entry in (data.get("argument_specs") or {}).values():
        names.update((entry or {}).get("options") or {})
    return names


def test_roles_exist():
    assert ROLES, "no roles under roles/"


def test_readme_parser():
    text = "\n".join([
        "# r", "## Variables", "| Variable | Default |", "|---|---|", "| `r_a` | `1` |", "| `r_b.c` | x |",
        "```yaml", "| `not_me` | x |", "```", "## Outputs", "| Name | What |", "|---|---|", "| `r_fact` | x |",
    ])
    assert readme_variables(text) == {"r_a", "r_b"}
    assert readme_variables("| Name | x |\n|:--|--:|\n| `a_b` | c |\n") == {"a_b"}


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_readme_matches_argument_specs(role):
    readme = role / "README.md"
    spec = role / "meta" / "argument_specs.yml"
    assert readme.is_file(), f"{role.name}: README.md missing"
    assert spec.is_file(), f"{role.name}: meta/argument_specs.yml missing"
    documented = readme_variables(readme.read_text())
    specified = spec_variables(spec)
    assert specified, f"{role.name}: argument_specs.yml declares no options"
    assert documented, f"{role.name}: README.md has no variables table (a `Variable` column of backticked names)"
    drift = []
    for name in sorted(specified - documented):
        drift.append(f"  {name}: in meta/argument_specs.yml, missing from README.md")
    for name in sorted(documented - specified):
        drift.append(f"  {name}: in README.md, not in meta/argument_specs.yml")
    assert not drift, f"roles/{role.name} README/argument_specs drift:\n" + "\n".join(drift)
