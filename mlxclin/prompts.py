"""Prompt templates: text files under mlxclin/configs/prompts/, replaceable with --prompt-file.

File format (so any paper version's exact wording can be dropped in):

    ### system
    text of the system message
    ### user
    text of the user message with {placeholders}

Lines before the first "### " header are a comment and ignored. A `### system` section is optional (some
wordings put everything in the user turn). Placeholders are `{name}` for the names a task documents; other braces
are left as they are, so prompt text may contain "{" freely.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from mlxclin.errors import MlxclinError
from mlxclin.paths import config_file

_SECTION = re.compile(r"(?m)^###[ \t]*(system|user)[ \t]*$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass
class PromptTemplate:
    source: str        # file it came from, recorded with the run
    system: str
    user: str

    def messages(self, **values) -> list:
        """Chat messages with every known {placeholder} filled in."""
        missing = sorted(set(_PLACEHOLDER.findall(self.system + self.user)) - set(values))
        if missing:
            raise MlxclinError(f"prompt {self.source} uses unknown placeholder(s) {', '.join(missing)}; "
                               f"available: {', '.join(sorted(values))}")
        fill = lambda text: _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)  # noqa: E731
        messages = [{"role": "system", "content": fill(self.system)}] if self.system else []
        messages.append({"role": "user", "content": fill(self.user)})
        return messages


def load_prompt(name_or_path) -> PromptTemplate:
    """A prompt by file path, or by name from mlxclin/configs/prompts/<name>.txt."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = config_file("prompts", f"{name_or_path}.txt")
    if not path.is_file():
        raise MlxclinError(f"prompt file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MlxclinError(f"prompt file {path} is not UTF-8 text") from None
    parts = _SECTION.split(text)
    sections = {}
    for role, body in zip(parts[1::2], parts[2::2]):
        if role in sections:
            raise MlxclinError(f"prompt file {path} has two '### {role}' sections")
        sections[role] = body.strip("\n")
    if not sections.get("user", "").strip():
        raise MlxclinError(f"prompt file {path} needs a '### user' section (and optionally '### system')")
    return PromptTemplate(str(path), sections.get("system", "").strip(), sections["user"].strip())
