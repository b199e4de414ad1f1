#!/usr/bin/python3
"""Shape rules of the production C code, run by `make check`.

- no production C file over 700 lines;
- no function over 80 lines (from its first signature line to its closing
  brace; functions are written with the brace of the body alone in
  column 0 and the closing brace alone in column 0);
- no two log messages share an LBX number: a number names one message,
  so an alert rule on it means one thing.

Arguments: the production C files.  Exit status 1 on any violation, each
one printed as file:line: reason.
"""
import re
import sys

MAX_FILE_LINES = 700
MAX_FUNCTION_LINES = 80
LOGNO = re.compile(r'LBXLOGNO\((\d+)\)')


def functions(lines):
    """(name, first line, last line) of each function body, 1-based."""
    found = []
    for i, line in enumerate(lines):
        if line.rstrip() != '{' or i == 0:
            continue
        start = i - 1
        # The signature runs back to the line that starts in column 0.
        while start > 0 and lines[start][:1] in (' ', '\t'):
            start -= 1
        m = re.search(r'(\w+)\s*\(', lines[start] + lines[start + 1]
                      if start + 1 < i else lines[start])
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != '}':
            end += 1
        found.append((m.group(1) if m else '?', start + 1, end + 1))
    return found


def main(paths):
    problems = []
    lognos = {}
    for path in paths:
        with open(path, encoding='utf-8') as f:
            lines = f.read().split('\n')
        if lines and lines[-1] == '':
            lines.pop()
        if len(lines) > MAX_FILE_LINES:
            problems.append('%s:%d: %d lines (at most %d)'
                            % (path, len(lines), len(lines), MAX_FILE_LINES))
        for name, first, last in functions(lines):
            if last - first + 1 > MAX_FUNCTION_LINES:
                problems.append('%s:%d: %s() has %d lines (at most %d)'
                                % (path, first, name, last - first + 1,
                                   MAX_FUNCTION_LINES))
        for n, line in enumerate(lines, 1):
            for no in LOGNO.findall(line):
                lognos.setdefault(no, []).append('%s:%d' % (path, n))
    for no, places in sorted(lognos.items()):
        if len(places) > 1:
            problems.append('%s: LBX%s is used by %d messages: %s'
                            % (places[0], no, len(places),
                               ', '.join(places)))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
