"""Versioned fine-tuning datasets from trajectory folders.

Items of all sources are filtered (held-out methods never pass), de-duplicated on normalised
text, turned into their no-think form (bare answers), think form (teacher-elicited
reasoning before the last answer) or both interleaved (hybrid), and written as TRL
conversational JSON lines and ShareGPT JSON lines, with a manifest that says where every
row came from. The version is a hash of the rows.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from repomend.backends.base import BackendError
from repomend.contract.conversation import Message, Mode
from repomend.settings import Settings
from training import exports
from training.errors import DatasetError
from training.exports import DatasetMode
from training.normalize import messages_hash
from training.reasoning import ReasoningCache, ReasoningError, compress, elicit, estimate_tokens
from training.records import read_records
from training.retention import TARGETS, Target
from training.storage import datasets_dir, short_hash, training_root, write_json, write_jsonl
from training.teachers import Teacher
from training.trajectory_store import ITEMS_FILE, MANIFEST_FILE, read_items

SPLITS = ("train", "validation")
FILES = {
    "trl": "{split}.jsonl",
    "sharegpt": "{split}.sharegpt.jsonl",
    "meta": "{split}.meta.jsonl",
}


@dataclass(frozen=True)
class DatasetOptions:
    mode: DatasetMode = DatasetMode.NO_THINK
    compress: bool = False
    compress_tokens: int = 300
    workers: int = 1
    max_consecutive_errors: int = 5
    targets: tuple[Target, ...] = TARGETS
    """Whose answers end the kept items: `("teacher",)` keeps only answers a teacher wrote and the
    tests passed (rules a and c), which with the `student` teacher is rejection sampling of the
    student's own repairs; the ground truth's doubling and rule b are then left out."""


@dataclass(frozen=True)
class Dataset:
    folder: Path
    manifest: dict


@dataclass(frozen=True)
class Source:
    path: Path
    items: list[dict]
    manifest: dict
    heldout: frozenset[str]


def load_source(path: Path) -> Source:
    """A trajectory folder (or its items.jsonl), with the held-out ids of its extraction when known."""
    folder = path.parent if path.is_file() else path
    if not (folder / ITEMS_FILE).exists():
        raise DatasetError(
            f"{path} holds no {ITEMS_FILE}: pass a folder written by `repomend train generate`"
        )
    manifest_path = folder / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    heldout: frozenset[str] = frozenset()
    extraction = Path((manifest.get("extraction") or {}).get("folder") or "")
    if extraction.name and (extraction / "methods.jsonl").exists():
        heldout = frozenset(r.id for r in read_records(extraction, "heldout"))
    return Source(folder, read_items(folder), manifest, heldout)


def _repo_name(sources: Sequence[Source]) -> str | None:
    """The one repository all sources come from; None when they name none or several."""
    names = {(s.manifest.get("extraction") or {}).get("name") for s in sources} - {None, ""}
    return names.pop() if len(names) == 1 else None


def select_items(
    sources: Sequence[Source], targets: Sequence[Target] = TARGETS
) -> tuple[list[dict], Counter]:
    """Training items in source order: held-out methods and other targets dropped, duplicates
    (normalised text) kept once."""
    seen: set[str] = set()
    kept: list[dict] = []
    dropped: Counter[str] = Counter()
    for source in sources:
        for item in source.items:
            if item.get("split") not in SPLITS or item["method"] in source.heldout:
                dropped["heldout"] += 1
                continue
            if item["target"] not in targets:
                dropped[f"target_{item['target']}"] += 1
                continue
            digest = messages_hash(item["messages"])
            if digest in seen:
                dropped["duplicate"] += 1
                dropped[f"duplicate_{item['teacher']}"] += 1
                continue
            seen.add(digest)
            kept.append({**item, "hash": digest})
    return kept, dropped


class _Reasoner:
    """Reasoning per item through the teacher, cached on disk, in parallel when asked."""

    def __init__(
        self, teacher: Teacher, settings: Settings, options: DatasetOptions, cache_path: Path
    ) -> None:
        if teacher.backend is None:
            raise DatasetError(f"teacher {teacher.name!r} has no model: it cannot write reasoning")
        self.teacher = teacher
        self.settings = settings
        self.options = options
        self.variant = f"compressed-{options.compress_tokens}" if options.compress else "full"
        self.cache = ReasoningCache(cache_path)

    def one(self, item: dict) -> dict:
        messages: list[Message] = item["messages"]
        full = self.cache.get(item["hash"], "full")
        reasoning = full["reasoning"] if full else elicit(self.teacher, messages, self.settings)
        row = {
            "hash": item["hash"],
            "variant": "full",
            "reasoning": reasoning,
            "tokens": estimate_tokens(reasoning),
        }
        rows = [] if full else [row]
        if self.options.compress:
            short = compress(self.teacher, reasoning, self.settings, self.options.compress_tokens)
            rows.append(
                {
                    "hash": item["hash"],
                    "variant": self.variant,
                    "reasoning": short,
                    "tokens": estimate_tokens(short),
                    "full_tokens": row["tokens"],
                }
            )
        return {"rows": rows}

    def all(self, items: list[dict], progress: bool) -> dict[str, dict]:
        from tqdm import tqdm

        missing = [item for item in items if self.cache.get(item["hash"], self.variant) is None]
        lock = threading.Lock()
        errors = 0
        with (
            tqdm(
                total=len(missing), desc="reasoning", unit="item", disable=not progress or not missing
            ) as bar,
            ThreadPoolExecutor(max_workers=self.options.workers) as pool,
        ):
            futures = {pool.submit(self.one, item): item for item in missing}
            try:
                for future in as_completed(futures):
                    try:
                        result = future.result()
                    except (BackendError, ReasoningError) as err:
                        errors += 1
                        if errors >= self.options.max_consecutive_errors:
                            raise DatasetError(
                                f"teacher {self.teacher.name!r} failed {errors} times in a row: {err}"
                            ) from err
                        continue
                    errors = 0
                    with lock:
                        for row in result["rows"]:
                            self.cache.put(row)
                    bar.update(1)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return {item["hash"]: row for item in items if (row := self.cache.get(item["hash"], self.variant))}

    def close(self) -> None:
        self.cache.close()


def _forms(item: dict, mode: DatasetMode, reasoning: dict[str, dict]) -> list[tuple[str, list[Message]]]:
    forms: list[tuple[str, list[Message]]] = []
    if mode in (DatasetMode.NO_THINK, DatasetMode.HYBRID):
        forms.append((Mode.NO_THINK, exports.no_think(item["messages"])))
    if mode in (DatasetMode.THINK, DatasetMode.HYBRID) and item["hash"] in reasoning:
        forms.append(
            (Mode.THINK, exports.with_reasoning(item["messages"], reasoning[item["hash"]]["reasoning"]))
        )
    return forms


def build_dataset(
    sources: Sequence[Path],
    *,
    settings: Settings,
    options: DatasetOptions = DatasetOptions(),
    reasoning_teacher: Teacher | None = None,
    out: Path | None = None,
    progress: bool = True,
) -> Dataset:
    """Build, write and describe one dataset version; returns its folder and manifest."""
    if not sources:
        raise DatasetError("name at least one trajectories folder")
    if options.mode not in set(DatasetMode):
        raise DatasetError(f"unknown mode {options.mode!r}; choose no-think, think or hybrid")
    if options.mode != DatasetMode.NO_THINK and reasoning_teacher is None:
        raise DatasetError(f"--mode {options.mode} needs --reasoning-teacher")
    if not options.targets or not set(options.targets) <= set(TARGETS):
        raise DatasetError(f"targets must be one or more of {', '.join(TARGETS)}: {options.targets}")
    loaded = [load_source(Path(path)) for path in sources]
    repo_name = _repo_name(loaded)
    if out is None and repo_name is None:
        raise DatasetError("the sources come from several repositories (or name none); pass --out")
    items, dropped = select_items(loaded, options.targets)
    if not items:
        raise DatasetError("the sources hold no train or validation items of the chosen targets")

    reasoning: dict[str, dict] = {}
    if options.mode != DatasetMode.NO_THINK:
        assert reasoning_teacher is not None
        cache_root = out.parent if out is not None else training_root(settings, repo_name or "_")
        reasoner = _Reasoner(
            reasoning_teacher, settings, options, cache_root / "reasoning" / f"{reasoning_teacher.name}.jsonl"
        )
        try:
            reasoning = reasoner.all(items, progress)
        finally:
            reasoner.close()

    rows: dict[str, list[tuple[dict, str, list[Message]]]] = {split: [] for split in SPLITS}
    for item in items:
        for form, messages in _forms(item, options.mode, reasoning):
            rows[item["split"]].append((item, form, messages))
    if not any(rows.values()):
        raise DatasetError("no item got reasoning from the teacher; nothing to write")

    trl = {split: [exports.trl_row(m) for _, _, m in rows[split]] for split in SPLITS}
    version = short_hash(*(json.dumps(trl[split], ensure_ascii=False, sort_keys=True) for split in SPLITS))
    folder = out or datasets_dir(settings, repo_name or "", version)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for split in SPLITS:
        write_jsonl(staging / FILES["trl"].format(split=split), trl[split])
        write_jsonl(
            staging / FILES["sharegpt"].format(split=split),
            (exports.sharegpt_row(m) for _, _, m in rows[split]),
        )
        write_jsonl(
            staging / FILES["meta"].format(split=split), (_meta(item, form) for item, form, _ in rows[split])
        )
    manifest = _manifest(version, loaded, items, rows, dropped, reasoning, options, reasoning_teacher)
    write_json(staging / "manifest.json", manifest)
    if folder.exists():
        shutil.rmtree(folder)
    staging.replace(folder)
    return Dataset(folder, manifest)


def _meta(item: dict, form: str) -> dict:
    keys = ("hash", "teacher", "method", "variant", "rule", "target", "turns", "start", "operator")
    keys += ("fix_type",)  # what kind of fix the row teaches (training.generate.item_fix_type)
    return {**{k: item[k] for k in keys if k in item}, "form": form}


def _manifest(
    version: str,
    sources: Sequence[Source],
    items: list[dict],
    rows: dict[str, list[tuple[dict, str, list[Message]]]],
    dropped: Counter,
    reasoning: dict[str, dict],
    options: DatasetOptions,
    teacher: Teacher | None,
) -> dict:
    def count(key: str, split: str | None = None) -> dict[str, int]:
        chosen = [row for s in SPLITS if split in (None, s) for row in rows[s]]
        values = (item.get(key) for item, _, _ in chosen)  # a generation item has no fix type: "none"
        return dict(sorted(Counter("none" if v is None else str(v) for v in values).items()))

    per_teacher: dict[str, Counter] = {}
    for split in SPLITS:
        for item, _, _ in rows[split]:
            counter = per_teacher.setdefault(item["teacher"], Counter())
            counter[f"rule_{item['rule']}"] += 1
            counter[f"target_{item['target']}"] += 1
            counter["rows"] += 1
    used = [reasoning[i["hash"]] for i in items if i["hash"] in reasoning]
    reasoning_stats = None
    if options.mode != DatasetMode.NO_THINK:
        full = [r.get("full_tokens", r["tokens"]) for r in used]
        reasoning_stats = {
            "teacher": teacher.spec.describe() if teacher else None,
            "items": len(used),
            "missing": len(items) - len(used),
            "mean_tokens": round(sum(r["tokens"] for r in used) / len(used), 1) if used else 0,
            "mean_tokens_before_compression": round(sum(full) / len(full), 1) if full else 0,
            "compressed_to": options.compress_tokens if options.compress else None,
        }
    return {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": options.mode,
        "targets": list(options.targets),
        "format": {
            "trl": [FILES["trl"].format(split=s) for s in SPLITS],
            "sharegpt": [FILES["sharegpt"].format(split=s) for s in SPLITS],
            "meta": [FILES["meta"].format(split=s) for s in SPLITS],
        },
        "sources": [
            {
                "folder": str(s.path.resolve()),
                "items": len(s.items),
                "items_sha": short_hash((s.path / ITEMS_FILE).read_bytes()),
                "extraction": s.manifest.get("extraction"),
                "teachers": s.manifest.get("teachers"),
            }
            for s in sources
        ],
        "counts": {
            "items_read": sum(len(s.items) for s in sources),
            "items_used": len(items),
            "dropped": dict(sorted(dropped.items())),
            "rows": {split: len(rows[split]) for split in SPLITS},
            "by_rule": count("rule"),
            "by_teacher": count("teacher"),
            "by_target": count("target"),
            "by_fix_type": count("fix_type"),
            "by_rule_and_teacher": {n: dict(sorted(c.items())) for n, c in sorted(per_teacher.items())},
            "by_form": dict(sorted(Counter(form for s in SPLITS for _, form, _ in rows[s]).items())),
            "methods": {split: len({item["method"] for item, _, _ in rows[split]}) for split in SPLITS},
        },
        "reasoning": reasoning_stats,
    }
