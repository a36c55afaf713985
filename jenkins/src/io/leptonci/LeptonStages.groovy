package io.leptonci

import com.cloudbees.groovy.cps.NonCPS

/**
 * What each stage hands on and needs (lepton_ci/pipeline/steps.py, generated into LeptonSteps).
 * Agents differ per stage, so artifacts travel as stashes named `lepton-<job>`.
 */
class LeptonStages implements Serializable {

    static final String STASH_PREFIX = 'lepton-'
    /** What a release-tag glob may hold (lepton_ci/spec/model.py: TAG_GLOB). */
    static final String TAG_GLOB = LeptonSteps.TAG_GLOB
    private static final long serialVersionUID = 1L

    /** Layout keys (layout.properties) each job kind hands on (generated: LeptonSteps). */
    static final Map<String, List<String>> ARTIFACTS = LeptonSteps.ARTIFACTS

    /** Jobs whose artifacts each job kind needs; a deploy also needs the previous deploy. */
    static final Map<String, List<String>> NEEDS = LeptonSteps.NEEDS

    /** Jobs whose artifacts each job kind takes only where they ran in this build (register for
     * the report and the metrics push; GitLab: `needs: optional`). */
    static final Map<String, List<String>> AFTER = LeptonSteps.AFTER

    /** Values that turn a kill switch on, in any case (lepton_ci/pipeline/model.py: SWITCH_ON_VALUES). */
    static final List<String> SWITCH_ON_VALUES = LeptonSteps.SWITCH_ON_VALUES

    /** Kill switches that skip a stage of kind `step`: its own, then those of every job it needs
     * (lepton_ci/pipeline/model.py: Job.disabled_by). */
    @NonCPS
    static List<String> killSwitches(String step) {
        return LeptonSteps.DISABLED_BY[step]
    }

    /** Whether any kill switch of `step` is on; `env` is the build's env (values are strings). */
    @NonCPS
    static boolean disabled(String step, Object env) {
        return killSwitches(step).any { String name ->
            SWITCH_ON_VALUES.contains(((env[name] ?: '') as String).toLowerCase())
        }
    }

    /** The stage title of a job of kind `step` (LeptonSteps.TITLES); `env`: its environment. */
    @NonCPS
    static String title(String step, String env) {
        return LeptonSteps.TITLES[step].replace('{env}', env ?: '').trim()
    }

    @NonCPS
    static String stashName(String job) {
        return STASH_PREFIX + job
    }

    /** Ant patterns for stash/archiveArtifacts: each path as a file and as a directory. */
    @NonCPS
    static String includes(String step, Map<String, String> layout) {
        return ARTIFACTS[step].collect { String key -> "${layout[key]}, ${layout[key]}/**" }.join(', ')
    }

    /** Stashes to unstash before `job` (of kind `step`) runs. */
    @NonCPS
    static List<String> unstash(String step, String previousDeploy) {
        List<String> jobs = NEEDS[step] + (previousDeploy ? [previousDeploy] : [])
        return jobs.collect { String job -> stashName(job) }
    }

    /**
     * Stashes of the jobs `step` takes only where they ran (AFTER) that `stashed`, the build's record
     * of the stashes taken so far, holds: unstash of a name never stashed fails the step
     * (StashManager.unstash, jenkinsci/workflow-api-plugin). A job it also needs is unstashed as such.
     */
    @NonCPS
    static List<String> unstashAfter(String step, Collection<String> stashed) {
        return (AFTER[step] - NEEDS[step]).collect { String job -> stashName(job) }.findAll { String name ->
            stashed.contains(name)
        }
    }

    /** A release-tag glob ('v*') as an anchored regex ('^v.*$'): lepton_ci's tag_regex. */
    @NonCPS
    static String tagRegex(String glob) {
        return '^' + glob.collect { String ch ->
            ch == '*' ? '.*' : (ch ==~ /[A-Za-z0-9_]/ ? ch : '\\' + ch)
        }.join('') + '$'
    }

    /** Whether this is the build of a release tag: `tag` (TAG_NAME) matches `glob` (case matters). */
    @NonCPS
    static boolean releaseTag(String tag, String glob) {
        return tag != null && glob != null && tag ==~ tagRegex(glob)
    }

    /** Whether stages that run on every branch run here: any branch or change-request build, and
     *  tag builds of release tags only. */
    @NonCPS
    static boolean anyBranchOrReleaseTag(String tag, String glob) {
        return tag == null || releaseTag(tag, glob)
    }

    /** The agent of a stage: its own entry, else `default`, else any agent. */
    @NonCPS
    static Map agent(Map agents, String step) {
        return (agents[step] ?: agents['default'] ?: [:]) as Map
    }

    /**
     * Milestone ordinals per environment, in order: [approved: n, deploy: n + 1] with an approval,
     * [approved: null, deploy: n] without (lepton_ci/render/jenkins.py: milestone_ordinals). Fixed per
     * position, so every build of the job compares the same points.
     */
    @NonCPS
    static List<Map> milestones(List environments) {
        int next = 1
        return (environments ?: []).collect { Object environment ->
            Integer approved = (environment as Map).approval ? next++ : null
            return [approved: approved, deploy: next++]
        }
    }

    /**
     * The `publishHTML(target:)` of the run's HTML report (lepton_ci/render/jenkins.py: HtmlTarget):
     * kept with every build, the job's link going to the last build's, and a missing report (the
     * step failed before writing it) failing nothing (HtmlPublisher.publishReports,
     * jenkinsci/htmlpublisher-plugin).
     */
    @NonCPS
    static Map htmlTarget(Map<String, String> layout) {
        String dir = layout.report
        return [reportDir: dir, reportFiles: layout.reportPage.substring(dir.length() + 1),
                reportName: LeptonSteps.REPORT_NAME, keepAll: true, alwaysLinkToLastBuild: true,
                allowMissing: true]
    }

    /** `withEnv` entries of a stage: LEPTON_JOB (whose job this is) and the plain variables. */
    @NonCPS
    static List<String> environment(String job, Map variables) {
        return ['LEPTON_JOB=' + job] + (variables ?: [:]).collect { k, v -> "${k}=${v}".toString() }
    }

}
