"""The README and docs/ against the code: links resolve, and every `charrnn …` command they show parses.

A command parses when each word names an existing (sub)command and the command accepts every
option given, with a value of the right type: click's own parser checks it, without running
anything. Shell around the command (continuation lines, pipes, redirections, env prefixes,
`$(…)`, comments, mpiexec) is taken apart first.
"""

import re
import shlex
from pathlib import Path

import click
import pytest

from charrnn.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
SHELL_FENCES = {"", "sh", "bash", "shell", "console"}
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
OPERATORS = "();|&<>"


def relative_links(text):
    """Link targets that point into the repository (not URLs, not mail)."""
    return [target for target in LINK.findall(strip_code(text)) if not re.match(r"[a-z]+:", target)]


def strip_code(text):
    """The text without fenced blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def anchors(path):
    """GitHub's anchors for the headings of a Markdown file: lowercase, punctuation dropped, spaces to '-'."""
    seen, found = {}, set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", FENCE.sub("", path.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def link_problem(doc, target):
    """None if `target`, as written in `doc`, names a file (and heading) that exists; else why not."""
    path, _, anchor = target.partition("#")
    file = (doc.parent / path).resolve() if path else doc
    if not file.exists():
        return f"{target}: no such file"
    if anchor and file.suffix == ".md" and anchor not in anchors(file):
        return f"{target}: no heading #{anchor} in {file.name}"
    return None


def shell_commands(text):
    """Every command line in the shell blocks and inline code of a Markdown text, continuations joined."""
    lines = []
    for lang, body in FENCE.findall(text):
        if lang in SHELL_FENCES:
            lines += re.sub(r"\\\n\s*", " ", body).splitlines()
    lines += [span.replace("\\|", "|") for span in re.findall(r"`([^`\n]*\bcharrnn [^`\n]*)`", FENCE.sub("", text))]
    return [line for line in lines if line.strip()]


def charrnn_invocations(line):
    """The argument lists given to `charrnn` in one shell line (pipes, $(…), env, mpiexec, comments aside).

    Words are split keeping their quotes, so that a quoted '|' or '#' stays an argument, and
    unquoted afterwards; a run of operator characters ends a simple command or redirects.
    """
    line = re.sub(r"(^|\s)\d+>", r"\1>", line)  # 2>/dev/null: the descriptor is no argument
    lexer = shlex.shlex(line, posix=False, punctuation_chars=True)
    lexer.whitespace_split = True
    invocations, simple, skip = [], [], False
    for word in [*lexer, ";"]:
        if skip:
            skip = False
        elif word[0] in "<>":
            skip = True  # the file name after it
        elif set(word) <= set(OPERATORS):
            program = [i for i, w in enumerate(simple) if w == "charrnn" or w.endswith("/charrnn")]
            if program:
                invocations.append(simple[program[0] + 1:])
            simple = []
        else:
            simple.append("".join(shlex.split(word)))
    return invocations


def parse_problem(args):
    """None if click accepts `charrnn ARGS` (resolving subcommands), else its one-line complaint."""
    command, name = cli, "charrnn"
    try:
        while isinstance(command, click.Group) and args and not args[0].startswith("-"):
            name, *args = args
            command = command.get_command(click.Context(command), name)
            if command is None:
                return f"no command {name!r}"
        command.make_context(name, list(args))
    except (click.exceptions.Exit, click.exceptions.NoArgsIsHelpError):  # --help, --version, bare charrnn
        return None
    except click.ClickException as e:
        return e.format_message()
    return None


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_relative_links_resolve(doc):
    problems = [p for target in relative_links(doc.read_text()) if (p := link_problem(doc, target))]
    assert not problems, f"{doc.name}: " + "; ".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_charrnn_commands_parse(doc):
    invocations = [args for line in shell_commands(doc.read_text()) for args in charrnn_invocations(line)]
    problems = [f"charrnn {' '.join(args)}: {p}" for args in invocations if (p := parse_problem(args))]
    assert not problems, f"{doc.name}:\n" + "\n".join(problems)


def test_the_readme_shows_commands_and_links():
    text = (ROOT / "README.md").read_text()
    assert len(shell_commands(text)) > 20 and len(relative_links(text)) > 5


SHELL_CASES = [  # (a line as a document might show it, the charrnn argument lists in it)
    ("charrnn sample --n 5 | head -3  # a comment", [["sample", "--n", "5"]]),
    ("OPENBLAS_NUM_THREADS=1 mpiexec -n 2 charrnn train a.txt --quiet", [["train", "a.txt", "--quiet"]]),
    ("RUN=$(charrnn train a.txt --quiet); charrnn eval --checkpoint \"$RUN\"",
     [["train", "a.txt", "--quiet"], ["eval", "--checkpoint", "$RUN"]]),
    ("charrnn sample --seed - < prime.txt 2>/dev/null > out.txt", [["sample", "--seed", "-"]]),
    ("charrnn sample --separator '|' --stop '\\n' | sort", [["sample", "--separator", "|", "--stop", "\\n"]]),
    ("tail -c 20 a.txt | .venv/bin/charrnn sample --seed '#x'", [["sample", "--seed", "#x"]]),
    ("python -m charrnn --version && make demo", [["--version"]]),
    ("charrnn --help; python -m charrnn", [["--help"], []]),
    ("pip install 'charrnn[plot]'", []),
]


@pytest.mark.parametrize("line, expected", SHELL_CASES)
def test_shell_lines_are_taken_apart(line, expected):
    assert charrnn_invocations(line) == expected


def test_continuation_lines_are_joined():
    text = "```sh\ncharrnn train a.txt \\\n    --hidden-size 64 \\\n    --quiet\n```\n"
    assert [charrnn_invocations(line) for line in shell_commands(text)] == [[["train", "a.txt", "--hidden-size",
                                                                               "64", "--quiet"]]]


@pytest.mark.parametrize("args, complaint", [
    (["nosuch"], "no command 'nosuch'"),
    (["info", "--bogus"], "--bogus"),
    (["sample", "--n", "many"], "'many' is not a valid integer"),
    (["eval", "--unknown", "maybe"], "'maybe' is not one of"),
    (["sample", "extra"], "unexpected extra argument"),
])
def test_a_command_the_cli_refuses_is_reported(args, complaint):
    assert complaint in parse_problem(args)


def test_a_broken_link_and_a_missing_heading_are_reported(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("# Title `x`: here\n\n## Again\n\n## Again\n")
    assert link_problem(doc, "#title-x-here") is None and link_problem(doc, "#again-1") is None
    assert "no such file" in link_problem(doc, "b.md")
    assert "no heading #nowhere" in link_problem(doc, "a.md#nowhere")


@pytest.mark.parametrize("preset", sorted((ROOT / "charrnn" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_each_preset_says_first_when_to_use_it_and_the_readme_names_it(preset):
    assert preset.read_text().startswith("# Use ")
    assert f"`{preset.stem}`" in (ROOT / "README.md").read_text()  # by the name --config takes


@pytest.mark.parametrize("doc", ["README.md", "docs/configuration.md"])
def test_the_config_tables_hold_every_setting(doc):
    from charrnn.config import FIELDS

    rows = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)?", (ROOT / doc).read_text(), re.M))
    assert set(FIELDS) - {key for row in rows for key in row if key} == set()
