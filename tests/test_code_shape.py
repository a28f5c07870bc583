"""Code shape that keeps Sluice easy to change (issue 11): no file-level import cycles inside
the agent and the metadata crates (tests/module_graph.py says how imports are read)."""

import os

import pytest

from module_graph import cycles, describe, edges

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.mark.parametrize("crate", ["sluice-agent", "sluice-meta"])
def test_no_file_level_import_cycles(crate):
    graph = edges(os.path.join(ROOT, "crates", crate, "src"))
    assert len(graph) > 10, "the crate's files were not found"
    assert cycles(graph) == [], describe(graph, cycles(graph))


def test_the_checker_finds_a_cycle(tmp_path):
    # a -> b -> c -> a (through `use`, a braced list and a `super::` path); d only imports a.
    src = tmp_path / "src"
    (src / "b").mkdir(parents=True)
    (src / "lib.rs").write_text("pub mod a;\npub mod b;\npub mod c;\npub mod d;\n")
    (src / "a.rs").write_text("// use crate::d;\nuse crate::b::{x::Y, Z};\n")
    (src / "b" / "mod.rs").write_text("pub mod x;\npub struct Z;\n")
    (src / "b" / "x.rs").write_text("use super::super::c::W;\npub struct Y;\n")
    (src / "c.rs").write_text("pub struct W(crate::a::V);\n#[cfg(test)]\nuse crate::d::T;\n")
    (src / "d.rs").write_text("use crate::a::V;\n")
    graph = edges(str(src))
    assert graph["a"] == {"b", "b::x"}
    assert graph["c"] == {"a"}, "comments and the test tail are not imports"
    assert cycles(graph) == [["a", "b::x", "c"]]
