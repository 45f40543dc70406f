"""The overview's 30-day chart, laid out in Python and drawn as inline SVG by the template."""

import math
from dataclasses import dataclass

from tryon.selectors import DayFigures

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 28  # room for the axis labels
KINDS = ("debited", "failed", "blocked")


@dataclass(frozen=True)
class Segment:
    kind: str
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    figures: DayFigures
    x: float
    width: float
    segments: list[Segment]
    label: str  # the date under the bar, on every fifth day and today; else empty

    @property
    def center(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    ticks: list[Tick]
    peak: DayFigures | None
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = HEIGHT - BOTTOM

    @property
    def plot_height(self) -> int:
        return self.baseline - self.top


def nice_step(peak: int, steps: int = 4) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ step such that `steps` of them reach the peak."""
    raw = max(peak, 1) / steps
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def stacked_bars(days: list[DayFigures]) -> BarChart:
    """One bar per day, stacked successful / failed / blocked, on a 0-based axis with round ticks."""
    peak = max(days, key=lambda d: d.total, default=None)
    step = nice_step(peak.total if peak else 0)
    top_value = step * 4
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    bars = []
    for index, figures in enumerate(days):
        y = float(HEIGHT - BOTTOM)
        segments = []
        for kind, value in zip(KINDS, (figures.debited, figures.failed, figures.blocked_total), strict=True):
            height = plot_height * value / top_value
            if height:
                y -= height
                segments.append(Segment(kind, round(y, 2), round(height, 2)))
        last = index == len(days) - 1
        shown = last or (len(days) - 1 - index) % 5 == 0
        label = "Today" if last else (f"{figures.day:%b} {figures.day.day}" if shown else "")
        bars.append(Bar(figures, round(LEFT + index * slot + slot * 0.15, 2), round(slot * 0.7, 2), segments, label))
    ticks = [Tick(round(HEIGHT - BOTTOM - plot_height * n / 4, 2), step * n) for n in range(5)]
    return BarChart(bars=bars, ticks=ticks, peak=peak if peak and peak.total else None)
