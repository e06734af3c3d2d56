"""Static screen of candidates: what a fix has no business doing, caught before anything runs.

A candidate that ends the test process, steers the test framework, reaches outside the method
through introspection, patches builtins or other modules, touches the raw results descriptors
or the test files, returns objects equal to everything, or reads the sandbox's environment could
make tests look passed without
fixing anything. Such a use is rejected only when the method it replaces did not already have
it (comparing the two methods' uses), with one line that goes back to the model and is stored
with the attempt.

`RULES` is the whole list; each rule names the dotted names, attributes, bare names or string
fragments it covers. Names are resolved through the imports of the file and of the method, so
`from os import _exit as leave` is `os._exit`.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    name: str
    why: str
    """Completes "... which <why>" in the reason."""
    modules: tuple[str, ...] = ()
    """Dotted names; a use of the name or of anything under it matches (`os.environ.get`)."""
    builtins: tuple[str, ...] = ()
    """Bare names that are not bound by the method or imported."""
    attributes: tuple[str, ...] = ()
    """Attribute names on any object."""
    strings: tuple[str, ...] = ()
    """Fragments of string constants."""


RULES: tuple[Rule, ...] = (
    Rule(
        "process exit",
        "ends or signals the test process",
        modules=("sys.exit", "os._exit", "os.abort", "os.kill", "os.killpg", "signal", "atexit",
                 "os.fork", "os.forkpty", "os.execv", "os.execve", "os.execl", "os.execlp", "os.execvp",
                 "os.system", "os.popen", "subprocess", "multiprocessing", "pty", "faulthandler"),
        builtins=("exit", "quit", "SystemExit", "KeyboardInterrupt"),
    ),
    Rule(
        "test-framework control",
        "steers the test framework (skip, xfail, exit, patching)",
        modules=("pytest", "_pytest", "unittest", "doctest", "nose", "pluggy"),
        strings=("PYTEST_", "__tracebackhide__"),
    ),
    Rule(
        "introspection",
        "reaches outside the method through the interpreter's internals",
        modules=("gc", "inspect", "ctypes", "importlib", "traceback", "types.FrameType", "sys._getframe",
                 "sys._current_frames", "sys.modules", "sys.settrace", "sys.setprofile", "sys.exc_info",
                 "sys.exception", "sys.last_traceback", "sys.meta_path", "sys.path_hooks",
                 "threading.settrace", "threading.setprofile", "sys.breakpointhook", "sys.excepthook"),
        builtins=("eval", "exec", "compile", "__import__", "globals", "locals", "vars", "breakpoint",
                  "__builtins__", "<dynamic attribute>"),
        attributes=("__globals__", "__closure__", "__code__", "__defaults__", "__kwdefaults__",
                    "__subclasses__", "__builtins__", "__traceback__", "__mro__", "__bases__",
                    "__getattribute__", "__reduce_ex__", "tb_frame", "tb_next", "f_back", "f_globals",
                    "f_locals", "f_builtins", "f_code", "gi_frame", "cr_frame", "ag_frame"),
    ),
    Rule(
        "patching",
        "replaces builtins or attributes of other modules",
        modules=("builtins", "mock"),
        builtins=("<patch>", "<global>"),
    ),
    Rule(
        "raw descriptors and test files",
        "writes to raw file descriptors or removes and rewrites files",
        modules=("os.write", "os.pwrite", "os.writev", "os.open", "os.fdopen", "os.dup", "os.dup2",
                 "os.ftruncate", "os.truncate", "os.lseek", "os.remove", "os.unlink", "os.rmdir",
                 "os.removedirs", "os.rename", "os.renames", "os.replace", "os.chmod", "shutil.rmtree",
                 "shutil.move"),
        builtins=("<open for writing>",),
        attributes=("unlink", "rmdir", "write_text", "write_bytes"),
        strings=("/proc/", "/dev/fd", "/run/repomend"),
    ),
    Rule(
        "comparison override",
        "makes objects compare equal (or true) whatever they hold",
        attributes=("__eq__", "__ne__", "__bool__", "__hash__", "__instancecheck__"),
        strings=("__eq__", "__ne__", "__bool__"),
    ),
    Rule(
        "sandbox environment",
        "reads the environment of the sandbox",
        modules=("os.environ", "os.environb", "os.getenv", "os.getenvb", "os.putenv", "os.unsetenv",
                 "sys.argv", "sys.orig_argv", "os.getpid", "os.getppid", "posix.environ"),
        strings=("REPOMEND_",),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Use:
    kind: str
    """module / builtin / attribute / string"""
    text: str


def uses(method_code: str, module_source: str = "") -> set[Use]:
    """What `method_code` uses that a rule could cover, names resolved through the imports of
    `module_source` (the file around it) and of the method itself."""
    tree = ast.parse(method_code)
    aliases = dict(_module_imports(module_source))
    found: set[Use] = set()
    local = _locally_bound(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name, target in _import_targets(node):
                aliases[name] = target
                found |= _dotted_uses(target)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            found.add(Use("attribute", node.attr))
            dotted = _dotted(node, aliases)
            if dotted:
                found |= _dotted_uses(dotted)
            if isinstance(node.ctx, ast.Store | ast.Del) and _root_is_global(node, local, aliases):
                found.add(Use("builtin", "<patch>"))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in aliases:
                found |= _dotted_uses(aliases[node.id])
            elif node.id not in local:
                found.add(Use("builtin", node.id))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(Use("string", node.value))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node is not tree.body[0]:
            found.add(Use("attribute", node.name))  # a nested class's method is one of its attributes
        elif isinstance(node, ast.Global | ast.Nonlocal):
            found.add(Use("builtin", "<global>"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            found |= _call_uses(node, local, aliases)
    return found


def screen(
    candidate: str, original: str, module_source: str = "", known_good: str | None = None
) -> str | None:
    """One line saying why `candidate` is rejected, or None when it introduces nothing covered.

    `known_good` (evaluation and training: the ground truth) allows what it uses too, since the
    broken method it replaces may have lost a use at the broken site. Raises SyntaxError when
    either method does not parse (the splice has checked the candidate)."""
    baseline = uses(original, module_source) | (uses(known_good, module_source) if known_good else set())
    allowed = {match for use in baseline if (match := matching(use)) is not None}
    for use in sorted(uses(candidate, module_source), key=lambda u: (u.kind, u.text)):
        match = matching(use)
        if match is not None and match not in allowed:
            rule = match[0]
            shown = use.text if len(use.text) <= 60 else use.text[:57] + "..."
            return (
                f"the answer uses `{shown}`, which {rule.why}; the method it replaces does not "
                f"({rule.name}), so it is not tested"
            )
    return None


def matching(use: Use) -> tuple[Rule, str] | None:
    """The rule covering `use` and the entry of it that matched."""
    for rule in RULES:
        if use.kind == "module":
            entry = next((m for m in rule.modules if use.text == m or use.text.startswith(m + ".")), None)
        elif use.kind == "builtin":
            entry = use.text if use.text in rule.builtins else None
        elif use.kind == "attribute":
            entry = use.text if use.text in rule.attributes else None
        else:
            entry = next((fragment for fragment in rule.strings if fragment in use.text), None)
        if entry is not None:
            return rule, entry
    return None


# -- name resolution ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _module_imports(source: str) -> dict[str, str]:
    """Names the file's top-level imports bind (cached: every answer of a repair shares the file)."""
    try:
        tree = ast.parse(source) if source else ast.Module(body=[], type_ignores=[])
    except SyntaxError:
        return {}
    aliases: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            aliases.update(_import_targets(node))
    return aliases


def _import_targets(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    if isinstance(node, ast.Import):
        # `import a.b` binds `a`; `import a.b as c` binds `c` to `a.b`.
        return [
            (alias.asname, alias.name) if alias.asname else (alias.name.split(".")[0],) * 2
            for alias in node.names
        ]
    base = ("." * node.level) + (node.module or "")
    return [(alias.asname or alias.name, f"{base}.{alias.name}".lstrip(".")) for alias in node.names]


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in aliases:
        return ".".join([aliases[node.id], *reversed(parts)])
    return None


def _dotted_uses(dotted: str) -> set[Use]:
    parts = dotted.split(".")
    return {Use("module", ".".join(parts[: i + 1])) for i in range(len(parts))}


def _locally_bound(tree: ast.AST) -> set[str]:
    """Parameters and names the method assigns (imports are tracked as aliases instead)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.ExceptHandler):
            bound.add(node.name or "")
    return bound


def _root_is_global(node: ast.Attribute, local: set[str], aliases: dict[str, str]) -> bool:
    """`x.attr = ...` where x is a module or a name the method does not own."""
    root: ast.expr = node.value
    while isinstance(root, ast.Attribute | ast.Subscript):
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    return root.id in aliases or root.id not in local


def _call_uses(node: ast.Call, local: set[str], aliases: dict[str, str]) -> set[Use]:
    name = node.func.id if isinstance(node.func, ast.Name) else ""
    found: set[Use] = set()
    if name in ("getattr", "setattr", "delattr", "hasattr") and name not in local and len(node.args) >= 2:
        attr = node.args[1]
        if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
            found.add(Use("attribute", attr.value))
        else:
            found.add(Use("builtin", "<dynamic attribute>"))
        target = node.args[0]
        owned = isinstance(target, ast.Name) and target.id in local and target.id not in aliases
        if name in ("setattr", "delattr") and not owned:
            found.add(Use("builtin", "<patch>"))
    if name == "open" and "open" not in local:
        keyword = next((k.value for k in node.keywords if k.arg == "mode"), None)
        mode = node.args[1] if len(node.args) > 1 else keyword
        text = mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "?"
        if mode is not None and (text == "?" or any(flag in text for flag in "wax+")):
            found.add(Use("builtin", "<open for writing>"))
    return found
