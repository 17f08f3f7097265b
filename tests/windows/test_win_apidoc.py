"""docs/windows.md is generated from the declarations and committed up to date."""

from __future__ import annotations

from helpers import ROOT


def test_windows_doc_is_generated_from_the_declarations() -> None:
    from appvirt.windows.apidoc import render

    committed = (ROOT / "docs" / "windows.md").read_text()
    assert committed == render(), "regenerate: python -m appvirt.windows.apidoc > docs/windows.md"
