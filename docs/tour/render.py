"""Writes docs/tour.md (or the file named as its argument) from docs/tour/tour.md.in, putting
in the outputs vmemu made.

A line of the template that is a directive becomes lines of a file of docs/tour/:
  @include FILE                 the whole file
  @include FILE REGEX COUNT     COUNT lines, from the first that REGEX matches (0: up to the
                                next empty line)
  @grep FILE REGEX              every line that REGEX matches
Any other line is copied as it is.
"""
import re
import shlex
import sys
from pathlib import Path

here = Path(__file__).resolve().parent


def lines_of(name):
    return [line.rstrip() for line in (here / name).read_text().splitlines()]


def expand(directive):
    words = shlex.split(directive)
    lines = lines_of(words[1])
    if words[0] == "@grep":
        return [line for line in lines if re.search(words[2], line)]
    if len(words) == 2:
        return lines
    pattern, count = re.compile(words[2]), int(words[3])
    for index, line in enumerate(lines):
        if pattern.search(line):
            if count == 0:
                count = next((n for n, rest in enumerate(lines[index:]) if not rest), len(lines) - index)
            return lines[index:index + count]
    sys.exit(f"render.py: nothing in {words[1]} matches {words[2]}")


out = []
for line in (here / "tour.md.in").read_text().splitlines():
    if line.startswith("@include ") or line.startswith("@grep "):
        out.extend(expand(line))
    else:
        out.append(line)
target = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent / "tour.md"
target.write_text("\n".join(out) + "\n")
