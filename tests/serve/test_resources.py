"""CPU and memory next to latency: the process collector and, in a container, cgroup v2 figures."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from lepton_ci.serve.metrics import ServeMetrics
from lepton_ci.serve.resources import cgroup_figures
from tests.serve.test_app import client, metric  # noqa: F401 - fixture


def fake_cgroup(root: Path, cpu_max: str = "150000 100000", memory_max: str = "536870912") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.type").write_text("domain\n")
    (root / "memory.current").write_text("134217728\n")
    (root / "memory.max").write_text(memory_max + "\n")
    (root / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (root / "cpu.max").write_text(cpu_max + "\n")
    return root


def test_metrics_carry_process_cpu_and_memory(client: TestClient) -> None:  # noqa: F811
    text = client.get("/metrics").text
    assert metric(text, "process_resident_memory_bytes") > 1e6
    assert "process_cpu_seconds_total " in text


def test_cgroup_files_become_usage_and_limit_metrics(tmp_path: Path) -> None:
    metrics = ServeMetrics(cgroup_root=fake_cgroup(tmp_path / "cg"))
    text = metrics.exposition()[0].decode()
    assert metric(text, "lepton_cgroup_memory_usage_bytes") == 134217728
    assert metric(text, "lepton_cgroup_memory_limit_bytes") == 536870912
    assert metric(text, "lepton_cgroup_cpu_usage_seconds_total") == 2.5
    assert metric(text, "lepton_cgroup_cpu_limit_cores") == 1.5


def test_unlimited_cgroup_exports_usage_without_limits(tmp_path: Path) -> None:
    figures = cgroup_figures(fake_cgroup(tmp_path / "cg", cpu_max="max 100000", memory_max="max"))
    assert figures == {"memory_usage_bytes": 134217728, "cpu_usage_seconds_total": 2.5}


def test_no_cgroup_or_the_hosts_root_cgroup_is_skipped_silently(tmp_path: Path) -> None:
    assert cgroup_figures(tmp_path / "absent") == {}
    root = fake_cgroup(tmp_path / "root")
    (root / "cgroup.type").unlink()  # the root cgroup: cpu.stat is the whole host's
    assert cgroup_figures(root) == {}
    text = ServeMetrics(cgroup_root=tmp_path / "absent").exposition()[0].decode()
    assert "lepton_cgroup_" not in text
