"""Just enough of the Dockerfile and .dockerignore formats to test the image
without a Docker engine: instructions per stage, ENV, COPY sources, the exec
form of CMD/ENTRYPOINT/HEALTHCHECK, and which build-context files
.dockerignore keeps."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Instruction:
    keyword: str
    arguments: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            words = shlex.split(instruction.arguments)
            if words and "=" not in words[0]:  # legacy `ENV KEY value with spaces`
                values[words[0]] = " ".join(words[1:])
                continue
            for word in words:
                key, _, value = word.partition("=")
                values[key] = value
        return values

    def workdir(self) -> str:
        workdir = "/"
        for instruction in self.all("WORKDIR"):
            workdir = str(Path(workdir) / instruction.arguments.strip())
        return workdir


@dataclass
class Copy:
    sources: list[str]
    destination: str
    from_stage: str | None
    line: int


def parse(path: Path = REPO / "Dockerfile") -> list[Stage]:
    """Stages of a Dockerfile, in order; the last is the image."""
    logical: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):  # comment inside a continuation
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append((start, pending + stripped))
        pending = ""
    assert not pending, f"{path}: unterminated line continuation"

    stages: list[Stage] = []
    for number, text in logical:
        keyword, _, arguments = text.partition(" ")
        keyword = keyword.upper()
        arguments = arguments.strip()
        if keyword == "FROM":
            words = arguments.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, arguments, number))
    return stages


def _flags_and_rest(arguments: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    rest = arguments
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags[name] = value
        rest = rest.strip()
    return flags, rest


def copies(stage: Stage) -> list[Copy]:
    found = []
    for instruction in stage.all("COPY") + stage.all("ADD"):
        flags, rest = _flags_and_rest(instruction.arguments)
        words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        found.append(Copy(words[:-1], words[-1], flags.get("from"), instruction.line))
    return found


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of CMD/ENTRYPOINT; shell form is refused because the
    shell, not gunicorn, would then receive the stop signal."""
    text = instruction.arguments
    assert text.startswith("["), f"line {instruction.line}: {instruction.keyword} must use the exec (JSON) form"
    words = json.loads(text)
    assert isinstance(words, list) and all(isinstance(w, str) for w in words)
    return words


def healthcheck_command(stage: Stage) -> list[str]:
    instruction = stage.last("HEALTHCHECK")
    assert instruction is not None, "the image has no HEALTHCHECK"
    _, rest = _flags_and_rest(instruction.arguments)
    keyword, _, command = rest.partition(" ")
    assert keyword.upper() == "CMD", f"HEALTHCHECK must run a command, got {rest!r}"
    return exec_form(Instruction("HEALTHCHECK", command.strip(), instruction.line))


def image_command(stage: Stage) -> list[str]:
    entrypoint = stage.last("ENTRYPOINT")
    cmd = stage.last("CMD")
    return (exec_form(entrypoint) if entrypoint else []) + (exec_form(cmd) if cmd else [])


def _pattern_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


class DockerIgnore:
    """Docker's rules: patterns in order, the last one matching a path or
    one of its parent directories decides; `!` keeps."""

    def __init__(self, path: Path = REPO / ".dockerignore") -> None:
        self.rules: list[tuple[bool, re.Pattern]] = []
        lines = path.read_text().splitlines() if path.exists() else []
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            pattern = line[1:] if keep else line
            pattern = pattern.strip().strip("/")
            self.rules.append((keep, _pattern_regex(pattern)))

    def excludes(self, relative: str) -> bool:
        parts = relative.split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for keep, regex in self.rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                excluded = not keep
        return excluded
