package io.leptonci

/**
 * The lifecycle's constants: generated from lepton-ci's step table
 * (lepton_ci/pipeline/steps.py) by `python -m lepton_ci.pipeline.codegen`. Do not edit:
 * change the table and regenerate; a test keeps this file in sync.
 */
class LeptonSteps implements Serializable {

    /** Step kinds in pipeline order. */
    static final List<String> STEPS = Collections.unmodifiableList([
        'train',
        'evaluate',
        'register',
        'image-build',
        'image-push',
        'deploy',
        'metrics-push',
        'report',
    ])

    /** Stage title of each step kind; {env}: the environment's name. */
    static final Map<String, String> TITLES = Collections.unmodifiableMap([
        train: 'Train',
        evaluate: 'Evaluate',
        register: 'Register model',
        'image-build': 'Build image',
        'image-push': 'Push image',
        deploy: 'Deploy {env}',
        'metrics-push': 'Push metrics',
        report: 'Report',
    ])

    /** Argv after `lepton-ci` ({junit}: the JUnit path, {env}: the environment). */
    static final Map<String, List<String>> WORDS = Collections.unmodifiableMap([
        train: ['train'],
        evaluate: ['evaluate', '--junit', '{junit}'],
        register: ['models', 'register'],
        'image-build': ['image', 'build'],
        'image-push': ['image', 'push'],
        deploy: ['deploy', '--env', '{env}'],
        'metrics-push': ['metrics', 'push'],
        report: ['report', '--publish'],
    ])

    /** Jobs whose artifacts each step kind needs; a deploy also needs the previous deploy. */
    static final Map<String, List<String>> NEEDS = Collections.unmodifiableMap([
        train: [],
        evaluate: ['train'],
        register: ['train', 'evaluate'],
        'image-build': ['train', 'register'],
        'image-push': ['register', 'image-build'],
        deploy: ['register', 'image-push'],
        'metrics-push': ['train', 'evaluate'],
        report: ['train', 'evaluate'],
    ])

    /** Jobs whose artifacts each step kind takes where they ran in this build (none else). */
    static final Map<String, List<String>> AFTER = Collections.unmodifiableMap([
        train: [],
        evaluate: [],
        register: [],
        'image-build': [],
        'image-push': [],
        deploy: [],
        'metrics-push': ['register'],
        report: ['register'],
    ])

    /** Layout keys (layout.properties) each step kind hands on. */
    static final Map<String, List<String>> ARTIFACTS = Collections.unmodifiableMap([
        train: ['train'],
        evaluate: ['evaluate'],
        register: ['register'],
        'image-build': ['imageBuildEnv'],
        'image-push': ['imageEnv'],
        deploy: ['deploy'],
        'metrics-push': [],
        report: [],
    ])

    /** The variable that skips each step kind when true, 1 or yes. */
    static final Map<String, String> KILL_SWITCHES = Collections.unmodifiableMap([
        train: 'LEPTON_TRAIN_DISABLED',
        evaluate: 'LEPTON_EVALUATE_DISABLED',
        register: 'LEPTON_REGISTER_DISABLED',
        'image-build': 'LEPTON_IMAGE_BUILD_DISABLED',
        'image-push': 'LEPTON_IMAGE_PUSH_DISABLED',
        deploy: 'LEPTON_DEPLOY_DISABLED',
        'metrics-push': 'LEPTON_METRICS_PUSH_DISABLED',
        report: 'LEPTON_REPORT_DISABLED',
    ])

    /** Kill switches that skip a step kind: its own, then those of every step it needs. */
    static final Map<String, List<String>> DISABLED_BY = Collections.unmodifiableMap([
        train: ['LEPTON_TRAIN_DISABLED'],
        evaluate: ['LEPTON_EVALUATE_DISABLED', 'LEPTON_TRAIN_DISABLED'],
        register: ['LEPTON_REGISTER_DISABLED', 'LEPTON_TRAIN_DISABLED', 'LEPTON_EVALUATE_DISABLED'],
        'image-build': [
            'LEPTON_IMAGE_BUILD_DISABLED',
            'LEPTON_TRAIN_DISABLED',
            'LEPTON_EVALUATE_DISABLED',
            'LEPTON_REGISTER_DISABLED',
        ],
        'image-push': [
            'LEPTON_IMAGE_PUSH_DISABLED',
            'LEPTON_TRAIN_DISABLED',
            'LEPTON_EVALUATE_DISABLED',
            'LEPTON_REGISTER_DISABLED',
            'LEPTON_IMAGE_BUILD_DISABLED',
        ],
        deploy: [
            'LEPTON_DEPLOY_DISABLED',
            'LEPTON_TRAIN_DISABLED',
            'LEPTON_EVALUATE_DISABLED',
            'LEPTON_REGISTER_DISABLED',
            'LEPTON_IMAGE_BUILD_DISABLED',
            'LEPTON_IMAGE_PUSH_DISABLED',
        ],
        'metrics-push': ['LEPTON_METRICS_PUSH_DISABLED', 'LEPTON_TRAIN_DISABLED', 'LEPTON_EVALUATE_DISABLED'],
        report: ['LEPTON_REPORT_DISABLED', 'LEPTON_TRAIN_DISABLED', 'LEPTON_EVALUATE_DISABLED'],
    ])

    /** Variables each credential is bound to: user and password, or the file's path. */
    static final Map<String, List<String>> CREDENTIAL_VARIABLES = Collections.unmodifiableMap([
        registry: ['LEPTON_REGISTRY_USER', 'LEPTON_REGISTRY_PASSWORD'],
        pushgateway: ['LEPTON_PUSHGATEWAY_USER', 'LEPTON_PUSHGATEWAY_PASSWORD'],
        kubeconfig: ['KUBECONFIG'],
    ])

    /** The credential a deploy binds, by target (null: none). */
    static final Map<String, String> TARGET_CREDENTIALS = Collections.unmodifiableMap([
        local: null,
        docker: 'registry',
        kubernetes: 'kubeconfig',
    ])

    /** Deploy targets that need no image (the model runs from the run directory). */
    static final List<String> IMAGELESS_TARGETS = Collections.unmodifiableList(['local'])

    /** Argv after `lepton-ci` that promotes the shipped version. */
    static final List<String> PROMOTE_WORDS = Collections.unmodifiableList([
        'models',
        'promote',
        '--to',
        'champion',
    ])

    /** Values that turn a kill switch on, in any case. */
    static final List<String> SWITCH_ON_VALUES = Collections.unmodifiableList(['true', '1', 'yes'])

    /** Release-tag glob when none is given (project.release_tags). */
    static final String RELEASE_TAGS_DEFAULT = 'v*'

    /** What a release-tag glob may hold, as a whole-string regex (TAG_GLOB). */
    static final String TAG_GLOB = '[A-Za-z0-9._*-]{1,100}'

    /** The spec file `--spec PATH` is left out for. */
    static final String DEFAULT_SPEC = 'lepton.yaml'

    /** Name of the published HTML report (publishHTML reportName; GitLab's expose_as). */
    static final String REPORT_NAME = 'lepton-ci report'

    /** Most reruns after a lost agent (ci.retry). */
    static final int MAX_RETRY = 2

    private static final long serialVersionUID = 1L

}
