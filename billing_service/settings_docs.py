"""docs/configuration.md's table of variables, from the Settings class's defaults and
descriptions: ``python3 -m billing_service.settings_docs`` prints it; tests/test_settings.py
checks the page holds exactly that table."""

from __future__ import annotations

from billing_service.settings import Settings


def shown_default(name: str) -> str:
    """The default as docs/configuration.md shows it."""
    field = Settings.model_fields[name]
    shown = (field.json_schema_extra or {}).get("shown_default")
    if shown is not None:
        return str(shown)
    default = field.default
    if default is None:
        return "none"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return f"`{default}`"


def configuration_table() -> str:
    """docs/configuration.md's table, from the class: one row per variable."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{name}` | {shown_default(name)} | {field.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(configuration_table(), end="")
