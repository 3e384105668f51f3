"""README's references cannot drift from the code: the configuration table, the loss reasons."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from heliograph.config import _ENV_FIELDS, Config
from heliograph.delivery.report import LOSS_REASONS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# Keywords whose name differs from the Config field, and variables read outside _ENV_FIELDS.
KEYWORD_OF = {"endpoint": "logging_endpoint"}
OTHER_VARIABLES = {
    "api_key": "HELICONE_API_KEY", "endpoint": "HELIOGRAPH_ENDPOINT",
    "spool_dir": "HELIOGRAPH_SPOOL_DIR", "blob_dir": "HELIOGRAPH_BLOB_DIR",
    "headers": "HELIOGRAPH_HEADERS",
}  # fmt: skip


def configuration_table() -> list[tuple[tuple[str, ...], set[str]]]:
    """README's configuration rows: the keywords of each, and the variables it names."""
    section = README.split("## Configuration", 1)[1].split("\n##", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        keywords = tuple(re.findall(r"`([a-z_]+)`", cells[0]))
        rows.append((keywords, set(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[1]))))
    return rows


def test_the_configuration_table_lists_every_setting_with_its_variable() -> None:
    rows = configuration_table()
    field_of = {KEYWORD_OF.get(f.name, f.name): f.name for f in dataclasses.fields(Config)}
    assert sorted(k for keywords, _ in rows for k in keywords) == sorted(field_of)
    variable_of = {field: name for name, field in _ENV_FIELDS.items()} | OTHER_VARIABLES
    for keywords, variables in rows:
        fields = [field_of[k] for k in keywords]
        assert variables == {variable_of[f] for f in fields if f in variable_of}, keywords


def test_the_guarantees_list_every_loss_reason_and_no_other() -> None:
    paragraph = README.split("**Losses are counted, by reason.**", 1)[1].split("\n- **", 1)[0]
    listed = re.findall(r"`([a-z_]+)`", paragraph.split("Each loss", 1)[0])
    assert sorted(listed) == sorted(LOSS_REASONS)


def test_every_reason_the_code_counts_a_loss_for_is_a_known_one() -> None:
    counted: set[str] = set()
    pattern = re.compile(r'(?:count_lost|_drop|on_lost|on_corrupt|drop)\(\s*"([a-z_]+)"')
    for path in (ROOT / "src" / "heliograph").rglob("*.py"):
        text = path.read_text()
        counted |= set(pattern.findall(text))
        counted |= set(re.findall(r'"lost:([a-z_]+)"', text))
        counted |= set(re.findall(r'"(evicted_[a-z]+)"', text))
    fallback = (ROOT / "src" / "heliograph" / "spool" / "fallback.py").read_text()
    counted |= set(re.findall(r'return "([a-z_]+)"', fallback))  # failure_reason's
    assert counted <= set(LOSS_REASONS), counted - set(LOSS_REASONS)
    assert len(counted) >= 10  # the scan finds the reasons, not nothing
