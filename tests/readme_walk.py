"""The README as the test walks it: its code blocks, their commands, and the rules that make a line runnable.

Grammar of a shell block (fences without a language, or ``bash``/``sh``/``shell``/``console``):

* one command per line (``\\`` at the end joins the next line); ``#`` starts a comment; a line holding only a
  comment continues the comment of the command above it;
* ``[ … ]`` marks an optional part: the walker runs the command with every optional part included, and of the
  alternatives ``[a | b]`` the first;
* ``--option …`` means the value this option was given earlier in the README (``--db …``, ``--url …``);
* a word in capitals (``UID``, ``NAME``) is a placeholder the test must know how to fill
  (:data:`test_readme.PLACEHOLDERS`); an unknown one fails the walk and names the line.

Python blocks run as a script; JSON blocks are either a file the commands read (an ROI file) or a sketch of
what a command prints (``…`` for "more of the same"); the test has one handler per kind.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

SHELL = ("", "bash", "sh", "shell", "console")
LANGUAGES = {**dict.fromkeys(SHELL, "shell"), "python": "python", "json": "json"}
_FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_CAPITALS = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its kind (shell, python, json or the fence's own word), text and place."""

    kind: str
    text: str
    line: int
    section: str

    @property
    def name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")
        return f"L{self.line}-{slug}-{self.kind}"


@dataclass(frozen=True)
class Command:
    """One shell command of a block: as written (without its comment), its comment, its README line."""

    text: str
    comment: str
    line: int
    block: Block = field(repr=False, compare=False)


def blocks(markdown: str) -> list[Block]:
    """Every fenced code block of ``markdown``, in order, with the heading it sits under."""
    found, section, opened, lines = [], "", None, []
    for number, line in enumerate(markdown.splitlines(), 1):
        fence = _FENCE.match(line)
        if opened is None:
            heading = _HEADING.match(line)
            if heading:
                section = heading.group(2).strip()
            elif fence:
                opened, lines = (number, fence.group(1).lower()), []
        elif line.startswith("```"):
            start, word = opened
            found.append(Block(LANGUAGES.get(word, word), "\n".join(lines), start, section))
            opened = None
        else:
            lines.append(line)
    if opened is not None:
        raise ValueError(f"README line {opened[0]}: a code block is never closed")
    return found


def split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of a shell line: ``#`` at the start or after a space, outside quotes."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def commands(block: Block) -> list[Command]:
    """The commands of a shell block (see the module docstring)."""
    out: list[Command] = []
    pending, first = "", 0
    for offset, raw in enumerate(block.text.splitlines(), 1):
        code, comment = split_comment(raw.strip())
        if not code and not pending:
            if comment and out:  # a comment line continues the comment above it
                last = out[-1]
                out[-1] = Command(last.text, f"{last.comment} {comment}".strip(), last.line, block)
            continue
        first = first or block.line + offset
        if code.endswith("\\"):
            pending += code[:-1] + " "
            continue
        out.append(Command(" ".join((pending + code).split()), comment, first, block))
        pending, first = "", 0
    return out


def expand_optional(text: str) -> str:
    """``text`` with every ``[ … ]`` replaced by its content (the first of ``a | b``), nested groups too."""
    while "[" in text:
        start = text.rindex("[")  # the innermost group first
        end = text.index("]", start)
        content = text[start + 1:end]
        text = text[:start] + content.split(" | ")[0].strip() + text[end + 1:]
    return " ".join(text.split())


_OPTION_VALUE = re.compile(r"(--[a-z][a-z0-9-]*)\s+(?!-)(\S+)")


def resolve_ellipses(text: str, remembered: dict[str, str]) -> str:
    """``--option …`` → the option's earlier value; then remember this command's option values.

    Raises
    ------
    KeyError
        An ``…`` whose option was never given a value before.
    """
    def value(match: re.Match[str]) -> str:
        option, given = match.group(1), match.group(2)
        if given == "…":
            if option not in remembered:
                raise KeyError(f"{option} … but {option} was given no value earlier in the README")
            return f"{option} {remembered[option]}"
        return match.group(0)

    resolved = _OPTION_VALUE.sub(value, text)
    for option, given in _OPTION_VALUE.findall(resolved):
        if not given.startswith("-"):
            remembered[option] = given
    return resolved


def placeholders(text: str, known: set[str]) -> list[str]:
    """The capitalised words of ``text`` that are neither known placeholders nor literal (quoted) text."""
    try:
        words = shlex.split(text, posix=True)
    except ValueError:
        words = text.split()
    return [w for w in words if _CAPITALS.match(w) and w not in known]
