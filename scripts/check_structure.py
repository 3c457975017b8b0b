"""Checks the source's structure rules (run by scripts/test.sh):

- no file in src/pg over 500 lines;
- no function over 80 lines in src/ without a comment, right above it, whose
  line says "Long:" and why it must be long.

Prints one line per violation; exits 1 if there is any.  A function is found
by its body's braces: a line "{" at column 0 (C) or a definition line ending
in "{" at column 0 (C++), up to the next "}" at column 0.
"""
import glob
import re
import sys

MAX_GLUE_LINES = 500
MAX_FUNCTION_LINES = 80

problems = []
for path in sorted(glob.glob("src/pg/*.c") + glob.glob("src/pg/*.h")):
    n = sum(1 for _ in open(path))
    if n > MAX_GLUE_LINES:
        problems.append(f"{path}: {n} lines (at most {MAX_GLUE_LINES} in src/pg)")

definition = re.compile(r"^[A-Za-z].*\)\s*(const\s*)?(noexcept\s*)?\{$")
for path in sorted(glob.glob("src/**/*.c", recursive=True) + glob.glob("src/**/*.cpp", recursive=True)):
    lines = open(path).read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        is_c = line == "{"
        if is_c or (definition.match(line) and not line.startswith(("namespace", "struct", "class", "extern"))):
            end = i + 1
            while end < len(lines) and lines[end] != "}":
                end += 1
            length = end - i + 1
            head = i - 1 if is_c else i  # the line with the name
            if length > MAX_FUNCTION_LINES:
                above = "\n".join(lines[max(0, head - 12):head])
                if "Long:" not in above:
                    problems.append(f"{path}:{head + 1}: {length} lines without a 'Long:' comment saying why")
            i = end + 1
        else:
            i += 1

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
