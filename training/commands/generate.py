"""`repomend train generate EXTRACTION --teacher NAME ...`: repair trajectories from teachers."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from repomend.contract.conversation import Mode
from training.commands.options import (
    add_sandbox_options,
    add_teachers_file_option,
    sandbox_settings,
    teachers_file,
)


def add(train_commands: argparse._SubParsersAction) -> None:
    parser = train_commands.add_parser(
        "generate",
        help="run teachers through the repair loop on the training methods (resumable)",
        description=(
            "Teachers: `mutation` (no model: breaks the ground truth with AST operators), `student` "
            "(the local model), `local:MODEL` (another model on this machine, e.g. "
            "local:qwen2.5-coder-1.5b), a name from the teachers file, or NAME=openai:URL:MODEL[:ENVVAR] "
            "(an OpenAI-compatible server; ENVVAR holds the API key). Run the same command again to "
            "resume after an interruption."
        ),
    )
    parser.add_argument(
        "extraction", type=Path, metavar="EXTRACTION", help="folder written by `train extract`"
    )
    parser.add_argument(
        "--teacher", action="append", required=True, metavar="NAME", help="a teacher (repeat for several)"
    )
    add_teachers_file_option(parser)
    parser.add_argument("--turns", type=int, default=5, help="model turns per repair (default 5)")
    parser.add_argument(
        "--workers", type=int, default=1, help="methods repaired at the same time (default 1)"
    )
    parser.add_argument(
        "--start",
        action="append",
        choices=("generate", "mutant"),
        help="where teachers start, one unit per start: the masked method, a mutant the tests "
        "reject (repeat for both; default: both; `mutation` writes the masked method as the ground truth)",
    )
    parser.add_argument(
        "--no-echo-items",
        dest="echo_items",
        action="store_false",
        help="`mutation` keeps only [mutant, TEST_RESULT, ground truth], not also the conversation "
        "where the answer repeats the mutant and the repeat prompt asks again",
    )
    parser.add_argument(
        "--mutants-per-method", type=int, default=3, help="mutants kept per method by `mutation` (default 3)"
    )
    parser.add_argument(
        "--max-mutant-trials", type=int, default=12, help="mutants tried per method at most (default 12)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutant order (default 0)")
    parser.add_argument("--method", action="append", metavar="ID", help="only this method id (repeatable)")
    parser.add_argument("--model", help="the student's model (default: the settings' model)")
    parser.add_argument("--adapter", help="the student's LoRA adapter, by name")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--think", dest="mode", action="store_const", const=Mode.THINK, help="teachers reason first"
    )
    mode.add_argument(
        "--no-think", dest="mode", action="store_const", const=Mode.NO_THINK, help="answer directly"
    )
    parser.add_argument(
        "--out", type=Path, help="folder (default: <data dir>/training/<repo>/trajectories/<version>)"
    )
    parser.add_argument(
        "--cold", action="store_true", help="start a fresh sandbox per run instead of a warm one"
    )
    add_sandbox_options(parser, python_default="the one used for the extraction")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.backends.base import BackendError
    from repomend.errors import UserError
    from training.generate import GenerationError, GenerationOptions, generate
    from training.teachers import TeacherError, load_teacher, parse_teacher, read_teachers_file

    settings = sandbox_settings(args)
    updates = {k: v for k, v in (("model", args.model), ("mode", args.mode)) if v}
    settings = settings.model_copy(update=updates)
    if not (args.extraction / "methods.jsonl").is_file():
        raise UserError(f"{args.extraction} is not an extraction folder (run `repomend train extract` first)")
    options = GenerationOptions(
        turns=args.turns,
        starts=tuple(dict.fromkeys(args.start or GenerationOptions.starts)),
        mutants_per_method=args.mutants_per_method,
        max_mutant_trials=args.max_mutant_trials,
        workers=args.workers,
        seed=args.seed,
        warm=not args.cold,
        echo_items=args.echo_items,
    )
    teachers = []
    try:
        path = teachers_file(args, settings)
        known = read_teachers_file(path) if path else {}
        for text in args.teacher:
            spec = parse_teacher(text, known)
            if spec.kind == "student" and args.adapter:
                spec = replace(spec, adapter=args.adapter)
            with console.status(f"setting up teacher {spec.name}"):
                teachers.append(load_teacher(spec, settings))
        summary = generate(
            args.extraction,
            teachers,
            settings=settings,
            options=options,
            python=args.python,
            out=args.out,
            methods=args.method,
        )
    except (TeacherError, GenerationError) as err:
        raise UserError(str(err)) from err
    except BackendError as err:
        raise UserError(f"a teacher failed: {err}") from err
    finally:
        for teacher in teachers:
            teacher.close()

    if summary.units_skipped:
        console.print(f"resumed: {summary.units_skipped} of {summary.units_total} units were already done")
    if summary.repaired_lines:
        console.print(f"dropped {summary.repaired_lines} unfinished line(s) left by an interrupted run")
    if summary.stale:
        console.print(f"[yellow]{len(summary.stale)} method(s) changed since extraction and were skipped[/]")
    for error in summary.errors[:5]:
        console.print(f"[red]error[/] {error}")
    counts = summary.counts
    console.print(
        f"{summary.units_run} unit(s) run, {summary.items_written} new item(s); {counts['items']} in all"
    )
    for name, teacher_counts in counts["by_teacher"].items():
        rules = ", ".join(f"{k[5:]} {v}" for k, v in teacher_counts.items() if k.startswith("rule_"))
        console.print(f"  {name}: {teacher_counts['items']} item(s) (rules: {rules})")
    if counts["mutation"]:
        m = counts["mutation"]
        console.print(
            f"  mutants: {m.get('tried', 0)} tried, {m.get('kept', 0)} kept (rejected by the tests), "
            f"{m.get('survived', 0)} survived"
        )
    console.print(f"written to {summary.folder}")
    return 0
