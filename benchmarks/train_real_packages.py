"""The whole training pipeline on real PyPI packages: extract, mutation data, fine-tune, evaluate.

For each package, the pinned source distribution (which ships the package's own tests) is
downloaded with `pip download --no-binary :all: --no-deps`, unpacked, given its own venv with
pytest and coverage (the package is imported from the checkout, never installed, so the
sandbox's copy with a candidate spliced in is what the tests import), then:

  1. `training.extract.extract`: methods a passing test executes, split train / validation / held-out;
  2. `training.generate.generate` with the mutation teacher: broken-then-fixed conversations;
  3. `training.dataset.build_dataset`: no-think TRL rows;
  4. `training.sft_trainer.train_adapter`: a LoRA adapter of the default model (brief on CPU: --max-steps);
  5. `training.evaluate.evaluate`: base model vs adapter on the held-out methods, Pass@1..k, the
     report (JSON, Markdown, PNG) written into the adapter folder.

Packages (pure Python, no dependencies, small modules, fast test suites shipped in the sdist):
  - isodate 0.7.2: ISO 8601 parsing and formatting, ten modules of 0.2-11 KB; `tests/` (~400
    tests, about a second).
  - itsdangerous 2.2.0: signing and serialising, seven modules of 0.5-16 KB; `tests/` (~300 tests,
    needs freezegun, about a second).
Both use a src/ layout: the benchmark adds a root `conftest.py` that puts `src` on sys.path, so
the tests import the checkout (the sandbox's copy), as an editable install would. Row length is
what a CPU pays for: a row is the file excerpt (at most 3,000 characters), the broken method,
the test feedback and the fixed method, 750-4,000 tokens here; `--max-length` (2,048) leaves
longer rows out of training, and the optimiser steps and learning rate are set for a brief run.

Run: `.venv/bin/python benchmarks/train_real_packages.py [--packages isodate] [--max-steps 12]
[--eval-limit 10] [--modes no-think,think]`. Needs PyPI (the sdists, pytest and coverage for
the package venvs). Every step writes under --work and is reused by the next run (delete the
folder to start over: extraction, trajectories, dataset and adapter are each kept once made).
Figures depend heavily on how busy the machine is.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
import venv
from pathlib import Path

from repomend.contract.conversation import Mode
from repomend.settings import SandboxSettings, Settings
from training.sft_config import SFTConfig

PACKAGES = {
    "isodate": {"version": "0.7.2", "requirements": ["pytest", "coverage"]},
    "itsdangerous": {"version": "2.2.0", "requirements": ["pytest", "coverage", "freezegun"]},
}
SRC_CONFTEST = """# Added by the benchmark: import the package from src/ of this checkout.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "src"))
"""


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def checkout(name: str, work: Path) -> Path:
    """The unpacked sdist with a `.venv` holding pytest and coverage."""
    version = PACKAGES[name]["version"]
    repo = work / name / f"{name}-{version}"
    if not repo.is_dir():
        sdists = work / "sdists"
        sdists.mkdir(parents=True, exist_ok=True)
        archive = sdists / f"{name}-{version}.tar.gz"
        if not archive.is_file():
            log(f"downloading {name}=={version} (sdist)")
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                 "-q", "-d", str(sdists), f"{name}=={version}"],
                check=True,
            )  # fmt: skip
        with tarfile.open(archive) as tar:
            tar.extractall(work / name, filter="data")
        if (repo / "src").is_dir() and not (repo / "conftest.py").exists():
            (repo / "conftest.py").write_text(SRC_CONFTEST, encoding="utf-8")
    python = repo / ".venv" / "bin" / "python"
    if not python.exists():
        log(f"creating {repo / '.venv'}")
        venv.EnvBuilder(with_pip=True).create(repo / ".venv")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *PACKAGES[name]["requirements"]], check=True
        )
    return repo


def brief_sft(args: argparse.Namespace) -> SFTConfig:
    """The SFT run a benchmark can afford on a CPU: its flags, the recipe's defaults for the rest."""
    return SFTConfig(
        epochs=args.epochs,
        max_steps=args.max_steps,
        max_length=args.max_length,
        warmup_steps=args.warmup_steps,
        learning_rate=args.learning_rate,
        upper_layers=getattr(args, "upper_layers", 0) or None,
        validation_rows=getattr(args, "validation_rows", None),
        changed_token_weight=getattr(args, "changed_token_weight", 1.0),
        seed=args.seed,
    )


def run_package(name: str, args: argparse.Namespace, settings: Settings) -> dict:
    from training.adapter_manifest import read_manifest
    from training.dataset import DatasetOptions, build_dataset
    from training.evaluate import BASE, ModelUnderTest, evaluate
    from training.extract import extract
    from training.generate import GenerationOptions, generate
    from training.records import read_manifest as read_manifest_of_extraction
    from training.report import write_report
    from training.sft_trainer import train_adapter
    from training.teachers import load_teacher, parse_teacher

    work: Path = args.work
    repo = checkout(name, work)
    python = repo / ".venv" / "bin" / "python"
    figures: dict = {"package": f"{name}=={PACKAGES[name]['version']}"}

    started = time.perf_counter()
    folder = work / name / "extraction"
    if not (folder / "manifest.json").is_file():
        extract(
            repo,
            python=python,
            settings=settings,
            seed=args.seed,
            heldout_fraction=args.heldout,
            out=folder,
            on_status=log,
        )
    counts = read_manifest_of_extraction(folder).counts
    figures["extract"] = {"seconds": round(time.perf_counter() - started, 1), **counts}
    log(f"extracted {counts}")

    started = time.perf_counter()
    teacher = load_teacher(parse_teacher("mutation"), settings)
    summary = generate(
        folder,
        [teacher],
        settings=settings,
        options=GenerationOptions(workers=args.workers, mutants_per_method=args.mutants, seed=args.seed),
        out=work / name / "trajectories",
    )
    figures["generate"] = {
        "seconds": round(time.perf_counter() - started, 1),
        "items": summary.counts["items"],
    }
    log(f"trajectories: {summary.counts['items']} items")

    dataset_folder = work / name / "dataset"
    if not (dataset_folder / "manifest.json").is_file():
        build_dataset(
            [summary.folder], settings=settings, options=DatasetOptions(mode="no-think"), out=dataset_folder
        )
    dataset_manifest = json.loads((dataset_folder / "manifest.json").read_text(encoding="utf-8"))
    figures["dataset"] = dataset_manifest["counts"]["rows"]
    log(f"dataset rows: {figures['dataset']}")

    out = work / name / "adapter"
    if not out.is_dir():
        train_adapter(
            dataset_folder, out, settings=settings, config=brief_sft(args), resume=True, on_status=log
        )
    manifest = read_manifest(out)
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file() and f.name.startswith("adapter_model"))
    figures["train"] = {**manifest.metrics, "adapter_bytes": size}
    log(f"trained: {manifest.metrics}")

    modes = [Mode(mode) for mode in args.modes.split(",")]
    report = evaluate(
        folder,
        [ModelUnderTest(BASE), ModelUnderTest("adapter", str(out))],
        modes,
        settings=settings,
        turns=args.turns,
        workers=args.workers,
        limit=args.eval_limit,
        seed=args.seed,
    )
    paths = write_report(report, out)
    figures["eval"] = {
        f"{model} {mode}": {
            "pass_at": report.cell(model, mode)["pass_at"],
            "exact_match": report.cell(model, mode)["exact_match"],
            "codebleu": (report.cell(model, mode)["codebleu"] or {}).get("codebleu"),
            "reasoning": report.cell(model, mode).get("reasoning"),
            "seconds": report.cell(model, mode)["seconds"],
        }
        for model in (BASE, "adapter")
        for mode in modes
    }
    figures["eval_report"] = str(paths["markdown"])
    print(paths["markdown"].read_text(encoding="utf-8"))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", default=",".join(PACKAGES), help="comma-separated (default: all)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/repomend-real-packages"))
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=12, help="optimiser steps (CPU budget)")
    parser.add_argument(
        "--warmup-steps", type=int, default=2, help="the recipe's 10 is for runs of many steps"
    )
    parser.add_argument(
        "--learning-rate", type=float, default=3e-4, help="the recipe's 1e-4 is for runs of many steps"
    )
    parser.add_argument("--max-length", type=int, default=2048, help="longest training row (tokens)")
    parser.add_argument("--thinking-budget", type=int, default=192, help="reasoning tokens per think turn")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="answer tokens per turn")
    parser.add_argument("--mutants", type=int, default=3, help="mutants kept per training method")
    parser.add_argument("--heldout", type=float, default=0.2, help="held-out share of the methods")
    parser.add_argument("--eval-limit", type=int, default=10, help="held-out methods evaluated")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--modes", default="no-think,think")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    unknown = set(args.packages.split(",")) - set(PACKAGES)
    if unknown:
        parser.error(f"unknown package(s): {', '.join(sorted(unknown))}; known: {', '.join(PACKAGES)}")
    # The default data dir: the converted default model is cached there; every output of this
    # script goes under --work.
    settings = Settings(
        sandbox=SandboxSettings(wall_seconds=120),
        thinking_budget=args.thinking_budget,
        max_new_tokens=args.max_new_tokens,
    )
    results = [run_package(name, args, settings) for name in args.packages.split(",")]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
