"""`repomend lsp`: the language server editors start (see repomend.cli.COMMAND_MODULES)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def add_commands(commands: argparse._SubParsersAction) -> None:
    lsp = commands.add_parser(
        "lsp",
        help='run the language server (stdio) that offers "Fix this method" to editors',
        description='Language server for Python files: code actions "Fix this method" and "Fix this '
        'method (think)"; settings come from the editor\'s "repomend" section.',
    )
    lsp.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio (for debugging)")
    lsp.add_argument("--host", default="127.0.0.1", help="TCP address (default 127.0.0.1)")
    lsp.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    lsp.add_argument("--log-file", help="write the server's log here (stdout belongs to the protocol)")
    lsp.set_defaults(handler=cmd_lsp)


def cmd_lsp(args: argparse.Namespace, console: Console) -> int:
    from lsp.server import create_server

    handler: logging.Handler = (
        logging.FileHandler(args.log_file) if args.log_file else logging.StreamHandler(sys.stderr)
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler], format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "pygls"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    server = create_server()
    if args.tcp:
        print(f"repomend lsp: listening on {args.host}:{args.port}", file=sys.stderr)
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return 0
