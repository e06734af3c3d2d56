"""Which applied fixes the user may still reject, and when a fix counts as rejected.

A fix counts as accepted the moment it is applied (the server hears so at once, so nothing is
lost if the editor dies). It turns into rejected when the user runs "Reject last fix" or edits
the method back to its original text. It is final once a later fix of the same method starts
or the editor shuts down; if the user edited the fixed method meanwhile, the server then hears
"accepted" again with the text they kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsp.edits import located_by_name, readable

ACCEPTED, REJECTED = "accepted", "rejected"


@dataclass
class AppliedFix:
    repair_id: str
    uri: str
    qualname: str
    original: str
    """The method's text in the file before the fix (the file's indentation)."""
    fixed: str
    """Its text right after the fix."""
    original_readable: str
    """The original as the server records methods (`def` at column 0)."""
    reported: str
    """The final text the server was last told about."""
    verdict: str = ACCEPTED


class FixBook:
    """The applied fixes of one editor connection, newest last."""

    def __init__(self) -> None:
        self._fixes: list[AppliedFix] = []

    def open_fixes(self, uri: str | None = None) -> list[AppliedFix]:
        """Fixes still counted as accepted (and so still rejectable), newest last."""
        return [f for f in self._fixes if f.verdict == ACCEPTED and (uri is None or f.uri == uri)]

    def fixed_qualnames(self, uri: str) -> frozenset[str]:
        return frozenset(f.qualname for f in self.open_fixes(uri))

    def add(self, fix: AppliedFix) -> None:
        self._fixes.append(fix)

    def close(self, uri: str, qualname: str) -> list[AppliedFix]:
        """Make the open fixes of one method final (a new fix of it starts); returns them."""
        closing = [f for f in self.open_fixes(uri) if f.qualname == qualname]
        self._fixes = [f for f in self._fixes if f not in closing]
        return closing

    def close_all(self) -> list[AppliedFix]:
        closing = self.open_fixes()
        self._fixes.clear()
        return closing

    def last(self, uri: str | None = None, qualname: str | None = None) -> AppliedFix | None:
        """The newest open fix, of one document and method if given."""
        found = [f for f in self.open_fixes(uri) if qualname is None or f.qualname == qualname]
        return found[-1] if found else None

    def reject(self, fix: AppliedFix) -> None:
        fix.verdict = REJECTED
        fix.reported = fix.original_readable
        self._fixes.remove(fix)

    def reverted(self, uri: str, source: str) -> list[AppliedFix]:
        """Open fixes of `uri` whose method reads as before the fix again: rejected by editing."""
        found = []
        for fix in self.open_fixes(uri):
            method = located_by_name(source, fix.qualname, prefer=fix.original)
            if method is not None and method.source_text == fix.original:
                found.append(fix)
        for fix in found:
            self.reject(fix)
        return found


def kept_text(fix: AppliedFix, source: str | None) -> str | None:
    """The method's text as the user keeps it now, when it differs from what the server knows."""
    if source is None:
        return None
    method = located_by_name(source, fix.qualname, prefer=fix.fixed)
    if method is None:
        return None
    text = readable(source, method)
    return None if text == fix.reported else text
