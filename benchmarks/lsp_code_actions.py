"""Code-action latency of `repomend lsp`: median and p95 of its textDocument/codeAction handler.

Editors ask for code actions at every cursor move, so listing "Fix this method" must cost next
to nothing. This runs the server's real handler (document lookup, tree-sitter parse, method
lookup, building the actions) in-process on a generated 2,000-line Python file, at many cursor
positions, twice: with the file unchanged between requests (the parse is cached), and with the
file edited before every request (a fresh parse each time, the cost after typing).

Usage: .venv/bin/python benchmarks/lsp_code_actions.py [--lines 2000] [--positions 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsprotocol import types

from lsp.pygls_compat import open_workspace_without_client
from lsp.server import code_action, create_server

URI = "file:///bench/generated.py"


def generated_file(lines: int) -> str:
    """Classes of methods and module functions with docstrings, loops and nested blocks."""
    out = ['"""A generated module."""', "", "import math", ""]
    index = 0
    while len(out) < lines:
        index += 1
        if index % 3:
            out += ["", f"class Shape{index}:", f'    """Shape number {index}."""', ""]
            for method in range(4):
                out += [
                    f"    def area_{method}(self, xs, scale={method}):",
                    '        """Sum of scaled squares."""',
                    "        total = 0",
                    "        for x in xs:",
                    "            if x > scale:",
                    "                total += math.sqrt(x * x) * scale",
                    "        return total",
                    "",
                ]
        else:
            out += [
                "",
                f"def helper_{index}(values):",
                "    result = []",
                "    for value in values:",
                "        result.append(value * 2)",
                "    return result",
            ]
    return "\n".join(out[:lines]) + "\n"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--positions", type=int, default=2000, help="cursor positions measured per scenario")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    source = generated_file(args.lines)
    server = create_server()
    open_workspace_without_client(server.protocol)
    server.workspace.put_text_document(
        types.TextDocumentItem(uri=URI, language_id="python", version=1, text=source)
    )
    rng = random.Random(args.seed)
    total_lines = source.count("\n")
    positions = [rng.randrange(total_lines) for _ in range(args.positions)]

    def request(line: int) -> types.CodeActionParams:
        where = types.Position(line=line, character=8)
        return types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=types.Range(start=where, end=where),
            context=types.CodeActionContext(diagnostics=[]),
        )

    def measure(edit_before_each: bool) -> tuple[list[float], list[float], int]:
        times, cpu, offered = [], [], 0
        for number, line in enumerate(positions):
            if edit_before_each:  # a one-character change at the end, as typing would make
                text = source + f"# {number}\n"
                server.workspace.put_text_document(
                    types.TextDocumentItem(uri=URI, language_id="python", version=number + 2, text=text)
                )
            params = request(line)
            started, started_cpu = time.perf_counter(), time.thread_time()
            actions = code_action(server, params)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
            offered += bool(actions)
        return times, cpu, offered

    code_action(server, request(0))  # warm-up: imports, first parse
    print(f"file: {total_lines} lines, {source.count('def ')} functions; {len(positions)} cursor positions")
    for label, edit in (("unchanged file (cached parse)", False), ("edited before each request", True)):
        times, cpu, offered = measure(edit)
        print(
            f"{label:30} wall: median {statistics.median(times):.3f} ms, p95 {percentile(times, 0.95):.3f} ms"
            f" | cpu: median {statistics.median(cpu):.3f} ms, p95 {percentile(cpu, 0.95):.3f} ms"
            f" | {offered} positions inside a method"
        )
    print("(wall includes waiting for a busy CPU; cpu is the handler's own compute time)")


if __name__ == "__main__":
    main()
