package io.leptonci

import com.cloudbees.groovy.cps.NonCPS

/**
 * Every var's configuration: documented defaults, merged with the caller's map; unknown keys
 * and missing required keys are errors that name the step, the key and the allowed keys.
 */
class LeptonConfig implements Serializable {

    private static final long serialVersionUID = 1L

    /** Keys every step var accepts (how lepton-ci gets onto the agent, which spec it reads). */
    static final Map<String, Object> COMMON = Collections.unmodifiableMap([
        spec: LeptonSteps.DEFAULT_SPEC, // spec path; `--spec PATH` is added when it is not lepton.yaml
        install: true,           // install lepton-ci into `venv` first (false: it is on PATH)
        requirement: null,       // pip requirement to install, e.g. 'lepton-ci[train]==0.1.0'
        indexUrl: null,          // extra package index to install lepton-ci from
        venv: '.lepton/venv',    // virtualenv in the workspace (kept between builds: the cache)
        constraints: [],         // pip constraints files (-c): your pins win over lepton-ci's ranges
        requirementFiles: [],    // the repository's requirement files (-r), installed with lepton-ci
        installProject: false,   // also install the repository itself (pip install -e .)
        pipCacheDir: null,       // pip's cache (default: $PIP_CACHE_DIR, else <workspace>@tmp/lepton-pip-cache)
    ])

    /** defaultConfig of each var: its own keys (listed first in errors), then COMMON. */
    static final Map<String, Map<String, Object>> STEPS = Collections.unmodifiableMap([
        leptonTrain: [:],
        leptonEvaluate: [
            junit: null,                  // JUnit report path (default: the run layout's)
            publishJunit: true,           // publish it with `junit`, even when a gate fails
        ],
        leptonRegister: [
            promote: false,               // also promote the new version to champion
        ],
        leptonImageBuild: [
            registryCredentials: null,    // username/password credential id of the registry
        ],
        leptonImagePush: [
            registryCredentials: null,    // username/password credential id of the registry
        ],
        leptonDeploy: [
            env: null,                    // required: environment name from lepton.yaml
            target: 'docker',             // docker | kubernetes | local (picks the credential)
            promote: false,               // promote the deployed version to champion after
            registryCredentials: null,    // target docker: registry credential id
            kubeconfigCredentials: null,  // target kubernetes: secret-file credential id
        ],
        leptonMetricsPush: [
            pushgatewayCredentials: null, // username/password credential id of the Pushgateway
        ],
        leptonReport: [
            publishHtml: true,            // publish the HTML report with publishHTML (HTML Publisher plugin)
            describeBuild: true,          // the report's one-line summary becomes the build's description
        ],
        leptonPipeline: [
            defaultBranch: 'main',        // branch that registers, builds and deploys
            releaseTags: LeptonSteps.RELEASE_TAGS_DEFAULT, // glob of git tags whose builds run the whole path (null: none)
            cron: null,                   // retraining schedule (5-field cron), default branch only
            timezone: 'UTC',              // time zone of `cron`
            timeoutMinutes: 120,          // each stage without its own stageTimeouts entry (not the approvals)
            keepBuilds: 30,               // builds kept (buildDiscarder)
            retry: 1,                     // reruns of a stage whose agent went away (0..2), never of a failing step
            agents: [:],                  // stage or 'default' -> [label: '...', image: '...']
            stageTimeouts: [:],           // stage -> minutes
            variables: [:],               // plain environment variables for every stage
            credentials: [:],             // registry / kubeconfig / pushgateway credential ids
            promoteOnRegister: false,     // promote at register (no environment promotes)
            requirements: [:],            // job name -> requirement with the extras its step needs
            registerResource: null,       // Lockable Resources lock held while registering (null: none)
            environments: [],             // [name:, target:, approval:, approvers: [], promote:,
                                          //  approvalTimeoutHours: 168, resource: 'lepton-deploy-<name>']
        ],
    ])

    /** Most reruns after a lost agent (lepton.yaml's ci.retry allows 0..2). */
    static final int MAX_RETRY = LeptonSteps.MAX_RETRY
    /** How long an approval waits by default, and at most (lepton.yaml's approval_timeout_hours). */
    static final int APPROVAL_TIMEOUT_HOURS = 168
    static final int MAX_APPROVAL_TIMEOUT_HOURS = 720
    static final Map<String, List<String>> REQUIRED = Collections.unmodifiableMap([leptonDeploy: ['env']])
    static final List<String> STAGES = Collections.unmodifiableList(['default'] + LeptonSteps.STEPS)
    static final List<String> AGENT_KEYS = Collections.unmodifiableList(['label', 'image'])
    static final List<String> CREDENTIAL_KEYS = Collections.unmodifiableList(
        ['registry', 'kubeconfig', 'pushgateway'])
    static final List<String> ENVIRONMENT_KEYS = Collections.unmodifiableList(['name', 'target', 'approval',
        'approvers', 'promote', 'approvalTimeoutHours', 'resource'])

    /** The step's defaults merged with `given`; calls the `error` step on a bad key. */
    static Map resolve(Object script, String step, Map given) {
        String problem = problem(step, given ?: [:])
        if (problem) {
            script.error(problem)
        }
        return defaultConfig(step) + (given ?: [:])
    }

    @NonCPS
    static Map<String, Object> defaultConfig(String step) {
        Map<String, Object> merged = [:]
        merged.putAll(STEPS[step])
        merged.putAll(COMMON)
        return merged
    }

    /** The first thing wrong with `given` for `step`, or null. */
    @NonCPS
    static String problem(String step, Map given) {
        Map<String, Object> merged = defaultConfig(step)
        String unknown = unknownKey(step, merged.keySet() as List, given)
        if (unknown) {
            return unknown
        }
        for (String key in (REQUIRED[step] ?: [])) {
            if (given[key] == null) {
                return "${step}: config key '${key}' is required".toString()
            }
        }
        boolean install = given.containsKey('install') ? given.install : merged.install
        if (install && !given.requirement) {
            return "${step}: config key 'requirement' is required when install is true " +
                "(e.g. requirement: 'lepton-ci[train]==0.1.0'), or set install: false"
        }
        if (step == 'leptonPipeline') {
            return pipelineProblem(given)
        }
        return null
    }

    @NonCPS
    private static String pipelineProblem(Map given) {
        Object tags = given.releaseTags
        if (tags != null && !(tags instanceof CharSequence && tags.toString() ==~ LeptonStages.TAG_GLOB)) {
            return "leptonPipeline: config key 'releaseTags' must be a glob of letters, digits, " +
                "'.', '_', '-' and '*' (e.g. 'v*'), or null; got '${tags}'"
        }
        Object retry = given.retry
        if (retry != null && !(retry instanceof Integer && (retry as int) in 0..MAX_RETRY)) {
            return "leptonPipeline: config key 'retry' must be an integer from 0 to ${MAX_RETRY}; got '${retry}'"
        }
        for (Object stage in (given.agents ?: [:]).keySet()) {
            String problem = unknownName('leptonPipeline', 'agents', stage as String, STAGES) ?:
                unknownKey('leptonPipeline.agents.' + stage, AGENT_KEYS, given.agents[stage] as Map)
            if (problem) {
                return problem
            }
        }
        for (Object stage in (given.stageTimeouts ?: [:]).keySet()) {
            String problem = unknownName('leptonPipeline', 'stageTimeouts', stage as String, STAGES)
            if (problem) {
                return problem
            }
        }
        String credentials = unknownKey('leptonPipeline.credentials', CREDENTIAL_KEYS, given.credentials as Map)
        if (credentials) {
            return credentials
        }
        for (Object environment in given.environments ?: []) {
            String problem = unknownKey('leptonPipeline.environments', ENVIRONMENT_KEYS, environment as Map)
            if (problem) {
                return problem
            }
            if (!(environment as Map).name) {
                return "leptonPipeline.environments: config key 'name' is required"
            }
            Object hours = (environment as Map).approvalTimeoutHours
            if (hours != null && !(hours instanceof Integer && (hours as int) in 1..MAX_APPROVAL_TIMEOUT_HOURS)) {
                return "leptonPipeline.environments: config key 'approvalTimeoutHours' must be an integer " +
                    "from 1 to ${MAX_APPROVAL_TIMEOUT_HOURS}; got '${hours}'"
            }
        }
        return null
    }

    @NonCPS
    private static String unknownKey(String where, List allowed, Map given) {
        for (Object key in (given ?: [:]).keySet()) {
            if (!(key in allowed)) {
                return "${where}: unknown config key '${key}'; allowed: ${allowed.join(', ')}".toString()
            }
        }
        return null
    }

    @NonCPS
    private static String unknownName(String step, String key, String name, List allowed) {
        if (name in allowed) {
            return null
        }
        return "${step}: unknown stage '${name}' in ${key}; allowed: ${allowed.join(', ')}".toString()
    }

}
