"""Line charts as SVG coordinates, drawn by the templates: no chart library, nothing to download."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 40, 12, 10, 24
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7b83", "#57606a")


@dataclass
class Line:
    label: str
    colour: str
    segments: list[str] = field(default_factory=list)
    """`points` attributes of polylines; a gap (no data that day) starts a new segment."""
    dots: list[tuple[float, float, str]] = field(default_factory=list)
    """x, y and a tooltip per value."""


@dataclass
class Chart:
    lines: list[Line]
    x_labels: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def empty(self) -> bool:
        return not any(line.dots for line in self.lines)


def _x(index: int, count: int) -> float:
    span = WIDTH - PAD_LEFT - PAD_RIGHT
    return PAD_LEFT + (span * index / (count - 1) if count > 1 else span / 2)


def _y(value: float) -> float:
    return PAD_TOP + (HEIGHT - PAD_TOP - PAD_BOTTOM) * (1.0 - value)


def line_chart(
    x_values: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], unit: str = "%"
) -> Chart:
    """One line per series over the shared `x_values`; values are fractions 0..1, None = no data."""
    count = len(x_values)
    lines = []
    for number, (label, values) in enumerate(series):
        line = Line(label, COLOURS[number % len(COLOURS)])
        current: list[str] = []
        for index, value in enumerate(values):
            if value is None:
                if current:
                    line.segments.append(" ".join(current))
                current = []
                continue
            x, y = round(_x(index, count), 1), round(_y(value), 1)
            current.append(f"{x},{y}")
            line.dots.append((x, y, f"{label}, {x_values[index]}: {100 * value:.0f}{unit}"))
        if current:
            line.segments.append(" ".join(current))
        lines.append(line)
    step = max(1, count // 6)
    x_labels = [(round(_x(i, count), 1), x_values[i]) for i in range(0, count, step)]
    y_ticks = [(round(_y(v), 1), f"{100 * v:.0f}{unit}") for v in (0.0, 0.5, 1.0)]
    return Chart(lines, x_labels, y_ticks)
