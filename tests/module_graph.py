"""File-level import graph of a Rust crate, and its cycles.

A file imports another when its code (comments and the `#[cfg(test)]` tail left out) names a
path `crate::a::b` or `super::...` that resolves to that file's module. A cycle is a strongly
connected component of more than one file: each of its files reaches every other through
imports, so none can be read, tested or changed alone. `mod` declarations are containment, not
imports. Used by tests/test_code_shape.py; run by hand as
`python3 tests/module_graph.py crates/sluice-agent/src` to print the cycles with their edges.
"""

import os
import re
import sys
from collections import defaultdict

_PATH = re.compile(r"\b((?:crate|super)(?:::(?:\w+|\{[^}]*\}))+)")


def modules(src_dir):
    """Module path ('' for the crate root, 'a::b') -> file, for every .rs file below src_dir."""
    out = {}
    for dirpath, _, files in os.walk(src_dir):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            parts = os.path.relpath(path, src_dir)[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            out["::".join(parts)] = path
    return out


def _resolve(mods, current, path):
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    else:  # super: the parent of this file's module, once per `super`
        base = current.split("::")[:-1] if current else []
        segs = segs[1:]
        while segs and segs[0] == "super":
            base, segs = base[:-1], segs[1:]
    for i in range(len(segs), -1, -1):
        m = "::".join(base + segs[:i])
        if m in mods:
            return m
    return None


def edges(src_dir):
    """File module -> the set of file modules it imports (ancestors left out: a child naming
    its own parent module is a path through it, not a dependency on it)."""
    mods = modules(src_dir)
    out = defaultdict(set)
    for m, path in mods.items():
        with open(path, encoding="utf-8") as fh:
            src = fh.read()
        src = re.sub(r"//[^\n]*", "", src)
        cut = src.find("#[cfg(test)]")
        if cut >= 0:
            src = src[:cut]
        for found in _PATH.finditer(src):
            text = found.group(1)
            if "{" in text:
                prefix, rest = text.split("{", 1)
                paths = [prefix + it.strip().split(" ")[0] for it in rest.rstrip("}").split(",")]
            else:
                paths = [text]
            for p in paths:
                if p.endswith("::"):
                    continue
                t = _resolve(mods, m, p)
                if t and t != m and not m.startswith(t + "::") and t != "":
                    out[m].add(t)
    for m in mods:
        out.setdefault(m, set())
    return out


def cycles(graph):
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def describe(graph, comps):
    """The cycles as text: each component, then each member's edges inside it."""
    lines = []
    for comp in comps:
        lines.append(f"{len(comp)} files: {comp}")
        for a in comp:
            lines.append(f"   {a} -> {sorted(x for x in graph[a] if x in comp)}")
    return "\n".join(lines)


if __name__ == "__main__":
    for d in sys.argv[1:]:
        g = edges(d)
        print(f"== {d}")
        print(describe(g, cycles(g)) or "no cycles")
