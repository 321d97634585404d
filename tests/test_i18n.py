"""The English catalog is complete and in step with the code (a drift test)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.checkers import python_format
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "server" / "locale" / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}


def extracted_ids() -> set[str]:
    ids: set[str] = set()
    method_map = [("server/**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options, keywords=KEYWORDS):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def test_english_catalog_is_complete_and_current() -> None:
    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    in_catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    in_code = extracted_ids()
    missing = sorted(in_code - in_catalog)
    assert not missing, f"run scripts/i18n and translate: {missing[:10]}"
    # A plural entry is a tuple of forms: every one of them must be filled in.
    untranslated = [m.id for m in catalog if m.id and (
        not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
    assert not untranslated, f"untranslated English strings: {untranslated[:10]}"
    for message in catalog:
        if message.id and message.string:
            python_format(catalog, message)  # raises when placeholders differ
