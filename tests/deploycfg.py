"""Reading what the deployment files run: the Terraform user-data templates, the Kubernetes
manifests and the compose file, and the flags and variables `sluice <role> --help` accepts."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import yaml

from conftest import REPO, sluice_bin

TERRAFORM = REPO / "terraform"
TEMPLATES = TERRAFORM / "modules" / "sluice" / "templates"
KUBERNETES = REPO / "deploy" / "kubernetes"
COMPOSE = REPO / "deploy" / "docker-compose.yml"


@cache
def accepted(role: str) -> tuple[frozenset, frozenset]:
    """(flags, SLUICE_* variables) of `sluice <role> --help`, global ones included."""
    text = subprocess.run([sluice_bin(), role, "--help"], capture_output=True, text=True, check=True).stdout
    flags = set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", text))
    env = set(re.findall(r"\[env: (SLUICE_[A-Z0-9_]+)=", text))
    return frozenset(flags), frozenset(env)


def flag_of(token: str) -> str:
    return token.split("=", 1)[0]


def template_command(path: Path) -> list[str]:
    """The `SLUICE_ARGS=( ... )` array of a user-data template: role, then flags and values
    (unquoted; template directive lines dropped)."""
    text = path.read_text()
    m = re.search(r"^SLUICE_ARGS=\(\n(.*?)^\)", text, re.S | re.M)
    assert m, f"{path.name}: no SLUICE_ARGS=( ... ) block"
    tokens = []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line or line.startswith("%{"):
            continue
        tokens.extend(t.strip('"') for t in line.split(None, 1))
    return tokens


def template_variables(path: Path) -> set[str]:
    """Names a template reads from its templatefile() variables (not functions, attributes,
    keywords or loop variables)."""
    text = path.read_text().replace("$${", "")  # escaped: bash, not template
    names, loop_vars = set(), set()
    for expr in re.findall(r"[$%]\{~?(.*?)~?\}", text):
        m = re.match(r"\s*for\s+(\w+)\s+in\s", expr)
        if m:
            loop_vars.add(m.group(1))
        expr = re.sub(r'"[^"]*"', '""', expr)
        for name in re.findall(r"(?<![\w.])([A-Za-z_]\w*)(?!\w|\s*\()", expr):
            names.add(name)
    return names - loop_vars - {"if", "else", "endif", "for", "in", "endfor", "true", "false", "null"}


def templatefile_calls(tf_text: str) -> dict[str, set[str]]:
    """template file name → the variable names its templatefile() call passes."""
    calls = {}
    for m in re.finditer(r'templatefile\("\$\{path\.module\}/templates/([^"]+)",\s*\{', tf_text):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(tf_text[i], 0)
            i += 1
        body = tf_text[m.end():i - 1]
        calls[m.group(1)] = set(re.findall(r"^\s*(\w+)\s*=", body, re.M))
    return calls


def kubernetes_documents() -> list[dict]:
    """Every resource of deploy/kubernetes, in kustomization.yaml's order."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs.extend(d for d in yaml.safe_load_all((KUBERNETES / name).read_text()) if d)
    return docs


def kubernetes_by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in kubernetes_documents() if d["kind"] == kind}


def pod_command(statefulset: str, index: int, replacements: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The arguments and environment pod `index` of a StatefulSet runs, as Kubernetes would
    compute them (fieldRefs, envFrom ConfigMaps and Secrets, `$(VAR)` in args), then with every
    `replacements` key (an address, a path) replaced in arguments and values."""
    sts = kubernetes_by_kind("StatefulSet")[statefulset]
    configmaps, secrets = kubernetes_by_kind("ConfigMap"), kubernetes_by_kind("Secret")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    pod = {"metadata.name": f"{statefulset}-{index}",
           "metadata.labels['apps.kubernetes.io/pod-index']": str(index)}
    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(configmaps[src["configMapRef"]["name"]]["data"])
        if "secretRef" in src:
            env.update(secrets[src["secretRef"]["name"]].get("stringData", {}))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            env[var["name"]] = pod[var["valueFrom"]["fieldRef"]["fieldPath"]]
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["args"]]

    def rewrite(s: str) -> str:
        for old, new in replacements.items():
            s = s.replace(old, new)
        return s
    return [rewrite(a) for a in args], {k: rewrite(v) for k, v in env.items()}
