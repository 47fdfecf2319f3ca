#!/usr/bin/env python3
"""Runs the README's marked examples against a fresh `guichet serve --demo`,
so that a README command that breaks fails CI.

A fenced block preceded by `<!-- readme-check: run -->` runs in one bash
(`set -euo pipefail`, blocks in order, sharing variables); a block preceded by
`<!-- readme-check: queries -->` holds one query per line, each sent to
`GET /api/v1/tickets?q=…` as the demo agent and expected to answer 200.
The README's address (127.0.0.1:8080) is replaced by the test server's.

Usage: scripts/readme-check.py [path/to/guichet]
"""
import json
import os
import re
import socket
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = re.compile(r"^<!-- readme-check: (run|queries) -->\s*$")


def blocks(readme):
    """(kind, text, line) of each marked fenced block."""
    lines = readme.splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if m and i + 1 < len(lines) and lines[i + 1].startswith("```"):
            start = i + 2
            end = start
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            out.append((m.group(1), "\n".join(lines[start:end]), start + 1))
            i = end
        i += 1
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    binary = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "guichet")
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    found = blocks(readme)
    if not any(kind == "run" for kind, _, _ in found):
        sys.exit("readme-check: no `<!-- readme-check: run -->` block in README.md")
    work = tempfile.mkdtemp(prefix="guichet-readme-")
    port = free_port()
    env = dict(os.environ, GUICHET_LOG="warn")
    server = subprocess.Popen([binary, "serve", "--demo", "--bind", f"127.0.0.1:{port}"], cwd=work, env=env,
                              stdout=subprocess.PIPE, text=True)
    tokens = {}
    try:
        for line in server.stdout:
            m = re.match(r"^\s+(\w+)\s+\S+@\S+\s+API token: (\S+)", line)
            if m:
                tokens[m.group(1)] = m.group(2)
            if line.startswith("Guichet is listening on"):
                break
        else:
            sys.exit("readme-check: the server stopped before listening")
        failures = 0
        script = ["set -euo pipefail"]
        for kind, text, line in found:
            text = text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            if kind == "run":
                script.append(f"echo '--- README.md line {line}'")
                script.append(text)
                continue
            for offset, query in enumerate(q for q in text.splitlines() if q.strip()):
                url = f"http://127.0.0.1:{port}/api/v1/tickets?per_page=1&q={urllib.parse.quote(query)}"
                request = urllib.request.Request(url, headers={"Authorization": f"Bearer {tokens['agent']}"})
                try:
                    with urllib.request.urlopen(request) as answer:
                        total = json.load(answer)["total"]
                    print(f"query ok ({total} tickets): {query}")
                except urllib.error.HTTPError as e:
                    failures += 1
                    print(f"README.md line {line + offset}: query refused ({e.code}): {query}\n  {e.read().decode()}")
        result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work)
        if result.returncode != 0:
            failures += 1
            print(f"readme-check: a README command failed (exit {result.returncode}); see above")
        if failures:
            sys.exit(1)
        print("readme-check: every marked README example works")
    finally:
        server.terminate()
        server.wait()
        # The demo's database and the examples' files: nothing to keep once checked.
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
