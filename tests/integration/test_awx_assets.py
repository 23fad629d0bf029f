# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX configuration-as-code assets (awx/assets.yml) and playbooks/awx_configure.yml.

Three layers:
1. shape checks against what the AWX API accepts (credential type inputs/injectors, surveys, job templates);
2. the real `awx import` command (awxkit's CLI and ApiV2.import_assets) run against a small in-process fake
   of the AWX API that enforces POST fields, choices, required fields and natural-key references;
3. playbooks/awx_configure.yml reads the same file and maps every asset field (syntax-checked against a stub awx.awx).
"""
from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import textwrap
import threading
import urllib.parse
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ASSETS_FILE = ROOT / "awx" / "assets.yml"
CONFIGURE_PLAYBOOK = ROOT / "playbooks" / "awx_configure.yml"
CONTRACTS = ROOT / "docs" / "dev" / "contracts.md"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"

SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
CREDENTIAL_FIELD_TYPES = {"string", "boolean"}
# secret-looking name parts ("portkey_chart_version" is not secret; "client_auth", "registry_password" are)
SECRET_WORDS = re.compile(r"(^|_)(pass|password|passwd|secret|token|auth|key|cred|credentials?)(_|$)", re.I)
REQUIRED_PLAYBOOKS = {"playbooks/site.yml", "playbooks/uninstall.yml", "playbooks/rollback.yml", "playbooks/verify.yml"}
# The extra vars the Portkey credential injects (docs/awx.md): at least every vault_* name the inventories and docs use.
INJECTED_VARS = {"vault_portkey_client_auth", "vault_portkey_organisations_to_sync", "vault_portkey_registry_username",
                 "vault_portkey_registry_password", "vault_portkey_log_store_access_key",
                 "vault_portkey_log_store_secret_key", "vault_portkey_redis_password",
                 "vault_portkey_mongo_db_connection_url", "vault_portkey_clickhouse_password",
                 "vault_mongodb_admin_password", "vault_mongodb_access_password"}


def _read_by_playbook(playbook, variable):
    """The playbook, or a role it imports, reads the variable."""
    text = (ROOT / playbook).read_text()
    roles = set(re.findall(r"portkey_ai\.gateway\.([a-z_]+)", text))
    sources = [text] + [p.read_text() for r in roles for p in (ROOT / "roles" / r).rglob("*.yml")]
    return any(re.search(rf"\b{variable}\b", s) for s in sources)


@pytest.fixture(scope="module")
def assets():
    return yaml.safe_load(ASSETS_FILE.read_text())


def _by_type(assets):
    """{(type, name): item} for every asset, to resolve natural-key references."""
    index = {}
    for items in assets.values():
        for item in items:
            index[(item["natural_key"]["type"], item["name"])] = item
    return index


def _ref_ok(index, ref, wanted_type):
    """A natural-key reference resolves to an asset of this file (or the built-in Default organization)."""
    assert isinstance(ref, dict) and ref.get("type") == wanted_type, ref
    if wanted_type == "organization":
        return ref["name"] == "Default"
    return (wanted_type, ref["name"]) in index


# ---------------------------------------------------------------------------------------------- 1. shapes

def test_top_level_keys_are_awx_exportable_resources(assets):
    from awxkit.api.pages.api import EXPORTABLE_RESOURCES

    assert set(assets) <= set(EXPORTABLE_RESOURCES), set(assets) - set(EXPORTABLE_RESOURCES)
    assert {"credential_types", "projects", "job_templates"} <= set(assets)
    singular = {"credential_types": "credential_type", "projects": "project", "job_templates": "job_template",
                "inventory": "inventory", "inventory_sources": "inventory_source",
                "execution_environments": "execution_environment", "notification_templates": "notification_template",
                "schedules": "schedule"}
    for resource, items in assets.items():
        assert isinstance(items, list) and items, resource
        names = [i["name"] for i in items]
        assert len(names) == len(set(names)), f"duplicate names in {resource}"
        for item in items:
            assert item["natural_key"]["type"] == singular[resource], item["name"]
            assert item["natural_key"]["name"] == item["name"]


def test_credential_type_portkey_gateway(assets):
    (ctype,) = [c for c in assets["credential_types"] if c["name"] == "Portkey Gateway"]
    assert ctype["kind"] in {"cloud", "net"}, "custom credential types must be kind cloud or net"
    fields = ctype["inputs"]["fields"]
    # the field shapes are checked for every credential type by test_credential_type_fields
    ids = {f["id"] for f in fields}
    assert {f["id"] for f in fields if not f.get("secret")} == {"organisations_to_sync", "registry_username"}
    assert "client_auth" in ctype["inputs"]["required"]
    # one field per injected vault_* variable, and every vault_* name of the inventories, docs and roles is injected
    injected = ctype["injectors"]["extra_vars"]
    assert set(injected) == INJECTED_VARS
    assert {t.strip("{} ") for t in injected.values()} == ids
    used = set()
    for path in [*ROOT.glob("inventories/**/*.yml*"), *ROOT.glob("docs/*.md"), *ROOT.glob("roles/*/README.md")]:
        used |= set(re.findall(r"\b(vault_[a-z_]+)\b", path.read_text()))
    assert used <= INJECTED_VARS, f"vault_* names no credential field injects: {used - INJECTED_VARS}"


def test_credential_type_fields(assets):
    for ctype in assets["credential_types"]:
        assert ctype["kind"] in {"cloud", "net"}, "custom credential types must be kind cloud or net"
        fields = ctype["inputs"]["fields"]
        ids = [f["id"] for f in fields]
        assert len(ids) == len(set(ids)), ctype["name"]
        for field in fields:
            assert {"id", "label", "type"} <= set(field), field
            assert re.fullmatch(r"[a-z_][a-z0-9_]*", field["id"]), field["id"]
            assert field["type"] in CREDENTIAL_FIELD_TYPES
            assert set(field) <= {"id", "label", "type", "secret", "help_text", "multiline", "format", "choices",
                                  "ask_at_runtime"}, field
            # every secret-looking field is marked secret (usernames and contexts are not secrets)
            if SECRET_WORDS.search(field["id"]) or field["id"] == "kubeconfig":
                assert field.get("secret") is True, f"{field['id']} looks secret but is not marked secret: true"
        assert set(ctype["inputs"].get("required", [])) <= set(ids)


def test_credential_type_injectors_reference_defined_fields(assets):
    env = jinja2.Environment()
    for ctype in assets["credential_types"]:
        ids = {f["id"] for f in ctype["inputs"]["fields"]}
        injectors = ctype["injectors"]
        assert set(injectors) <= {"env", "extra_vars", "file"}, injectors
        files = set()
        for key in injectors.get("file", {}):
            assert re.fullmatch(r"template(\.[a-z_]+)?", key), key
            files.add(key.partition(".")[2] or "")
        for section, mapping in injectors.items():
            for name, template in mapping.items():
                where = f"{ctype['name']} {section}.{name}"
                used = jinja2.meta.find_undeclared_variables(env.parse(template))
                assert used and used <= ids | {"tower"}, f"{where} uses {used - ids}"
                for ref in re.findall(r"\{\{ *([a-z_][a-z0-9_.]*) *\}\}", template):
                    if ref.startswith("tower."):
                        assert section != "file", where
                        assert ref == "tower.filename" and "" in files or \
                            ref.startswith("tower.filename.") and ref.split(".", 2)[2] in files, where
                    else:
                        assert ref in ids, where
                assert re.fullmatch(r"\{\{ *[a-z_][a-z0-9_.]* *\}\}", template), template
    (portkey,) = [c for c in assets["credential_types"] if c["name"] == "Portkey Gateway"]
    assert portkey["injectors"]["extra_vars"]["vault_portkey_client_auth"] == "{{ client_auth }}"
    assert "env" not in portkey["injectors"], "secrets go to extra vars the inventories reference, not env"
    (kube,) = [c for c in assets["credential_types"] if c["name"] == "Portkey Kubeconfig"]
    # an optional field renders "" when empty: K8S_AUTH_CONTEXT="" would select a context named "" (the context is
    # the host's portkey_kube_context, or the kubeconfig's current-context)
    assert set(kube["injectors"]["env"]) == {"K8S_AUTH_KUBECONFIG"}


def test_surveys(assets):
    contracts = CONTRACTS.read_text()
    for jt in assets["job_templates"]:
        survey = jt.get("related", {}).get("survey_spec")
        assert bool(survey) == bool(jt["survey_enabled"]), jt["name"]
        if not survey:
            continue
        assert {"name", "description", "spec"} <= set(survey)
        variables = [q["variable"] for q in survey["spec"]]
        assert len(variables) == len(set(variables)), jt["name"]
        for q in survey["spec"]:
            where = f"{jt['name']}: {q.get('variable')}"
            assert {"question_name", "variable", "type", "required"} <= set(q), where
            assert q["type"] in SURVEY_TYPES, where
            assert q["type"] != "password", f"{where}: secrets come from credentials, never surveys"
            assert isinstance(q["required"], bool), where
            assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", q["variable"]), where
            assert not SECRET_WORDS.search(q["variable"]), f"{where}: secret-looking survey variable"
            # an optional answer can be blank ("" or null), which must not override the inventory: optional questions
            # answer survey_<inventory variable>, which playbooks/survey_answers.yml applies only when not blank
            variable = q["variable"]
            if not q["required"]:
                assert variable.startswith("survey_portkey_"), f"{where}: optional questions answer survey_portkey_*"
                assert "import_playbook: survey_answers.yml" in (ROOT / jt["playbook"]).read_text(), where
                variable = variable[len("survey_"):]
            # survey variables are inventory variables of contracts.md or variables the playbook's roles read
            assert f"`{variable}`" in contracts or _read_by_playbook(jt["playbook"], variable), \
                f"{where}: neither an inventory variable in contracts.md nor read by {jt['playbook']}"
            if q["type"] in {"multiplechoice", "multiselect"}:
                choices = q["choices"]
                choices = choices.split("\n") if isinstance(choices, str) else choices
                assert isinstance(choices, list) and all(str(c).strip() for c in choices) and choices, where
                if q.get("default"):
                    assert set(str(q["default"]).split("\n")) <= set(map(str, choices)), where
            if q["type"] in {"text", "textarea"} and "max" in q:
                assert len(str(q.get("default", ""))) <= q["max"], where


def test_job_templates(assets):
    index = _by_type(assets)
    playbooks = set()
    for jt in assets["job_templates"]:
        where = jt["name"]
        for key in ("name", "job_type", "playbook", "project", "inventory"):
            assert key in jt, f"{where}: missing {key}"
        assert jt["job_type"] in {"run", "check"}, where
        assert (ROOT / jt["playbook"]).is_file(), f"{where}: playbook {jt['playbook']} does not exist in the repo"
        playbooks.add(jt["playbook"])
        assert _ref_ok(index, jt["project"], "project"), where
        assert jt["inventory"] is None or _ref_ok(index, jt["inventory"], "inventory"), where
        assert jt["inventory"] is not None or jt["ask_inventory_on_launch"], where
        if jt.get("execution_environment"):
            assert _ref_ok(index, jt["execution_environment"], "execution_environment"), where
        for key, value in jt.items():
            if key.startswith("ask_"):
                assert key.endswith("_on_launch") and isinstance(value, bool), f"{where}: {key}"
        assert jt["ask_credential_on_launch"], f"{where}: credentials are per environment and chosen at launch"
        assert jt["ask_limit_on_launch"] and jt["ask_inventory_on_launch"], where
        if jt["playbook"] != "playbooks/verify.yml" and jt["job_type"] == "run":  # mutating templates offer check mode
            assert jt["ask_job_type_on_launch"], f"{where}: check mode must be selectable at launch"
        for cred in jt.get("related", {}).get("credentials", []):
            assert cred["type"] == "credential" and cred.get("name"), where
        extra_vars = yaml.safe_load(jt.get("extra_vars") or "---") or {}
        assert set(extra_vars) <= {"portkey_drift_check"}, f"{where}: extra_vars belong in inventories"
        if extra_vars.get("portkey_drift_check"):  # drift: check mode with diff, never a run; ends in a notification
            assert jt["job_type"] == "check" and jt["diff_mode"] and not jt["ask_job_type_on_launch"], where
            assert jt["related"]["notification_templates_error"], where
        for ref in [n for key, refs in jt.get("related", {}).items() if key.startswith("notification_templates_")
                    for n in refs]:
            assert _ref_ok(index, ref, "notification_template"), where
    assert playbooks >= REQUIRED_PLAYBOOKS, REQUIRED_PLAYBOOKS - playbooks
    (deploy,) = [jt for jt in assets["job_templates"] if jt["playbook"] == "playbooks/site.yml" and jt["job_type"] == "run"]
    # portkey_serial / portkey_max_fail_percentage at launch; job slices spread a fleet over execution nodes
    assert deploy["ask_variables_on_launch"] and deploy["ask_job_slice_count_on_launch"]


def test_drift_schedule_and_notification(assets):
    index = _by_type(assets)
    drift = [jt for jt in assets["job_templates"] if "portkey_drift_check" in (jt.get("extra_vars") or "")]
    assert len(drift) == 1
    (schedule,) = [s for s in assets["schedules"] if s["unified_job_template"]["name"] == drift[0]["name"]]
    assert _ref_ok(index, schedule["unified_job_template"], "job_template")
    rrule = re.compile(r"^DTSTART;TZID=UTC:\d{8}T\d{6} RRULE:FREQ=(DAILY|HOURLY|WEEKLY)")
    assert schedule["enabled"] and rrule.search(schedule["rrule"])
    assert schedule["natural_key"]["unified_job_template"] == schedule["unified_job_template"]
    for nt in assets["notification_templates"]:
        assert nt["notification_type"] in {"webhook", "slack", "email", "pagerduty", "mattermost", "rocketchat",
                                           "twilio", "grafana", "irc", "awssns"}, nt["name"]
        assert _ref_ok(index, nt["organization"], "organization")
        # no secret in the file: credentials and tokens of notifications are set in AWX
        assert not {k for k in nt["notification_configuration"] if SECRET_WORDS.search(k)}, nt["name"]


def test_project_inventory_and_ee(assets):
    index = _by_type(assets)
    (project,) = assets["projects"]
    assert project["scm_type"] == "git" and project["scm_url"].startswith("https://")
    assert _ref_ok(index, project["organization"], "organization")
    assert _ref_ok(index, project["default_environment"], "execution_environment")
    for inv in assets["inventory"]:
        assert _ref_ok(index, inv["organization"], "organization")
    for src in assets["inventory_sources"]:
        assert src["source"] == "scm"
        assert _ref_ok(index, src["inventory"], "inventory")
        assert _ref_ok(index, src["source_project"], "project")
        assert (ROOT / src["source_path"]).exists(), f"{src['source_path']} does not exist in the repo"
    for ee in assets["execution_environments"]:
        assert ee["pull"] in {"always", "missing", "never", ""}
        assert re.fullmatch(r"[\w.\-/:]+", ee["image"]), ee["image"]


def test_no_literal_secrets(assets):
    """Secret inputs are never given values in the assets (awx export writes $encrypted$; we write nothing)."""
    text = ASSETS_FILE.read_text()
    assert "$encrypted$" not in text
    assert "credentials" not in assets, "credentials carry secrets: create them as described in docs/awx.md"


# ------------------------------------------------------------------------------- 2. the real `awx import`

# POST fields of the AWX API (OPTIONS /api/v2/<resource>/ -> actions.POST), for the resources we import.
_ID = {"type": "id"}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_INT = {"type": "integer"}
_JSON = {"type": "json"}
POST_FIELDS = {
    "credential_types": {
        "name": {**_STR, "required": True}, "description": _STR,
        "kind": {"type": "choice", "required": True, "choices": [["net", "Network"], ["cloud", "Cloud"]]},
        "inputs": _JSON, "injectors": _JSON,
    },
    "execution_environments": {
        "name": {**_STR, "required": True}, "description": _STR, "organization": _ID,
        "image": {**_STR, "required": True}, "credential": _ID,
        "pull": {"type": "choice", "choices": [["always", ""], ["missing", ""], ["never", ""], ["", ""]]},
    },
    "projects": {
        "name": {**_STR, "required": True}, "description": _STR, "local_path": _STR,
        "scm_type": {"type": "choice", "choices": [["", ""], ["git", ""], ["svn", ""], ["insights", ""], ["archive", ""]]},
        "scm_url": _STR, "scm_branch": _STR, "scm_refspec": _STR, "scm_clean": _BOOL,
        "scm_track_submodules": _BOOL, "scm_delete_on_update": _BOOL, "credential": _ID, "timeout": _INT,
        "organization": _ID, "scm_update_on_launch": _BOOL, "scm_update_cache_timeout": _INT,
        "allow_override": _BOOL, "default_environment": _ID, "signature_validation_credential": _ID,
    },
    "inventory": {
        "name": {**_STR, "required": True}, "description": _STR, "organization": {**_ID, "required": True},
        "kind": {"type": "choice", "choices": [["", ""], ["smart", ""], ["constructed", ""]]},
        "host_filter": _STR, "variables": _JSON, "prevent_instance_group_fallback": _BOOL,
    },
    "inventory_sources": {
        "name": {**_STR, "required": True}, "description": _STR,
        "source": {"type": "choice", "choices": [["file", ""], ["scm", ""], ["ec2", ""]]},
        "source_path": _STR, "source_vars": _STR, "scm_branch": _STR, "credential": _ID, "enabled_var": _STR,
        "enabled_value": _STR, "host_filter": _STR, "overwrite": _BOOL, "overwrite_vars": _BOOL, "timeout": _INT,
        "verbosity": {"type": "choice", "choices": [[0, ""], [1, ""], [2, ""]]}, "limit": _STR,
        "execution_environment": _ID, "inventory": {**_ID, "required": True}, "update_on_launch": _BOOL,
        "update_cache_timeout": _INT, "source_project": _ID,
    },
    "job_templates": {
        "name": {**_STR, "required": True}, "description": _STR,
        "job_type": {"type": "choice", "choices": [["run", "Run"], ["check", "Check"]]},
        "inventory": _ID, "project": _ID, "playbook": _STR, "scm_branch": _STR, "forks": _INT, "limit": _STR,
        "verbosity": {"type": "choice", "choices": [[0, ""], [1, ""], [2, ""], [3, ""], [4, ""], [5, ""]]},
        "extra_vars": _JSON, "job_tags": _STR, "force_handlers": _BOOL, "skip_tags": _STR, "start_at_task": _STR,
        "timeout": _INT, "use_fact_cache": _BOOL, "execution_environment": _ID, "host_config_key": _STR,
        **{f"ask_{k}_on_launch": _BOOL for k in (
            "scm_branch", "diff_mode", "variables", "limit", "tags", "skip_tags", "job_type", "verbosity",
            "inventory", "credential", "execution_environment", "labels", "forks", "job_slice_count", "timeout",
            "instance_groups")},
        "survey_enabled": _BOOL, "become_enabled": _BOOL, "diff_mode": _BOOL, "allow_simultaneous": _BOOL,
        "job_slice_count": _INT, "webhook_service": _STR, "webhook_credential": _ID,
        "prevent_instance_group_fallback": _BOOL,
    },
    "notification_templates": {
        "name": {**_STR, "required": True}, "description": _STR, "organization": {**_ID, "required": True},
        "notification_type": {"type": "choice", "choices": [[t, ""] for t in (
            "awssns", "email", "grafana", "irc", "mattermost", "pagerduty", "rocketchat", "slack", "twilio",
            "webhook")]},
        "notification_configuration": _JSON, "messages": _JSON,
    },
    "schedules": {
        "name": {**_STR, "required": True}, "description": _STR, "rrule": {**_STR, "required": True},
        "enabled": _BOOL, "extra_data": _JSON, "unified_job_template": {**_ID, "required": True},
        "inventory": _ID, "scm_branch": _STR, "job_type": _STR, "job_tags": _STR, "skip_tags": _STR, "limit": _STR,
        "diff_mode": _BOOL, "verbosity": _INT, "execution_environment": _ID, "forks": _INT, "job_slice_count": _INT,
        "timeout": _INT,
    },
}
ROOT_KEYS = ("ping instances instance_groups config settings me dashboard organizations users execution_environments "
             "projects project_updates teams credentials credential_types credential_input_sources applications "
             "tokens metrics inventory inventory_sources inventory_updates groups hosts job_templates jobs "
             "ad_hoc_commands system_job_templates system_jobs schedules roles notification_templates notifications "
             "labels unified_job_templates unified_jobs activity_stream workflow_job_templates workflow_jobs "
             "workflow_approvals workflow_job_template_nodes workflow_job_nodes").split()
# foreign keys each object type exposes under `related` (what awxkit builds natural keys from)
FK_TYPES = {"organization": "organizations", "inventory": "inventory", "project": "projects",
            "execution_environment": "execution_environments", "default_environment": "execution_environments",
            "source_project": "projects", "credential": "credentials", "unified_job_template": "job_templates"}
TYPE_OF = {"organizations": "organization", "credential_types": "credential_type", "projects": "project",
           "inventory": "inventory", "inventory_sources": "inventory_source", "job_templates": "job_template",
           "execution_environments": "execution_environment", "credentials": "credential",
           "notification_templates": "notification_template", "schedules": "schedule"}


def _path_of(resource):
    return "inventories" if resource == "inventory" else resource


class FakeAWX:
    """Just enough of /api/v2/ for awxkit's import_assets; every request is checked like AWX would."""

    def __init__(self):
        self.objects = {r: {} for r in ROOT_KEYS}
        self.objects["organizations"][1] = {"id": 1, "name": "Default"}
        self.errors = []
        self.posts = []
        self.related_posts = []
        self.lock = threading.Lock()

    # -- object rendering
    def render(self, resource, obj):
        out = dict(obj)
        base = f"/api/v2/{_path_of(resource)}/{obj['id']}/"
        out.update(url=base, type=TYPE_OF.get(resource, resource.rstrip("s")))
        related = {}
        for key, target in FK_TYPES.items():
            if obj.get(key):
                related[key] = f"/api/v2/{_path_of(target)}/{obj[key]}/"
        if resource == "job_templates":
            related.update(credentials=base + "credentials/", survey_spec=base + "survey_spec/",
                           labels=base + "labels/", schedules=base + "schedules/",
                           **{f"notification_templates_{e}": base + f"notification_templates_{e}/"
                              for e in ("started", "success", "error")})
        if resource == "projects":
            out.update(status="successful", created="2024-01-01T00:00:00Z")
        related["roles"] = base + "object_roles/"
        out["related"] = related
        return out

    def validate(self, resource, body):
        fields = POST_FIELDS.get(resource, {"name": _STR})
        for key, value in body.items():
            spec = fields.get(key)
            if spec is None:
                self.errors.append(f"{resource}: unknown field {key}")
                continue
            if spec["type"] == "choice" and value not in [c[0] for c in spec["choices"]]:
                self.errors.append(f"{resource}.{key}: {value!r} is not a valid choice")
            if spec["type"] == "id" and value is not None and (
                    not isinstance(value, int) or value not in self.objects[FK_TYPES[key]]):
                self.errors.append(f"{resource}.{key}: unknown id {value!r}")
        for key, spec in fields.items():
            if spec.get("required") and body.get(key) in (None, ""):
                self.errors.append(f"{resource}: {key} is required")

    def derive(self, resource, obj):
        """AWX sets a job template's organization from its project."""
        if resource == "job_templates" and obj.get("project") in self.objects["projects"]:
            obj["organization"] = self.objects["projects"][obj["project"]].get("organization")

    # -- HTTP
    def handle(self, method, path, query, body):
        parts = [p for p in path.split("/") if p]
        if parts == ["api"]:
            return 200, {"available_versions": {"v2": "/api/v2/"}, "current_version": "/api/v2/"}
        if parts == ["api", "v2"]:
            return 200, {k: f"/api/v2/{_path_of(k)}/" for k in ROOT_KEYS}
        resource = "inventory" if parts[2] == "inventories" else parts[2]
        store = self.objects.setdefault(resource, {})
        if len(parts) == 3:
            if method == "OPTIONS":
                return 200, {"actions": {"POST": POST_FIELDS.get(resource, {"name": _STR})}}
            if method == "GET":
                found = [o for o in store.values()
                         if all(str(o.get(k)) == v[0] for k, v in query.items() if k not in ("page", "page_size"))]
                return 200, {"count": len(found), "next": None, "previous": None,
                             "results": [self.render(resource, o) for o in found]}
            if method == "POST":
                self.validate(resource, body)
                self.posts.append((resource, body))
                new = dict(body, id=len(store) + 1)
                self.derive(resource, new)
                store[new["id"]] = new
                return 201, self.render(resource, new)
        obj = store.get(int(parts[3]))
        if obj is None:
            return 404, {"detail": "Not found."}
        if len(parts) == 4:
            if method == "PUT":
                self.validate(resource, body)
                obj.update(body)
                self.derive(resource, obj)
            return 200, self.render(resource, obj)
        sub = parts[4]
        if method == "GET":
            return 200, {"count": 0, "next": None, "previous": None, "results": []}
        self.related_posts.append((resource, obj["name"], sub, body))
        if sub == "survey_spec":
            return 200, {}
        return 204, None


@pytest.fixture()
def fake_awx():
    fake = FakeAWX()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _do(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            with fake.lock:
                status, payload = fake.handle(self.command, url.path, urllib.parse.parse_qs(url.query), body)
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Allow", "GET, POST, HEAD, OPTIONS")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_OPTIONS = do_DELETE = _do

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


# awxkit 24.6.1's CLI imports pkg_resources (setuptools), which Python 3.12 venvs no longer ship; this shim is
# the only stand-in: everything after it is awxkit's own `awx` entry point.
AWX_CLI = textwrap.dedent("""
    import sys, types, importlib.metadata
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.get_distribution = lambda name: types.SimpleNamespace(version=importlib.metadata.version(name))
        sys.modules["pkg_resources"] = shim
    from awxkit.cli import run
    sys.argv[0] = "awx"
    run()
""")


def _awx(*args, stdin=None):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    for key in list(env):
        if key.startswith(("CONTROLLER_", "TOWER_", "AWXKIT_")):
            del env[key]
    return subprocess.run([str(PYTHON), "-c", AWX_CLI, *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_awx_import_help(fake_awx):
    proc = _awx("--conf.host", fake_awx.url, "import", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "awx import < exportfile" in proc.stdout and "{json,yaml}" in proc.stdout


def test_awx_import_against_fake_api(assets, fake_awx):
    for attempt in ("create", "update"):  # the second run finds every object by natural key and PUTs it
        proc = _awx("--conf.host", fake_awx.url, "--conf.token", "dummy", "import", "-f", "yaml",
                    stdin=ASSETS_FILE.read_text())
        assert proc.returncode == 0, f"{attempt}: {proc.stdout}\n{proc.stderr}"
        assert "error" not in proc.stderr.lower(), f"{attempt}: {proc.stderr}"
        assert not fake_awx.errors, fake_awx.errors
        created = {(r, b["name"]) for r, b in fake_awx.posts}
        expected = {(r, i["name"]) for r, items in assets.items() for i in items}
        assert created == expected, (created ^ expected)
    duplicates = [(r, b["name"]) for r, b in fake_awx.posts[len(expected):]]
    assert not duplicates, f"the second import created duplicates instead of updating: {duplicates}"

    # every field of every asset reached the API (awxkit silently drops fields the API does not accept)
    for resource, items in assets.items():
        accepted = set(POST_FIELDS[resource])
        for item in items:
            dropped = set(item) - accepted - {"natural_key", "related"}
            assert not dropped, f"{resource} {item['name']}: fields AWX ignores: {dropped}"
    # every natural-key reference resolved to an id (awxkit posts null when a reference is unknown)
    for resource, body in fake_awx.posts:
        item = next(i for i in assets[resource] if i["name"] == body["name"])
        for key in FK_TYPES:
            if isinstance(item.get(key), dict):
                assert isinstance(body.get(key), int), f"{resource} {item['name']}: {key} did not resolve"
    surveys = {name: body for r, name, sub, body in fake_awx.related_posts if sub == "survey_spec"}
    for jt in assets["job_templates"]:
        assert surveys.get(jt["name"]) == jt["related"].get("survey_spec")
    # notification templates are attached to their job templates by id
    attached = {(name, sub, body["id"]) for r, name, sub, body in fake_awx.related_posts
                if sub.startswith("notification_templates_")}
    nt_ids = {o["name"]: i for i, o in fake_awx.objects["notification_templates"].items()}
    wanted = {(jt["name"], sub, nt_ids[ref["name"]]) for jt in assets["job_templates"]
              for sub, refs in jt["related"].items() if sub.startswith("notification_templates_") for ref in refs}
    assert wanted and attached == wanted, (attached, wanted)


# --------------------------------------------------------------------------- 3. playbooks/awx_configure.yml

AWX_MODULES = {"credential_types": "credential_type", "execution_environments": "execution_environment",
               "projects": "project", "inventory": "inventory", "inventory_sources": "inventory_source",
               "job_templates": "job_template", "notification_templates": "notification_template",
               "schedules": "schedule"}


def test_awx_configure_reads_the_same_assets(assets):
    play = yaml.safe_load(CONFIGURE_PLAYBOOK.read_text())[0]
    tasks = play["tasks"]
    (load,) = [t for t in tasks if "ansible.builtin.include_vars" in t]
    assets_path = play["vars"]["awx_configure_assets_file"].replace("{{ playbook_dir }}", str(CONFIGURE_PLAYBOOK.parent))
    assert Path(assets_path).resolve() == ASSETS_FILE
    assert load["ansible.builtin.include_vars"]["file"] == "{{ awx_configure_assets_file }}"
    var = load["ansible.builtin.include_vars"]["name"]
    for resource, items in assets.items():
        module = f"awx.awx.{AWX_MODULES[resource]}"
        (task,) = [t for t in tasks if module in t]
        assert task["loop"].replace(" ", "") == "{{%s.%s|default([])}}" % (var, resource), task["loop"]
        text = json.dumps(task[module])
        for item in items:
            for field in set(item) - {"natural_key", "related", "name"}:
                assert f"item.{field}" in text, f"{module} ignores {resource}.{field}"
            for rel, value in item.get("related", {}).items():
                if rel == "labels":
                    assert not value, "awx_configure.yml does not manage labels"
                else:
                    assert f"item.related.{rel}" in text, f"{module} ignores related.{rel}"
        assert task[module]["state"] == "present"
    for task in tasks:
        (module,) = [k for k in task if "." in k]
        assert module.startswith(("awx.awx.", "ansible.builtin.")), module


def test_awx_configure_syntax_with_stub_awx_collection(tmp_path):
    """awx.awx is not installed here: stub its modules so ansible-playbook --syntax-check can resolve them."""
    modules = tmp_path / "ansible_collections" / "awx" / "awx" / "plugins" / "modules"
    modules.mkdir(parents=True)
    for name in AWX_MODULES.values():
        (modules / f"{name}.py").write_text("#!/usr/bin/python\n")
    (tmp_path / "ansible_collections" / "awx" / "awx" / "galaxy.yml").write_text(
        "namespace: awx\nname: awx\nversion: 24.6.1\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=f"{tmp_path}:{ROOT / 'collections'}",
               PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,",
                           str(CONFIGURE_PLAYBOOK)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
