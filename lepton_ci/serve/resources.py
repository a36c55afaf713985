"""CPU and memory of the server: the process (prometheus_client's ProcessCollector) and, in a
container, its cgroup v2 figures read from ``/sys/fs/cgroup`` (absent files are skipped).

cgroup names (alert rules rely on them; files per the kernel's cgroup-v2.rst):
  lepton_cgroup_memory_usage_bytes        gauge    memory.current
  lepton_cgroup_memory_limit_bytes        gauge    memory.max (absent when "max")
  lepton_cgroup_cpu_usage_seconds_total   counter  cpu.stat usage_usec / 1e6
  lepton_cgroup_cpu_limit_cores           gauge    cpu.max quota / period (absent when "max")
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:  # "max" (no limit) or garbage
        return None


def cgroup_figures(root: Path = CGROUP_ROOT) -> dict[str, float]:
    """The cgroup v2 figures present under ``root``; empty outside a (non-root) v2 cgroup.

    The root cgroup has no ``cgroup.type`` (cgroup-v2.rst: "exists on non-root cgroups");
    its ``cpu.stat`` is the whole host's, so it is not reported."""
    if not (root / "cgroup.type").is_file():
        return {}
    figures: dict[str, float] = {}
    current = _number(_read(root / "memory.current"))
    if current is not None:
        figures["memory_usage_bytes"] = current
    limit = _number(_read(root / "memory.max"))
    if limit is not None:
        figures["memory_limit_bytes"] = limit
    for line in (_read(root / "cpu.stat") or "").splitlines():
        key, _, value = line.partition(" ")
        usage = _number(value) if key == "usage_usec" else None
        if usage is not None:
            figures["cpu_usage_seconds_total"] = usage / 1e6
    quota, _, period = (_read(root / "cpu.max") or "").partition(" ")
    cores, every = _number(quota), _number(period)
    if cores is not None and every:
        figures["cpu_limit_cores"] = cores / every
    return figures


class CgroupCollector:
    """A prometheus_client collector over :func:`cgroup_figures`, read at each scrape."""

    def __init__(self, root: Path = CGROUP_ROOT) -> None:
        self.root = root

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        figures = cgroup_figures(self.root)
        helps = {
            "memory_usage_bytes": "Memory used by the container's cgroup (memory.current).",
            "memory_limit_bytes": "Memory limit of the container's cgroup (memory.max).",
            "cpu_limit_cores": "CPU limit of the container's cgroup in cores (cpu.max).",
        }
        for key, text in helps.items():
            if key in figures:
                yield GaugeMetricFamily(f"lepton_cgroup_{key}", text, value=figures[key])
        if "cpu_usage_seconds_total" in figures:
            yield CounterMetricFamily(
                "lepton_cgroup_cpu_usage_seconds",
                "CPU time used by the container's cgroup (cpu.stat usage_usec).",
                value=figures["cpu_usage_seconds_total"],
            )

    def describe(self) -> list[Any]:
        return []  # figures vary with the host: never pre-registered names
