"""The portal's charts (the overview's 30 days, the Analytics page's sessions and funnel), laid out
in Python and drawn as inline SVG by the templates."""

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from tryon.selectors import DayFigures

if TYPE_CHECKING:
    from tryon.analytics import FunnelDay

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


@dataclass(frozen=True, kw_only=True)
class Frame:
    """The plot area every chart of the portal shares (the template draws axes from it)."""

    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = HEIGHT - BOTTOM

    @property
    def plot_height(self) -> int:
        return self.baseline - self.top


@dataclass(frozen=True)
class BarChart(Frame):
    bars: list[Bar]
    ticks: list[Tick]
    peak: DayFigures | None


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


# --- the Analytics page (SPEC §16) ---------------------------------------------------------------


@dataclass(frozen=True)
class SessionBar:
    day: date
    sessions: int
    tryon_sessions: int
    purchased: int
    x: float
    width: float
    y: float  # top of the sessions bar
    height: float
    tryon_y: float  # top of the inner bar of the sessions with a try-on
    tryon_height: float
    label: str
    last: bool = False

    @property
    def center(self) -> float:
        return self.x + self.width / 2

    @property
    def end(self) -> float:
        return self.x + self.width


@dataclass(frozen=True)
class SessionChart(Frame):
    bars: list[SessionBar]
    ticks: list[Tick]
    peak: SessionBar | None


def session_bars(days: "list[FunnelDay]") -> SessionChart:
    """One bar per day of the widget sessions, with those that had a try-on drawn inside it."""
    peak_value = max((d.sessions for d in days), default=0)
    step = nice_step(peak_value)
    top_value = step * 4
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    every = max(1, math.ceil(len(days) / 8))  # at most about eight dates under the axis
    bars = []
    for index, figures in enumerate(days):
        height = plot_height * figures.sessions / top_value
        inner = plot_height * figures.tryon_sessions / top_value
        last = index == len(days) - 1
        label = f"{figures.day:%b} {figures.day.day}" if last or (len(days) - 1 - index) % every == 0 else ""
        bars.append(
            SessionBar(
                day=figures.day,
                sessions=figures.sessions,
                tryon_sessions=figures.tryon_sessions,
                purchased=figures.purchased,
                x=round(LEFT + index * slot + slot * 0.15, 2),
                width=round(slot * 0.7, 2),
                y=round(HEIGHT - BOTTOM - height, 2),
                height=round(height, 2),
                tryon_y=round(HEIGHT - BOTTOM - inner, 2),
                tryon_height=round(inner, 2),
                label=label,
                last=last,
            )
        )
    ticks = [Tick(round(HEIGHT - BOTTOM - plot_height * n / 4, 2), step * n) for n in range(5)]
    peak = max(bars, key=lambda b: b.sessions, default=None)
    return SessionChart(bars=bars, ticks=ticks, peak=peak if peak and peak.sessions else None)


@dataclass(frozen=True)
class FunnelStep:
    name: str
    label: str
    value: int
    width: float  # percent of the first step's bar
    of_first: float | None  # share of the first step
    of_previous: float | None  # share of the step before


def funnel_steps(steps: list[tuple[str, str, int]]) -> list[FunnelStep]:
    """The funnel's horizontal bars, each as wide as its share of the widest step."""
    widest = max((value for _, _, value in steps), default=0)
    first = steps[0][2] if steps else 0
    result = []
    previous: int | None = None
    for name, label, value in steps:
        result.append(
            FunnelStep(
                name=name,
                label=label,
                value=value,
                width=round(100 * value / widest, 1) if widest else 0.0,
                of_first=value / first if first else None,
                of_previous=value / previous if previous else None,
            )
        )
        previous = value
    return result
