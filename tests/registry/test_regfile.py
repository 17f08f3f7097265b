"""The registry model and .reg files: case-insensitive keys, every value type, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from appvirt.registry import REG, Registry, RegistryStore
from appvirt.registry.hive import sz
from appvirt.registry.regfile import RegFileError, decode, export_bytes, export_text, import_text

SAMPLE = "\r\n".join([
    "Windows Registry Editor Version 5.00",
    "",
    "[HKEY_CURRENT_USER\\Software\\Test]",
    '@="default"',
    '"Text"="a \\"quoted\\" \\\\ path"',
    '"Number"=dword:0000002a',
    '"Big"=hex(b):01,02,03,04,05,06,07,08',
    '"Blob"=hex:00,01,02,fe,ff',
    '"Expand"=hex(2):25,00,54,00,45,00,4d,00,50,00,25,00,00,00',
    '"Multi"=hex(7):61,00,00,00,62,00,00,00,00,00',
    '"Nothing"=hex(0):',
    "",
    "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Vendor\\App\\Deep]",
    '"Long"=hex:' + ",".join(["ab"] * 60),
    "",
]) + "\r\n"  # fmt: skip


def test_keys_and_values_ignore_case() -> None:
    reg = Registry()
    key = reg.open_path("HKCU\\Software\\Mixed\\Case", create=True)
    assert key is not None
    key.set("Value", REG.SZ, sz("x"))
    found = reg.open_path("hkey_current_user\\SOFTWARE\\mixed\\CASE")
    assert found is key
    assert found.get("VALUE") is not None and found.get("value").name == "Value"  # type: ignore[union-attr]


def test_import_reads_every_type() -> None:
    reg = Registry()
    assert import_text(reg, SAMPLE) == 9
    key = reg.open_path("HKCU\\Software\\Test")
    assert key is not None
    assert key.get("").data == sz("default")  # type: ignore[union-attr]
    assert key.get("text").data == sz('a "quoted" \\ path')  # type: ignore[union-attr]
    assert (key.get("Number").type, key.get("Number").data) == (
        REG.DWORD,
        (42).to_bytes(4, "little"),
    )  # type: ignore[union-attr]
    assert key.get("Big").type == REG.QWORD  # type: ignore[union-attr]
    assert key.get("Multi").data == "a\0b\0\0".encode("utf-16-le")  # type: ignore[union-attr]
    assert key.get("Nothing").type == REG.NONE  # type: ignore[union-attr]
    deep = reg.open_path("HKLM\\Software\\vendor\\app\\deep")
    assert deep is not None and deep.get("Long").data == b"\xab" * 60  # type: ignore[union-attr]


def test_round_trip_import_export_import_gives_the_same_tree() -> None:
    first = Registry()
    import_text(first, SAMPLE)
    text = export_text(first)
    second = Registry()
    import_text(second, decode(export_bytes(first)))
    assert export_text(second) == text
    assert all(len(line) <= 80 for line in text.split("\r\n"))


def test_regedit4_ansi_strings_and_deletions() -> None:
    reg = Registry()
    import_text(reg, 'REGEDIT4\n\n[HKEY_CURRENT_USER\\A\\B]\n"x"=hex(2):25,50,25,00\n"y"="1"\n')
    key = reg.open_path("HKCU\\A\\B")
    assert key is not None and key.get("x").data == "%P%\0".encode("utf-16-le")  # type: ignore[union-attr]
    import_text(reg, 'REGEDIT4\n\n[HKEY_CURRENT_USER\\A\\B]\n"y"=-\n\n[-HKEY_CURRENT_USER\\A]\n')
    assert reg.open_path("HKCU\\A") is None


@pytest.mark.parametrize("text", ["not a reg file\n", "REGEDIT4\n\n\"v\"=\"outside a key\"\n",
                                  "REGEDIT4\n[HKEY_CURRENT_USER\\X]\n\"v\"=dword:zz\n"])  # fmt: skip
def test_malformed_reg_files_name_the_line(text: str) -> None:
    with pytest.raises(RegFileError, match="line"):
        import_text(Registry(), text)


def test_store_persists_atomically(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path)
    reg = store.load()
    key = reg.open_path("HKCU\\Software\\Persist", create=True)
    assert key is not None
    key.set("n", REG.DWORD, (7).to_bytes(4, "little"))
    store.save(reg)
    assert [p.name for p in tmp_path.iterdir()] == ["registry.json"]
    again = RegistryStore(tmp_path).load().open_path("HKCU\\Software\\Persist")
    assert again is not None and again.get("n").data == (7).to_bytes(4, "little")  # type: ignore[union-attr]
