import io.leptonci.LeptonConfig
import io.leptonci.LeptonLayout
import io.leptonci.LeptonStages

/**
 * leptonPipeline: lepton-ci's whole pipeline as one declarative pipeline.
 *
 *   train -> evaluate (JUnit) -> register -> build image -> push image
 *         -> deploy <env>... (approval first where asked) -> push metrics (always) -> report (always)
 *
 * Commit builds and change requests train, evaluate, push metrics and report; the default branch,
 * release tags (`releaseTags`, a glob) and the scheduled retraining build run the whole path;
 * other tag builds run nothing. Every stage takes its own agent (stashes
 * carry the run directory between them); approvals wait without holding an executor. A stage
 * is skipped when LEPTON_<STEP>_DISABLED (or that of a stage it needs) is true, 1 or yes.
 * Help: leptonPipeline.txt.
 */
void call(Map config = [:]) {
    Map cfg = LeptonConfig.resolve(this, 'leptonPipeline', config)
    Map<String, String> layout = LeptonLayout.load(this)
    String cronSpec = cfg.cron ? "TZ=${cfg.timezone}\n${cfg.cron}" : ''
    // the stashes taken so far in this build: what a stage takes only where its stage ran
    // (LeptonStages.unstashAfter: the report's register hand-off) is unstashed only when here
    Set<String> stashed = [] as Set

    pipeline {
        agent none
        // No pipeline-wide timeout: it would count an approval's wait too (ModelInterpreter wraps every
        // stage in the pipeline options); each stage has its own (onAgent). No disableConcurrentBuilds:
        // a waiting approval would hold back every later build; deploys take their environment's lock
        // and pass milestones instead (deployTo).
        options {
            buildDiscarder(logRotator(numToKeepStr: cfg.keepBuilds as String))
            timestamps()
        }
        triggers {
            cron(env.BRANCH_NAME == cfg.defaultBranch ? cronSpec : '')
        }
        stages {
            stage('Train') {
                when {
                    expression { !LeptonStages.disabled('train', env) }
                    expression { currentBuild.currentResult == 'SUCCESS' }
                    expression { LeptonStages.anyBranchOrReleaseTag(env.TAG_NAME, cfg.releaseTags) }
                }
                steps {
                    script {
                        onAgent(cfg, layout, stashed, 'train', 'train', null) {
                            leptonTrain(common(cfg, 'train', true))
                        }
                    }
                }
            }
            stage('Evaluate') {
                when {
                    expression { !LeptonStages.disabled('evaluate', env) }
                    expression { currentBuild.currentResult == 'SUCCESS' }
                    expression { LeptonStages.anyBranchOrReleaseTag(env.TAG_NAME, cfg.releaseTags) }
                }
                steps {
                    script {
                        onAgent(cfg, layout, stashed, 'evaluate', 'evaluate', null) {
                            leptonEvaluate(common(cfg, 'evaluate', true) + [junit: layout.junit])
                        }
                    }
                }
            }
            stage('Register model') {
                when {
                    expression { mainline(cfg, 'register') }
                }
                steps {
                    script {
                        inLock(cfg.registerResource as String) {
                            onAgent(cfg, layout, stashed, 'register', 'register', null) {
                                leptonRegister(common(cfg, 'register', false) + [promote: cfg.promoteOnRegister as boolean])
                            }
                        }
                    }
                }
            }
            stage('Build image') {
                when {
                    expression { mainline(cfg, 'image-build') }
                }
                steps {
                    script {
                        onAgent(cfg, layout, stashed, 'image-build', 'image-build', null) {
                            leptonImageBuild(common(cfg, 'image-build', false) + [registryCredentials: cfg.credentials.registry])
                        }
                    }
                }
            }
            stage('Push image') {
                when {
                    expression { mainline(cfg, 'image-push') }
                }
                steps {
                    script {
                        onAgent(cfg, layout, stashed, 'image-push', 'image-push', null) {
                            leptonImagePush(common(cfg, 'image-push', false) + [registryCredentials: cfg.credentials.registry])
                        }
                    }
                }
            }
            stage('Deploy') {
                when {
                    expression { mainline(cfg, 'deploy') && (cfg.environments as boolean) }
                }
                steps {
                    script {
                        String previous = null
                        List<Map> ordinals = LeptonStages.milestones(cfg.environments as List)
                        for (int i = 0; i < cfg.environments.size(); i++) {
                            Map environment = cfg.environments[i] as Map
                            deployTo(cfg, layout, stashed, environment, previous, ordinals[i])
                            previous = 'deploy-' + environment.name
                        }
                    }
                }
            }
            stage('Push metrics') {
                when {
                    // runs even after a failed gate: the metrics of a rejected model matter too
                    expression { !LeptonStages.disabled('metrics-push', env) }
                    expression { LeptonStages.anyBranchOrReleaseTag(env.TAG_NAME, cfg.releaseTags) }
                }
                steps {
                    script {
                        onAgent(cfg, layout, stashed, 'metrics-push', 'metrics-push', null) {
                            leptonMetricsPush(common(cfg, 'metrics-push', false) + [pushgatewayCredentials: cfg.credentials.pushgateway])
                        }
                    }
                }
            }
            stage('Report') {
                when {
                    // runs even after a failed gate: the report of a rejected model is the point
                    expression { !LeptonStages.disabled('report', env) }
                    expression { LeptonStages.anyBranchOrReleaseTag(env.TAG_NAME, cfg.releaseTags) }
                }
                steps {
                    script {
                        onAgent(cfg, layout, stashed, 'report', 'report', null) {
                            leptonReport(common(cfg, 'report', false))
                        }
                    }
                }
            }
        }
    }
}

/**
 * Whether a stage of kind `step` that runs on the mainline only (register, the image, the deploys)
 * runs in this build: none of its kill switches on, the build still a success, and a build of the
 * default branch, of a release tag (`releaseTags`) or of the retraining schedule, never a change
 * request. One `when` for all of them: `triggeredBy 'TimerTrigger'` as a cause of
 * hudson.triggers.TimerTrigger$TimerTriggerCause (RunWrapper.getBuildCauses), `changeRequest()`
 * as a build with CHANGE_ID, which branch-api sets for change-request heads only
 * (BranchNameContributor, jenkinsci/branch-api-plugin).
 */
boolean mainline(Map cfg, String step) {
    boolean scheduled = !currentBuild.getBuildCauses('hudson.triggers.TimerTrigger$TimerTriggerCause').isEmpty()
    return !LeptonStages.disabled(step, env) && currentBuild.currentResult == 'SUCCESS' &&
        (env.BRANCH_NAME == cfg.defaultBranch || LeptonStages.releaseTag(env.TAG_NAME, cfg.releaseTags) || scheduled) &&
        env.CHANGE_ID == null
}

/**
 * The keys every step var shares, taken from the pipeline's config: `job`'s own requirement (the
 * extras its step needs), the constraints, and the repository's own requirement files and project
 * where the job runs the repository's code (`userCode`: train, evaluate, local deploys).
 */
Map common(Map cfg, String job, boolean userCode) {
    Map out = [spec: cfg.spec, install: cfg.install, requirement: cfg.requirements[job] ?: cfg.requirement,
               indexUrl: cfg.indexUrl, venv: cfg.venv, constraints: cfg.constraints, pipCacheDir: cfg.pipCacheDir]
    if (userCode) {
        out.requirementFiles = cfg.requirementFiles
        out.installProject = cfg.installProject
    }
    return out
}

/**
 * One deployment: its own stage; the approval, bounded by its own `timeout` only and holding no
 * executor; a milestone (approving a newer build aborts older ones waiting there); then, under the
 * environment's lock (taken before any agent), a milestone that aborts this build if a newer one
 * already deployed here, and the deploy on an agent. The milestones sit outside onAgent's `retry`:
 * passing an explicit ordinal twice aborts the build (MilestoneStepExecution.getNextOrdinal,
 * jenkinsci/pipeline-milestone-step-plugin). `ordinals`: [approved:, deploy:] (LeptonStages.milestones).
 */
void deployTo(Map cfg, Map<String, String> layout, Set<String> stashed, Map environment, String previous,
              Map ordinals) {
    String job = 'deploy-' + environment.name
    if (currentBuild.currentResult != 'SUCCESS') {
        return  // an earlier deployment failed: later environments keep their version
    }
    stage(LeptonStages.title('deploy', environment.name as String)) {
        if (environment.approval) {
            withEnv(['LEPTON_JOB=' + job]) {
                Map ask = [message: 'Deploy to ' + environment.name + '?', ok: 'Deploy']
                if (environment.approvers) {
                    ask.submitter = (environment.approvers as List).join(',')
                }
                timeout(time: (environment.approvalTimeoutHours ?: LeptonConfig.APPROVAL_TIMEOUT_HOURS) as int,
                        unit: 'HOURS') {
                    input(ask)
                }
                milestone(ordinal: ordinals.approved as int, label: 'approved ' + environment.name)
            }
        }
        inLock(environment.resource as String ?: 'lepton-deploy-' + environment.name) {
            milestone(ordinal: ordinals.deploy as int, label: 'Deploy ' + environment.name)
            onAgent(cfg, layout, stashed, job, 'deploy', previous) {
                leptonDeploy(common(cfg, job, environment.target == 'local') + [
                    env: environment.name,
                    target: environment.target ?: 'docker',
                    promote: environment.promote as boolean,
                    registryCredentials: cfg.credentials.registry,
                    kubeconfigCredentials: cfg.credentials.kubeconfig,
                ])
            }
        }
    }
}

/** `body` holding the Lockable Resources lock `resource` (created on first use); null: no lock. */
void inLock(String resource, Closure body) {
    if (resource) {
        lock(resource: resource) {
            body()
        }
    } else {
        body()
    }
}

/**
 * Run `body` for `job` on the stage's agent: check out, unstash what the job needs and, of what it
 * takes only where its stage ran (LeptonStages.unstashAfter), what `stashed` holds; run with the
 * pipeline's variables (inside the stage's container image if any), then stash and archive what
 * it hands on, even when it failed, and add that stash to `stashed` (the build's record). A failing step (`sh`, `error`: hudson.AbortException) marks
 * stage and build FAILURE and lets the build go on to the stages that run regardless (the metrics
 * push). Anything else propagates: a lost agent (FlowInterruptedException with RemovedNodeCause,
 * a closed channel) reaches `retry`, which reruns all of it on a fresh agent; an abort or a
 * timeout stops the build. catchError around the body would swallow the lost agent even with
 * `catchInterruptions: false`, which rethrows only actual interruptions (CatchErrorStep.java,
 * jenkinsci/workflow-basic-steps-plugin), and the lost agent is raised as none
 * (ExecutorStepExecution.java, jenkinsci/workflow-durable-task-step-plugin).
 */
void onAgent(Map cfg, Map<String, String> layout, Set<String> stashed, String job, String step, String previous,
             Closure body) {
    Map agent = LeptonStages.agent(cfg.agents as Map, step)
    List<String> variables = LeptonStages.environment(job, cfg.variables as Map)
    Integer minutes = (cfg.stageTimeouts[step] ?: cfg.timeoutMinutes) as Integer
    withEnv(variables) {
        retryLostAgent(cfg.retry as Integer) {
            node(agent.label ?: null) {
                checkout scm
                try {
                    timeout(time: minutes, unit: 'MINUTES') {
                        for (String name in LeptonStages.unstash(step, previous)) {
                            try {
                                unstash name
                            } catch (hudson.AbortException missing) {
                                // its stage did not run (an earlier failure): the step says what it lacks
                                echo "no stash ${name}: ${missing.message}"
                            }
                        }
                        // unstash of a name never stashed would fail the step: ask the record
                        for (String name in LeptonStages.unstashAfter(step, stashed)) {
                            unstash name
                        }
                        if (agent.image) {
                            docker.image(agent.image as String).inside {
                                body()
                            }
                        } else {
                            body()
                        }
                    }
                } catch (hudson.AbortException failure) {
                    catchError(buildResult: 'FAILURE', stageResult: 'FAILURE') {
                        throw failure
                    }
                }
                String includes = LeptonStages.includes(step, layout)
                if (includes) {
                    stash name: LeptonStages.stashName(job), includes: includes, allowEmpty: true
                    archiveArtifacts artifacts: includes, allowEmptyArchive: true, fingerprint: true
                    stashed.add(LeptonStages.stashName(job))
                }
            }
        }
    }
}

/**
 * Run `body` again on a fresh agent when its agent went away or the build could not resume after a
 * controller restart, up to `retries` more times; a failing step is never retried (it is caught
 * inside and marks the stage FAILURE). 0: no retry.
 */
void retryLostAgent(Integer retries, Closure body) {
    if (retries) {
        retry(count: retries + 1, conditions: [agent(), nonresumable()]) {
            body()
        }
    } else {
        body()
    }
}
