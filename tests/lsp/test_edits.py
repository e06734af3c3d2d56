"""The edit a fix becomes: exactly the method's range, in the editor's units, in the text as it is now."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from lsp.edits import EditRefused, locate, method_range, replacement
from repomend.source import find_method, splice
from tests.support.repos import FIXED_MEAN, STATS_SOURCE

UTF16 = PositionCodec(types.PositionEncodingKind.Utf16)
UTF8 = PositionCodec(types.PositionEncodingKind.Utf8)
EMOJI_SOURCE = 'class Greeter:\n    def greet(self):\n        return "😀 " + "hi"  # 🙂 trailing\n'


def apply(source: str, edit_range: types.Range, new_text: str, codec: PositionCodec) -> str:
    """Apply one edit the way an editor does, counting columns in `codec`'s units."""
    lines = source.split("\n")

    def offset(position: types.Position) -> int:
        line = lines[position.line]
        column, units = 0, 0
        while units < position.character:
            units += codec.client_num_units(line[column])
            column += 1
        return sum(len(x) + 1 for x in lines[: position.line]) + column

    return source[: offset(edit_range.start)] + new_text + source[offset(edit_range.end) :]


@pytest.mark.parametrize("codec", [UTF16, UTF8], ids=["utf-16", "utf-8"])
def test_the_range_covers_the_method_exactly_in_the_editors_units(codec):
    method = find_method(EMOJI_SOURCE, "Greeter.greet")
    new_method = 'def greet(self):\n    return "fixed"'
    edited = apply(
        EMOJI_SOURCE,
        method_range(EMOJI_SOURCE, method, codec),
        replacement(EMOJI_SOURCE, method, new_method),
        codec,
    )
    assert edited == 'class Greeter:\n    def greet(self):\n        return "fixed"  # 🙂 trailing\n'


def test_the_method_is_found_again_after_lines_were_added_above_it():
    original = find_method(STATS_SOURCE, "Stats.mean")
    now = "import math\n\n" + STATS_SOURCE
    found = locate(now, "Stats.mean", original.source_text)
    assert found.start_line == original.start_line + 2
    assert splice(now, found, FIXED_MEAN).startswith("import math\n\n")


def test_a_method_changed_meanwhile_is_refused():
    original = find_method(STATS_SOURCE, "Stats.mean")
    now = STATS_SOURCE.replace("(len(self.xs) - 1)", "max(len(self.xs), 1)")
    with pytest.raises(EditRefused, match="was edited while it was being fixed"):
        locate(now, "Stats.mean", original.source_text)
    with pytest.raises(EditRefused, match="no longer in the file"):
        locate(STATS_SOURCE.replace("def mean", "def average"), "Stats.mean", original.source_text)
    with pytest.raises(EditRefused, match="does not parse"):
        locate(STATS_SOURCE + "\ndef broken(:\n", "Stats.mean", original.source_text)


def test_the_replacement_takes_the_files_indentation():
    source = STATS_SOURCE.replace("    ", "\t")
    method = find_method(source, "Stats.mean")
    text = replacement(source, method, FIXED_MEAN)
    assert text == "def mean(self):\n\t\treturn sum(self.xs) / len(self.xs)"
