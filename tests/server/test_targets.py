"""Repair targets over HTTP: only files inside the registered repository, clear codes otherwise."""

from __future__ import annotations

import pytest

from server.errors import ApiError
from server.targets import resolve_http_target
from tests.support.repos import STATS_SOURCE


def code_of(call) -> str:
    with pytest.raises(ApiError) as err:
        call()
    return err.value.code


def test_by_name_and_by_line(stats_repo):
    by_name = resolve_http_target(stats_repo, "pkg/stats.py", qualname="Stats.mean")
    line = STATS_SOURCE.splitlines().index("        return sum(self.xs) / (len(self.xs) - 1)")
    by_line = resolve_http_target(stats_repo, "pkg/stats.py", line=line, column=12)
    assert by_name.method == by_line.method
    assert (by_name.path, by_name.repo) == ("pkg/stats.py", stats_repo.resolve())


def test_unsaved_content_wins(stats_repo):
    content = "def fresh():\n    return 1\n"
    target = resolve_http_target(stats_repo, "pkg/stats.py", content=content, qualname="fresh")
    assert target.source == content


@pytest.mark.parametrize("path", ["../outside.py", "/etc/passwd", "pkg/../../x.py", "."])
def test_paths_must_stay_inside(stats_repo, path):
    assert code_of(lambda: resolve_http_target(stats_repo, path, qualname="f")) == "path_outside_repository"


def test_symlink_out_of_the_repository_is_refused(stats_repo, tmp_path):
    (tmp_path / "secret.py").write_text("def f():\n    return 1\n")
    (stats_repo / "link.py").symlink_to(tmp_path / "secret.py")
    assert (
        code_of(lambda: resolve_http_target(stats_repo, "link.py", qualname="f")) == "path_outside_repository"
    )


def test_error_codes(stats_repo):
    assert code_of(lambda: resolve_http_target(stats_repo, "pkg/none.py", qualname="f")) == "file_not_found"
    assert (
        code_of(lambda: resolve_http_target(stats_repo, "pkg/stats.py", qualname="nope"))
        == "method_not_found"
    )
    assert code_of(lambda: resolve_http_target(stats_repo, "pkg/stats.py", line=0)) == "method_not_found"
    assert (
        code_of(lambda: resolve_http_target(stats_repo, "pkg/stats.py", content="def f(:\n", qualname="f"))
        == "source_does_not_parse"
    )
    assert code_of(lambda: resolve_http_target(stats_repo, "pkg/stats.py")) == "invalid_target"
