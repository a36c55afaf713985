"""The shared library's vars and classes, run with real Groovy: config checks, quoting, layout."""

from __future__ import annotations

import re
import shlex

import pytest

from lepton_ci.layout import LAYOUT, RUN_DIR, VENV_DIR
from lepton_ci.render.escape import groovy_list
from lepton_ci.spec.loader import SPEC_FILENAME
from tests.jenkins.extract import LIBRARY_DIR, JenkinsEvalError, evaluate_jenkinsfile

VARS = ("leptonTrain", "leptonEvaluate", "leptonRegister", "leptonImageBuild", "leptonImagePush",
        "leptonDeploy", "leptonMetricsPush", "leptonReport", "leptonPipeline")  # fmt: skip


def run_library(script: str) -> list[str]:
    """Run a Jenkinsfile fragment with the library loaded; what it echoed."""
    evaluation = evaluate_jenkinsfile(script, library_dir=LIBRARY_DIR)
    return [e["message"] for e in evaluation.of_kind("echo")]


@pytest.fixture(scope="module")
def rejections(groovy_runtime: None) -> dict[str, str]:
    """Each var called with a misspelt key (one JVM for all): var -> error message."""
    calls = "\n".join(
        f"try {{ {var}(bogus: 1) }} catch (hudson.AbortException e) {{ echo('{var}|' + e.message) }}"  # noqa: E501
        for var in VARS
    )
    return dict(line.split("|", 1) for line in run_library(calls))


def test_a_typo_in_a_deploy_key_names_the_key_and_the_allowed_ones(groovy_runtime: None) -> None:
    with pytest.raises(JenkinsEvalError) as failure:
        evaluate_jenkinsfile("leptonDeploy(enviroment: 'production')", library_dir=LIBRARY_DIR)
    assert str(failure.value) == (
        "leptonDeploy: unknown config key 'enviroment'; allowed: env, target, promote, "
        "registryCredentials, kubeconfigCredentials, spec, install, requirement, indexUrl, venv, "
        "constraints, requirementFiles, installProject, pipCacheDir"
    )
    assert not [e for e in failure.value.events if e["kind"] == "sh"]


@pytest.mark.parametrize("var", VARS)
def test_every_var_rejects_unknown_keys_and_documents_the_allowed_ones(
    rejections: dict[str, str], var: str
) -> None:
    message = rejections[var]
    prefix = f"{var}: unknown config key 'bogus'; allowed: "
    assert message.startswith(prefix)
    help_page = (LIBRARY_DIR / "vars" / f"{var}.txt").read_text(encoding="utf-8")
    for key in message[len(prefix) :].split(", "):
        assert f"<code>{key}</code>" in help_page, f"{var}.txt does not document `{key}`"


def test_the_mainline_stages_share_one_condition() -> None:
    """Register, the image stages and the deploys ask one `mainline` (issue 14), which the rule
    parity tests (tests/golden/test_rule_parity.py) hold to the model."""
    text = (LIBRARY_DIR / "vars" / "leptonPipeline.groovy").read_text(encoding="utf-8")
    whens = re.findall(r"when \{(.*?)\n {16}\}", text, re.S)
    mainline = [w.strip() for w in whens if "mainline(" in w]
    assert mainline == [
        "expression { mainline(cfg, 'register') }",
        "expression { mainline(cfg, 'image-build') }",
        "expression { mainline(cfg, 'image-push') }",
        "expression { mainline(cfg, 'deploy') && (cfg.environments as boolean) }",
    ]
    assert not re.search(r"^\s*(triggeredBy|not \{ changeRequest)", text, re.M)
    assert text.count("boolean mainline(Map cfg, String step)") == 1


MISTAKES = {
    "leptonDeploy(install: false)": "leptonDeploy: config key 'env' is required",
    "leptonTrain()": "leptonTrain: config key 'requirement' is required when install is true",
    "leptonPipeline(install: false, agents: [trian: [label: 'gpu']])":
        "leptonPipeline: unknown stage 'trian' in agents; allowed: default, train, evaluate",
    "leptonPipeline(install: false, agents: [train: [lable: 'gpu']])":
        "leptonPipeline.agents.train: unknown config key 'lable'; allowed: label, image",
    "leptonPipeline(install: false, environments: [[name: 'prod', aproval: true]])":
        "leptonPipeline.environments: unknown config key 'aproval'; allowed: name, target",
    "leptonPipeline(install: false, retry: 3)":
        "leptonPipeline: config key 'retry' must be an integer from 0 to 2; got '3'",
    "leptonPipeline(install: false, environments: [[name: 'prod', approvalTimeoutHours: 0]])":
        "leptonPipeline.environments: config key 'approvalTimeoutHours' must be an integer from 1",
}  # fmt: skip


@pytest.fixture(scope="module")
def mistakes(groovy_runtime: None) -> dict[str, str]:
    """Each call of MISTAKES (one JVM for all): call -> error message, or 'no error'."""
    calls = "\n".join(
        f"try {{ {call}; echo('no error') }} catch (hudson.AbortException e) {{ echo(e.message) }}"
        for call in MISTAKES
    )
    return dict(zip(MISTAKES, run_library(calls), strict=True))


@pytest.mark.parametrize("call", MISTAKES)
def test_config_mistakes_fail_before_anything_runs(mistakes: dict[str, str], call: str) -> None:
    assert mistakes[call].startswith(MISTAKES[call])


def test_a_var_used_on_its_own_runs_the_step_with_its_credential(groovy_runtime: None) -> None:
    evaluation = evaluate_jenkinsfile(
        "leptonDeploy(env: 'prod', target: 'kubernetes', kubeconfigCredentials: 'kc', "
        "install: false, spec: 'models/my spec.yaml')",
        library_dir=LIBRARY_DIR,
    )
    [deploy] = evaluation.of_kind("sh")
    assert deploy["script"] == "lepton-ci deploy --env prod --spec 'models/my spec.yaml'"
    assert deploy["credentials"] == ["kc"]
    [binding] = evaluation.of_kind("withCredentials")[0]["bindings"]
    assert binding == {"kind": "file", "credentialsId": "kc", "variable": "KUBECONFIG"}


WORDS = ["plain", "", "it's", 'say "hi"', "$HOME", "${env.X}", "`id`", "a\\b", "two\nlines",
         "tab\there", "--spec=x.yaml", "ümlaut", "a,b:c@d%e+f=g/h.i-j_k"]  # fmt: skip


def test_shell_quoting_matches_python_shlex(groovy_runtime: None) -> None:
    echoed = run_library(
        f"for (String w in {groovy_list(WORDS)}) {{ echo(io.leptonci.Shell.quote(w)) }}\n"
        f"echo(io.leptonci.Shell.join({groovy_list(WORDS)}))"
    )
    assert echoed == [shlex.quote(w) for w in WORDS] + [shlex.join(WORDS)]


def test_library_defaults_and_layout_match_the_python_contract(groovy_runtime: None) -> None:
    echoed = run_library(
        "echo(io.leptonci.LeptonConfig.COMMON.spec)\n"
        "echo(io.leptonci.LeptonConfig.COMMON.venv)\n"
        "Map layout = io.leptonci.LeptonLayout.load(this)\n"
        "for (k in ['root', 'venv', 'train', 'evaluate', 'junit', 'register', 'imageBuildEnv',"
        " 'imageEnv', 'deploy', 'report', 'reportHtml', 'reportSummary']) { echo(layout[k]) }"
    )
    assert echoed == [
        SPEC_FILENAME, VENV_DIR, RUN_DIR, VENV_DIR, str(LAYOUT.train_dir), str(LAYOUT.evaluate_dir),
        str(LAYOUT.junit), str(LAYOUT.register_dir), str(LAYOUT.image_build_env),
        str(LAYOUT.image_env), str(LAYOUT.deploy_dir), str(LAYOUT.report_dir),
        str(LAYOUT.report_html), str(LAYOUT.report_summary),
    ]  # fmt: skip


def test_the_library_reads_the_lifecycle_from_the_step_table(groovy_runtime: None) -> None:
    from lepton_ci.pipeline.steps import CREDENTIAL_VARIABLES, STEP_TABLE, disabled_by

    echoed = run_library(
        "import io.leptonci.*\n"
        "for (s in LeptonSteps.STEPS) { echo(s + '|' + LeptonStages.NEEDS[s].join(',') + '|'"
        " + LeptonStages.killSwitches(s).join(',') + '|' + LeptonStages.title(s, 'prod')) }\n"
        "echo(LeptonCredentials.deploy('docker', 'r', 'k')[0].variables.join(','))\n"
        "echo(LeptonCredentials.deploy('kubernetes', 'r', 'k')[0].variables.join(','))\n"
        "echo(LeptonCredentials.deploy('local', 'r', 'k').size() as String)"
    )
    assert echoed == [
        *(
            f"{r.step}|{','.join(r.needs)}|{','.join(disabled_by(r.step))}|"
            + r.title.replace("{env}", "prod")
            for r in STEP_TABLE
        ),
        ",".join(CREDENTIAL_VARIABLES["registry"]),
        ",".join(CREDENTIAL_VARIABLES["kubeconfig"]),
        "0",
    ]
