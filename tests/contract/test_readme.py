"""The README's configuration table lists every setting, with its real default."""

from __future__ import annotations

from pathlib import Path

from rapport.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    text = README.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        row = next((line for line in text.splitlines() if f"`RAPPORT_{name.upper()}`" in line), None)
        assert row is not None, f"RAPPORT_{name.upper()} is missing from README.md"
        assert f"`{field.default}`" in row, f"README shows a wrong default for RAPPORT_{name.upper()}"
