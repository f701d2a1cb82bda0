"""jinja2 rendering of reports (and later PR bodies) from `templates/`.

StrictUndefined turns a typo in a template into an error instead of a silently empty cell.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from bindbot.errors import ToolMissingError

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _cell(text: str) -> str:
    """Make text safe inside a Markdown table cell."""
    return re.sub(r"\s*\n\s*", " ", str(text)).replace("|", "\\|")


def commit_link(upstream: str) -> Any:
    """A function templates call to link a commit, when the upstream is on GitHub."""
    base = upstream.removesuffix(".git").rstrip("/")

    def link(sha: str) -> str:
        if base.startswith(("https://github.com/", "http://github.com/")):
            return f"{base}/commit/{sha}"
        return f"#{sha[:10]}"

    return link


@cache
def environment() -> jinja2.Environment:
    if not TEMPLATES.is_dir():
        raise ToolMissingError(
            f"bindbot's templates folder {TEMPLATES} is missing",
            "install bindbot from its source tree (`pip install -e .`)",
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["cell"] = _cell
    return env


def render(template: str, **context: Any) -> str:
    text = environment().get_template(template).render(**context)
    # Blank-line runs come from skipped blocks; collapse them so output is stable and tidy.
    return re.sub(r"\n{3,}", "\n\n", text)
