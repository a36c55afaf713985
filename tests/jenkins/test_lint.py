"""npm-groovy-lint (what Jenkins users run) accepts every generated Jenkinsfile and the library."""

from __future__ import annotations

import pytest

from tests.jenkins.conftest import SPECS, STYLES, LintTree, hostile, rendered
from tests.jenkins.extract import LIBRARY_DIR

KNOWN_BAD = 'pipeline { stages { stage("x") { steps { sh "${' + "\n"


@pytest.mark.slow
def test_generated_files_and_the_shared_library_pass_groovy_lint(
    lint_tree: LintTree, tmp_path
) -> None:
    files = {
        f"{case}-{style}/Jenkinsfile": rendered(case, style).text
        for case in SPECS
        for style in STYLES
    }
    files |= {f"hostile-{s}/Jenkinsfile": hostile(s, tmp_path / "pwned").text for s in STYLES}
    files["known-bad/Jenkinsfile"] = KNOWN_BAD
    report = lint_tree(files)

    assert report.errors("known-bad/Jenkinsfile"), "the linter must catch a broken file"
    library = {f"jenkins/{p.relative_to(LIBRARY_DIR)}" for p in LIBRARY_DIR.rglob("*.groovy")}
    assert library | set(files) <= set(report.files)
    failures = {
        name: report.errors(name)
        for name in sorted(report.files)
        if name != "known-bad/Jenkinsfile" and report.errors(name)
    }
    assert failures == {}
