"""Static checks of the deployment files (no cloud, no Docker engine, no cluster needed):

- every Terraform file parses (python-hcl2) and is formatted (`tofu fmt -check`, or `terraform
  fmt -check`: tests/run.sh installs OpenTofu from the Go module proxy);
- checkov finds nothing, and every check skipped in the code says why;
- the commands the user-data templates, the Kubernetes manifests and the compose file run use
  only flags and SLUICE_* variables the built binary accepts (`sluice <role> --help`), and each
  template reads only variables its templatefile() call passes;
- the Kubernetes manifests validate against the Kubernetes schemas (kubernetes-validate)."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import kubernetes_validate
import pytest
import yaml

from conftest import REPO
from deploycfg import (COMPOSE, TEMPLATES, TERRAFORM, accepted, flag_of, kubernetes_documents,
                       template_command, template_variables, templatefile_calls)

TF_FILES = sorted(TERRAFORM.rglob("*.tf"))
# Kubernetes versions the manifests must be valid for (pod-index labels need 1.28+).
KUBERNETES_VERSIONS = ["1.30", "1.33"]


def test_every_terraform_file_parses():
    assert len(TF_FILES) >= 12, TF_FILES
    for path in TF_FILES:
        with open(path) as f:
            hcl2.load(f)
    module = TERRAFORM / "modules" / "sluice"
    for name in ["variables.tf", "outputs.tf", "versions.tf", "main.tf"]:
        assert (module / name).exists(), name
    versions = hcl2.load(open(module / "versions.tf"))
    aws = versions["terraform"][0]["required_providers"][0]["aws"]
    assert aws["source"].strip('"') == "hashicorp/aws" and aws["version"].strip('"'), aws


def test_every_variable_is_documented():
    readme = (TERRAFORM / "README.md").read_text()
    for path in TF_FILES:
        for block in hcl2.load(open(path)).get("variable", []):
            for name, body in block.items():
                name = name.strip('"')
                assert body.get("description"), f"{path}: variable {name} has no description"
                if "modules" in path.parts:
                    assert f"`{name}`" in readme, f"variable {name} missing from terraform/README.md"
        for block in hcl2.load(open(path)).get("output", []):
            for name, body in block.items():
                assert body.get("description"), f"{path}: output {name} has no description"


def fmt_tool() -> str:
    for tool in [os.environ.get("TOFU"), shutil.which("tofu"), shutil.which("terraform")]:
        if tool:
            return tool
    pytest.fail("neither tofu nor terraform found: tests/run.sh installs tofu (go install "
                "github.com/opentofu/opentofu/cmd/tofu@v1.6.3); or set TOFU=/path/to/tofu")


def test_terraform_is_formatted():
    p = subprocess.run([fmt_tool(), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
                       capture_output=True, text=True)
    assert p.returncode == 0, f"run `tofu fmt -recursive terraform`:\n{p.stdout}{p.stderr}"


def checkov_tool() -> str:
    for tool in [os.environ.get("CHECKOV"), shutil.which("checkov"), str(REPO / "tests" / ".venv-checkov" / "bin" / "checkov")]:
        if tool and os.path.exists(tool):
            return tool
    pytest.fail("checkov not found: tests/run.sh installs it in tests/.venv-checkov; or set CHECKOV")


def test_checkov_passes_and_every_skip_is_justified():
    skips = {}
    for path in TF_FILES:
        for m in re.finditer(r"#checkov:skip=(CKV2?_AWS_\d+):(.*)", path.read_text()):
            assert len(m.group(2).strip()) >= 30, f"{path}: skip of {m.group(1)} without a real reason"
            skips.setdefault(m.group(1), []).append(path.name)
    p = subprocess.run([checkov_tool(), "-d", str(TERRAFORM), "--framework", "terraform", "-o", "json",
                        "--skip-download"], capture_output=True, text=True,
                       env=dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false"))
    report = json.loads(p.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for r in reports
              for c in r.get("results", {}).get("failed_checks", [])]
    assert failed == [], failed
    skipped = {c["check_id"] for r in reports for c in r.get("results", {}).get("skipped_checks", [])}
    # Every skip in the code is used (a skip of a check that passes anyway is noise).
    assert skipped == set(skips), (skipped, skips)
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert passed > 100, passed


def test_user_data_runs_only_flags_the_binary_accepts():
    for name, role in [("meta-user-data.sh.tftpl", "meta"), ("agent-user-data.sh.tftpl", "agent")]:
        tokens = template_command(TEMPLATES / name)
        assert tokens[0] == role, tokens
        flags = [flag_of(t) for t in tokens[1:] if t.startswith("--")]
        assert flags, tokens
        unknown = set(flags) - accepted(role)[0]
        assert not unknown, f"{name} passes flags `sluice {role}` does not accept: {sorted(unknown)}"
    meta_flags = [t for t in template_command(TEMPLATES / "meta-user-data.sh.tftpl") if t.startswith("--")]
    assert {"--rejoin", "--snapshot-store", "--peers", "--advertised", "--metrics-listen"} <= set(meta_flags)
    agent_flags = [t for t in template_command(TEMPLATES / "agent-user-data.sh.tftpl") if t.startswith("--")]
    assert {"--zone", "--advertised-listener", "--metrics-listen", "--object-store"} <= set(agent_flags)


def test_templates_read_only_the_variables_they_are_given():
    calls = {}
    for path in (TERRAFORM / "modules" / "sluice").glob("*.tf"):
        calls.update(templatefile_calls(path.read_text()))
    assert set(calls) == {p.name for p in TEMPLATES.glob("*.tftpl")}, calls
    for name, passed in calls.items():
        used = template_variables(TEMPLATES / name)
        assert used <= passed, f"{name} reads {sorted(used - passed)}, not passed by templatefile()"
        assert passed <= used, f"{name} is passed {sorted(passed - used)} and never reads it"


def test_kubernetes_and_compose_run_only_flags_and_variables_the_binary_accepts():
    configmaps = {d["metadata"]["name"]: d for d in kubernetes_documents() if d["kind"] == "ConfigMap"}
    checked = 0
    for doc in kubernetes_documents():
        if doc["kind"] != "StatefulSet":
            continue
        for c in doc["spec"]["template"]["spec"]["containers"]:
            role = c["args"][0]
            flags, env = accepted(role)
            unknown = {flag_of(a) for a in c["args"][1:] if a.startswith("--")} - flags
            assert not unknown, f"{doc['metadata']['name']}: unknown flags {unknown}"
            names = {e["name"] for e in c.get("env", [])}
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    names |= set(configmaps[src["configMapRef"]["name"]]["data"])
            unknown = {n for n in names if n.startswith("SLUICE_")} - env
            assert not unknown, f"{doc['metadata']['name']}: unknown variables {unknown}"
            checked += 1
    assert checked == 2
    compose = yaml.safe_load(COMPOSE.read_text())
    for name, svc in compose["services"].items():
        if svc.get("image") != "sluice:latest":
            continue
        role = svc["command"][0]
        unknown = {n for n in svc["environment"] if n.startswith("SLUICE_")} - accepted(role)[1]
        assert not unknown, f"compose {name}: unknown variables {unknown}"
        assert "/health/ready" in " ".join(svc["healthcheck"]["test"]), name


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_manifests_validate_against_the_schemas(version):
    docs = kubernetes_documents()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["Namespace", "ConfigMap", "ConfigMap", "Secret", "ServiceAccount", "Service", "StatefulSet",
                            "Service", "Service", "StatefulSet", "PodDisruptionBudget", "PodDisruptionBudget"]), kinds
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    for sts in (d for d in docs if d["kind"] == "StatefulSet"):
        pod = sts["spec"]["template"]
        (c,) = pod["spec"]["containers"]
        assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
