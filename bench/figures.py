"""A benchmark figure: a measurement, its baseline, and the target ratio it must meet."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None  # same unit; the ratio is value / baseline
    baseline_name: str = ""
    target_ratio: float | None = None  # the ratio must be <= this (or >= when higher_is_better)
    higher_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline

    @property
    def meets_target(self) -> bool | None:
        if self.target_ratio is None or self.ratio is None:
            return None
        return self.ratio >= self.target_ratio if self.higher_is_better else self.ratio <= self.target_ratio


def _ratio_text(ratio: float) -> str:
    # Below 1, three significant digits: 0.0532x against a 0.05x target, not "0.05x: MISSED".
    return f"{ratio:.2f}" if ratio >= 1 else f"{ratio:.3g}"


def render(figure: Figure) -> str:
    text = f"{figure.name}: {figure.value:,.3f} {figure.unit}"
    if figure.ratio is not None:
        text += (f"  ratio {_ratio_text(figure.ratio)}x vs {figure.baseline_name} "
                 f"({figure.baseline:,.3f} {figure.unit})")
    if figure.target_ratio is not None and figure.meets_target is not None:
        sign = ">=" if figure.higher_is_better else "<="
        text += f"  target {sign} {figure.target_ratio}x: {'MET' if figure.meets_target else 'MISSED'}"
    if figure.note:
        text += f"  ({figure.note})"
    return text


def peak_memory_mb() -> float:
    """This process's peak resident memory, in MB.

    `ru_maxrss` survives exec: a child started from a large parent (the runner after another
    benchmark) would report the parent's size. Linux's VmHWM belongs to the running image only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
