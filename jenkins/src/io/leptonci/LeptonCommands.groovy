package io.leptonci

import com.cloudbees.groovy.cps.NonCPS

/**
 * The argv of every lepton-ci step, built exactly as lepton-ci's pipeline model builds them
 * from the step table (lepton_ci/pipeline/steps.py, generated into LeptonSteps.WORDS); the test
 * suite checks that both agree.
 */
class LeptonCommands implements Serializable {

    static final String DEFAULT_SPEC = LeptonSteps.DEFAULT_SPEC
    private static final long serialVersionUID = 1L

    /**
     * Install commands: a venv in the workspace, then one pip install of the pinned lepton-ci under
     * the constraints files, with the repository's requirement files and project (none when install
     * is off). The index is an extra one: pip's default (or PIP_INDEX_URL) stays in use.
     */
    @NonCPS
    static List<List<String>> setup(Map cfg) {
        if (!cfg.install) {
            return []
        }
        String venv = cfg.venv as String
        List<String> pip = [venv + '/bin/python', '-m', 'pip', 'install', '--quiet']
        if (cfg.indexUrl) {
            pip += ['--extra-index-url', cfg.indexUrl as String]
        }
        for (Object path in (cfg.constraints ?: [])) {
            pip += ['-c', path as String]
        }
        for (Object path in (cfg.requirementFiles ?: [])) {
            pip += ['-r', path as String]
        }
        if (cfg.installProject) {
            pip += ['-e', '.']
        }
        return [['python3', '-m', 'venv', venv], pip + [cfg.requirement as String]]
    }

    @NonCPS
    static List<String> lepton(String spec, List<String> words) {
        List<String> specArgs = spec == DEFAULT_SPEC ? [] : ['--spec', spec]
        return ['lepton-ci'] + words + specArgs
    }

    /** The argv of `step` (LeptonSteps.WORDS), its `{junit}`/`{env}` words filled from `values`. */
    @NonCPS
    static List<String> step(String step, String spec, Map<String, String> values = [:]) {
        List<String> words = LeptonSteps.WORDS[step].collect { String word ->
            word.startsWith('{') && word.endsWith('}') ? values[word[1..-2]] : word
        }
        return lepton(spec, words)
    }

    @NonCPS
    static List<List<String>> train(String spec) {
        return [step('train', spec)]
    }

    @NonCPS
    static List<List<String>> evaluate(String spec, String junit) {
        return [step('evaluate', spec, [junit: junit])]
    }

    @NonCPS
    static List<List<String>> register(String spec, boolean promote) {
        return [step('register', spec)] + (promote ? [promoteChampion(spec)] : [])
    }

    @NonCPS
    static List<List<String>> imageBuild(String spec) {
        return [step('image-build', spec)]
    }

    @NonCPS
    static List<List<String>> imagePush(String spec) {
        return [step('image-push', spec)]
    }

    @NonCPS
    static List<List<String>> deploy(String spec, String env, boolean promote) {
        return [step('deploy', spec, [env: env])] + (promote ? [promoteChampion(spec)] : [])
    }

    @NonCPS
    static List<List<String>> metricsPush(String spec) {
        return [step('metrics-push', spec)]
    }

    @NonCPS
    static List<List<String>> report(String spec) {
        return [step('report', spec)]
    }

    @NonCPS
    static List<String> promoteChampion(String spec) {
        return lepton(spec, LeptonSteps.PROMOTE_WORDS)
    }

}
