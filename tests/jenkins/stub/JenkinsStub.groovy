import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * Base class of every script the stub evaluates (the Jenkinsfile and the library's vars).
 * Declarative `pipeline { }` is recorded by DeclBuilder and then interpreted: `when` is
 * evaluated for the requested branch/trigger, steps run, and every step is recorded.
 * Unknown steps fail (MissingMethodException), so a typo in a generated file is caught.
 */
abstract class JenkinsStub extends Script {

    StubContext getCtx() { StubContext.current }

    StubEnv getEnv() { ctx.env }

    static final List<String> RESULTS = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']

    /**
     * The build result so far: the worst of what `catchError` set (it calls
     * `Run.setResult`, which only ever makes a result worse: hudson.model.Run) and STUB_RESULT,
     * with which a test simulates an earlier failure.
     */
    StubBuild getCurrentBuild() {
        List<String> seen = [ctx.env.map().get('STUB_RESULT') ?: 'SUCCESS', ctx.buildResult ?: 'SUCCESS']
        String result = seen.max { RESULTS.indexOf(it) }
        return new StubBuild(currentResult: result, result: result == 'SUCCESS' ? null : result, number: 1)
    }

    /** Run.setResult: a result only ever gets worse (hudson.model.Run). */
    protected void worsen(String result) {
        List<String> worst = [ctx.buildResult ?: 'SUCCESS', result]
        ctx.buildResult = worst.max { RESULTS.indexOf(it) }
    }

    String getScm() { 'scm' }

    /**
     * `params`: ParamsVariable (jenkinsci/workflow-cps-plugin,
     * plugin/src/main/java/org/jenkinsci/plugins/workflow/cps/ParamsVariable.java): an unmodifiable map
     * of each parameter's typed value (a Boolean parameter's is a Boolean), defaults included. The
     * same parameters reach `env` as strings (see extract.py's build_env).
     */
    Map getParams() { Collections.unmodifiableMap(ctx.params) }

    Object getDocker() {
        JenkinsStub self = this
        return [image: { String name -> [inside: { Object... a ->
            Closure body = (Closure) a[-1]
            self.ctx.record(kind: 'docker', image: name)
            body.call()
        }] }]
    }

    // ---- library vars ---------------------------------------------------------------------
    def methodMissing(String name, Object argsObj) {
        Object[] args = argsObj as Object[]
        File source = ctx.libDir ? new File(ctx.libDir, "vars/${name}.groovy") : null
        if (source == null || !source.isFile()) {
            throw new MissingMethodException(name, getClass(), args)
        }
        Script var = ctx.vars.computeIfAbsent(name) {
            Class compiled = StubContext.classes.computeIfAbsent(source.path) { ctx.shell.parse(source).getClass() }
            return org.codehaus.groovy.runtime.InvokerHelper.createScript(compiled, new Binding())
        }
        return var.invokeMethod('call', args)
    }

    // ---- steps ----------------------------------------------------------------------------
    void sh(Object arg) {
        String script = arg instanceof Map ? arg.script : arg
        Map<String, String> lepton = ctx.env.map().findAll { k, v -> k.startsWith('LEPTON_') || k == 'PIP_CACHE_DIR' }
        ctx.record(kind: 'sh', script: script, credentials: ctx.credentials.clone(),
            path: ctx.env.map().get('PATH'), env: lepton, locks: ctx.locks.clone())
        agentLost()
        elapse((ctx.env.map().get('STUB_SH_MINUTES') ?: '0') as long)
        String failing = ctx.env.map().get('STUB_FAIL_SH')
        if (failing && script.contains(failing)) {
            throw StubFailure.step("script returned exit code 1: ${script}")
        }
    }

    void echo(Object message) { ctx.record(kind: 'echo', message: message) }

    /** ErrorStep.java (workflow-basic-steps-plugin): an AbortException with the message. */
    void error(Object message) { throw StubFailure.step(message.toString()) }

    /**
     * `withEnv`, as EnvStep.Execution.start has it (jenkinsci/workflow-basic-steps-plugin,
     * src/main/java/org/jenkinsci/plugins/workflow/steps/EnvStep.java, at a789b075): each `KEY=value`
     * is split at the first `=` and applied to the body's environment only
     * (EnvironmentExpander.constant -> EnvVars.overrideAll, jenkinsci/workflow-step-api and
     * jenkinsci/jenkins core/src/main/java/hudson/EnvVars.java): `KEY+SUFFIX=value` prepends `value:`
     * to KEY (PATH+VENV=/v/bin), an empty value removes the variable, values are not expanded.
     */
    Object withEnv(List<String> pairs, Closure body) {
        Map<String, String> saved = new LinkedHashMap<>(ctx.env.map())
        pairs.each { Object item ->
            String pair = item.toString()
            int eq = pair.indexOf('=')
            String key = pair.substring(0, eq)
            String value = pair.substring(eq + 1)
            int plus = key.indexOf('+')
            if (value.isEmpty()) {
                ctx.env.map().remove(key)
            } else if (plus > 0) {
                String real = key.substring(0, plus)
                String old = ctx.env.map().get(real)
                ctx.env.map().put(real, old == null ? value : "${value}:${old}".toString())
            } else {
                ctx.env.map().put(key, value)
            }
        }
        try {
            return body.call()
        } finally {
            ctx.env.replace(saved)
        }
    }

    /** The bindings' constructor arguments (jenkinsci/credentials-binding-plugin, src/main/java/org/
     * jenkinsci/plugins/credentialsbinding/impl/UsernamePasswordMultiBinding.java, StringBinding.java,
     * FileBinding.java): all required. */
    static final Map<String, List<String>> BINDING_KEYS = [
        username_password: ['credentialsId', 'usernameVariable', 'passwordVariable'],
        string: ['credentialsId', 'variable'], file: ['credentialsId', 'variable']]

    protected static Map binding(String kind, Map args) {
        List<String> wanted = BINDING_KEYS[kind]
        if (args.keySet()*.toString() as Set != wanted as Set) {
            throw new StubError("stub: ${kind} binding takes exactly ${wanted.join(', ')}, not ${args.keySet().join(', ')}")
        }
        return [kind: kind] + args
    }

    Map usernamePassword(Map args) { binding('username_password', args) }

    Map file(Map args) { binding('file', args) }

    Map string(Map args) { binding('string', args) }

    /**
     * `withCredentials`, as BindingStep has it (jenkinsci/credentials-binding-plugin,
     * src/main/java/org/jenkinsci/plugins/credentialsbinding/impl/BindingStep.java): each binding's
     * variables exist in the body's environment only (an EnvironmentExpander of the body), so after the
     * block a variable of the same name has its earlier value again, or none. usernamePassword binds
     * the user and the password, string the secret text, file the path of a temporary copy of the
     * secret file (WORKSPACE@tmp/secretFiles/UUID/NAME, deleted after the block). The stub knows no
     * credential store: it binds `<secret ID>` to every variable and cannot tell a missing ID
     * (upstream: CredentialNotFoundException) from a present one.
     */
    Object withCredentials(List bindings, Closure body) {
        List<String> saved = ctx.credentials.clone()
        Map<String, String> env = new LinkedHashMap<>(ctx.env.map())
        ctx.record(kind: 'withCredentials', bindings: bindings)
        bindings.each { Map b ->
            ctx.credentials << b.credentialsId.toString()
            ['usernameVariable', 'passwordVariable', 'variable'].each { k ->
                if (b[k]) {
                    ctx.env.map().put(b[k].toString(), "<secret ${b.credentialsId}>".toString())
                }
            }
        }
        try {
            return body.call()
        } finally {
            ctx.credentials = saved
            ctx.env.replace(env)
        }
    }

    static final List<String> STASH_KEYS = ['name', 'includes', 'excludes', 'allowEmpty', 'useDefaultExcludes']

    /**
     * `stash`, as StashStep and StashManager.stash have it (jenkinsci/workflow-basic-steps-plugin,
     * src/main/java/org/jenkinsci/plugins/workflow/support/steps/stash/StashStep.java; jenkinsci/
     * workflow-api-plugin, src/main/java/org/jenkinsci/plugins/workflow/flow/StashManager.java): the
     * workspace files the Ant `includes` take (none given: all) are saved under `name` for the rest of
     * the build, replacing a stash of the same name; none taken fails the step ("No files included in
     * stash ‘NAME’") unless `allowEmpty`. The stub's workspace is STUB_FILES.
     */
    void stash(Map args) {
        args.keySet().each { Object k ->
            if (!(k.toString() in STASH_KEYS)) {
                throw new StubError("stub: unknown stash argument '${k}'; allowed: ${STASH_KEYS.join(', ')}")
            }
        }
        if (args.excludes) {
            throw new StubError('stub: stash excludes are not emulated')
        }
        ctx.record(kind: 'stash', name: args.name, includes: args.includes)
        if (!(args.allowEmpty as boolean) && !StubMatch.includesAny(args.includes, workspaceFiles())) {
            throw StubFailure.step("No files included in stash ‘${args.name}’")
        }
        ctx.stashes.add(args.name.toString())
    }

    /**
     * `unstash` of a name this build never stashed fails the step with an AbortException
     * ("No such saved stash ‘NAME’": StashManager.unstash, jenkinsci/workflow-api-plugin,
     * src/main/java/org/jenkinsci/plugins/workflow/flow/StashManager.java).
     */
    void unstash(Object arg) {
        String name = (arg instanceof Map ? arg.name : arg).toString()
        ctx.record(kind: 'unstash', name: name)
        if (!(name in ctx.stashes)) {
            throw StubFailure.step("No such saved stash ‘${name}’")
        }
    }

    void archiveArtifacts(Object arg) {
        ctx.record(kind: 'archiveArtifacts', artifacts: arg instanceof Map ? arg.artifacts : arg)
    }

    void junit(Object arg) { ctx.record(kind: 'junit', testResults: arg instanceof Map ? arg.testResults : arg) }

    // ---- the workspace's files (workflow-basic-steps: fileExists, readFile) ------------------
    // The stub runs no command, so nothing writes files: STUB_FILES (comma-separated paths
    // relative to the workspace) says which exist; a file reads as "contents of PATH\n".

    protected Set<String> workspaceFiles() {
        return ((ctx.env.map().get('STUB_FILES') ?: '').split(',') as List)*.trim().findAll { it } as Set
    }

    /** A file, or a directory holding one of STUB_FILES. */
    protected boolean workspaceHas(String path) {
        String clean = path.replaceAll('/+$', '')
        return workspaceFiles().any { String f -> f == clean || f.startsWith(clean + '/') }
    }

    boolean fileExists(Object arg) {
        String path = (arg instanceof Map ? arg.file : arg).toString()
        boolean exists = workspaceHas(path)
        ctx.record(kind: 'fileExists', file: path, exists: exists)
        return exists
    }

    /** ReadFileStep: a missing file fails the build (java.nio.file.NoSuchFileException, not caught here). */
    String readFile(Object arg) {
        String path = (arg instanceof Map ? arg.file : arg).toString()
        if (!(path in workspaceFiles())) {
            throw new StubError("stub: readFile('${path}'): no such file (Jenkins fails the build: NoSuchFileException)")
        }
        ctx.record(kind: 'readFile', file: path)
        return "contents of ${path}\n".toString()
    }

    // ---- publishHTML (htmlpublisher) ---------------------------------------------------------
    /** HtmlPublisherTarget's constructor arguments and setters (jenkinsci/htmlpublisher-plugin). */
    static final List<String> HTML_TARGET_KEYS = ['reportName', 'reportDir', 'reportFiles', 'keepAll',
        'alwaysLinkToLastBuild', 'allowMissing', 'reportTitles', 'includes', 'escapeUnderscores',
        'useWrapperFileDirectly', 'numberOfWorkers']

    /**
     * `publishHTML(target: [...])`, as PublishHTMLStepExecution.run and HtmlPublisher.publishReports
     * have it (jenkinsci/htmlpublisher-plugin, src/main/java/htmlpublisher/workflow/PublishHTMLStepExecution.java
     * and src/main/java/htmlpublisher/HtmlPublisher.java): no target fails the step
     * (AbortException "Cannot publish the report. Target is not specified"); a `reportDir` missing
     * from the workspace is logged, and without `allowMissing` (a boolean: false when not given)
     * the build is set to FAILURE and the step returns normally (`build.setResult(Result.FAILURE);
     * return true`): later steps still run. The event records the target and whether it was published.
     */
    void publishHTML(Map args) {
        args.keySet().each { Object k ->
            if (k.toString() != 'target') {
                throw new StubError("stub: unknown publishHTML argument '${k}'; allowed: target")
            }
        }
        Map target = args.target as Map
        if (target == null) {
            throw StubFailure.step('Cannot publish the report. Target is not specified')
        }
        target.keySet().each { Object k ->
            if (!(k.toString() in HTML_TARGET_KEYS)) {
                throw new StubError("stub: unknown publishHTML target key '${k}'; allowed: ${HTML_TARGET_KEYS.join(', ')}")
            }
        }
        boolean exists = target.reportDir != null && workspaceHas(target.reportDir.toString().trim())
        ctx.record(kind: 'publishHTML', target: target, published: exists)
        if (!exists && !(target.allowMissing as boolean)) {
            worsen('FAILURE')
        }
    }

    static final List<String> CATCH_ERROR_KEYS = ['message', 'buildResult', 'stageResult', 'catchInterruptions']

    /**
     * Jenkins' `catchError`, as `CatchErrorStep.Execution.Callback.onFailure` has it
     * (jenkinsci/workflow-basic-steps-plugin, src/main/java/org/jenkinsci/plugins/workflow/steps/CatchErrorStep.java):
     * it catches every failure of its body, and rethrows only when `catchInterruptions: false` and
     * the failure is a FlowInterruptedException whose `isActualInterruption()` is true (an abort,
     * an exceeded timeout, a rejected input). A lost agent is NOT an actual interruption
     * (ExecutorStepExecution raises it with `actualInterruption` false), so catchError catches it
     * whatever `catchInterruptions` says, and an enclosing `retry` never sees it. A caught
     * interruption sets its own result (ABORTED, NOT_BUILT), not `buildResult`.
     * Defaults: buildResult FAILURE, stageResult SUCCESS, catchInterruptions true.
     */
    Object catchError(Map args, Closure body) {
        args.keySet().each { Object k ->
            if (!(k.toString() in CATCH_ERROR_KEYS)) {
                throw new StubError("stub: unknown catchError argument '${k}'; allowed: ${CATCH_ERROR_KEYS.join(', ')}")
            }
        }
        boolean catchInterruptions = args.containsKey('catchInterruptions') ? args.catchInterruptions as boolean : true
        try {
            return body.call()
        } catch (Throwable e) {
            if (!StubFailure.isFailure(e)) {
                throw e
            }
            boolean interruption = e instanceof FlowInterruptedException
            if (interruption && ((FlowInterruptedException) e).actualInterruption && !catchInterruptions) {
                throw e
            }
            String result = interruption ? ((FlowInterruptedException) e).result : null
            String buildResult = result ?: (args.buildResult ?: 'FAILURE')
            String stageResult = result ?: (args.stageResult ?: 'SUCCESS')
            ctx.record(kind: 'caught', message: e.message, buildResult: buildResult, stageResult: stageResult,
                cause: StubFailure.kindOf(e))
            worsen(buildResult)
            return null
        }
    }

    Object catchError(Closure body) { catchError([:], body) }

    // ---- retry (workflow-basic-steps) -----------------------------------------------------
    static final List<String> RETRY_KEYS = ['count', 'conditions']
    /** Jenkins' retry conditions: the agent went away; the build could not resume. */
    static final List<String> RETRY_CONDITIONS = ['agent', 'kubernetesAgent', 'nonresumable']
    /** Which simulated failure each condition retries. */
    static final Map<String, String> RETRIED_CAUSE = [agent: 'agent', kubernetesAgent: 'agent',
        nonresumable: 'nonresumable']

    StubCondition agent() { new StubCondition(name: 'agent') }

    StubCondition nonresumable() { new StubCondition(name: 'nonresumable') }

    StubCondition kubernetesAgent() { new StubCondition(name: 'kubernetesAgent') }

    /** `[count:, conditions: [names]]` of a retry call; unknown keys and conditions fail. */
    protected static Map retryArgs(Object arg) {
        Map args = arg instanceof Map ? arg as Map : [count: arg]
        args.keySet().each { Object k ->
            if (!(k.toString() in RETRY_KEYS)) {
                throw new StubError("stub: unknown retry argument '${k}'; allowed: ${RETRY_KEYS.join(', ')}")
            }
        }
        if (!(args.count instanceof Integer) || (args.count as int) < 1) {
            throw new StubError("stub: retry count must be a positive integer, not '${args.count}'")
        }
        List<String> names = (args.conditions ?: []).collect { Object c ->
            String name = c instanceof DeclNode ? c.name : c instanceof StubCondition ? c.name : null
            if (c instanceof DeclNode && c.args) {
                name = null
            }
            if (!(name in RETRY_CONDITIONS)) {
                throw new StubError("stub: unknown retry condition '${StubContext.plain(c)}'; " +
                    "allowed: ${RETRY_CONDITIONS.join(', ')}")
            }
            return name
        }
        return [count: args.count as int, conditions: names]
    }

    /**
     * Jenkins' `retry`: up to `count` attempts. An actual interruption (an abort, a timeout) is
     * never retried (RetryStepExecution.java, jenkinsci/workflow-basic-steps-plugin); without
     * conditions every other failure is; with conditions only the failures they match:
     * `agent()` (AgentErrorCondition.java, jenkinsci/workflow-durable-task-step-plugin) matches a
     * FlowInterruptedException with a Retryable cause (RemovedNodeCause), never an AbortException
     * from a failing step.
     */
    Object retry(Object arg, Closure body) {
        Map args = retryArgs(arg)
        ctx.record(kind: 'retry', count: args.count, conditions: args.conditions)
        for (int attempt = 1; ; attempt++) {
            try {
                return body.call()
            } catch (Throwable e) {
                boolean actual = e instanceof FlowInterruptedException && ((FlowInterruptedException) e).actualInterruption
                boolean matches = StubFailure.isFailure(e) && !actual && (args.conditions.isEmpty() ||
                    args.conditions.any { RETRIED_CAUSE[it] == StubFailure.kindOf(e) })
                if (!matches || attempt >= (args.count as int)) {
                    throw e
                }
                ctx.record(kind: 'retrying', attempt: attempt + 1, message: e.message)
            }
        }
    }

    /** STUB_AGENT_LOST=<job>: the agent goes away during that job's first `sh` (once a build). */
    protected void agentLost() {
        String job = ctx.env.map().get('LEPTON_JOB')
        if (job && ctx.env.map().get('STUB_AGENT_LOST') == job && ctx.lostAgents.add(job)) {
            throw StubFailure.agentLost("Agent went away while running ${job}")
        }
    }

    void checkout(Object scm) { ctx.record(kind: 'checkout') }

    Object node(Object label, Closure body) {
        ctx.record(kind: 'node', label: label)
        return body.call()
    }

    Object node(Closure body) { node(null, body) }

    // ---- time: timeout and input (workflow-basic-steps, pipeline-input-step) ----------------
    // The stub has a clock (StubContext.clock, minutes) instead of time: `sh` takes STUB_SH_MINUTES,
    // an `input` is answered after STUB_APPROVAL_MINUTES, a `lock` held elsewhere is free after
    // STUB_LOCK_MINUTES. It cannot know how long real steps, approvers or other builds take.

    static final List<String> TIMEOUT_KEYS = ['time', 'unit', 'activity']

    /**
     * Jenkins' `timeout`, as TimeoutStep/TimeoutStepExecution have it (jenkinsci/workflow-basic-steps-plugin,
     * src/main/java/org/jenkinsci/plugins/workflow/steps/TimeoutStep.java and TimeoutStepExecution.java):
     * `time` in `unit` (default MINUTES) from the moment the block starts; when it runs out the body
     * is cancelled with a FlowInterruptedException (ExceededTimeout, result ABORTED), whatever step
     * is running, an `input` included. Blocks nest: every enclosing timeout keeps counting.
     * `activity: true` (idle time only) is not emulated.
     */
    Object timeout(Map args, Closure body) {
        args.keySet().each { Object k ->
            if (!(k.toString() in TIMEOUT_KEYS)) {
                throw new StubError("stub: unknown timeout argument '${k}'; allowed: ${TIMEOUT_KEYS.join(', ')}")
            }
        }
        if (args.activity) {
            throw new StubError('stub: timeout(activity: true) is not emulated')
        }
        if (!(args.time instanceof Integer) || (args.time as int) < 1) {
            throw new StubError("stub: timeout time must be a positive integer, not '${args.time}'")
        }
        long minutes = java.util.concurrent.TimeUnit.valueOf((args.unit ?: 'MINUTES').toString())
            .toMinutes(args.time as long)
        Map deadline = [minutes: minutes, deadline: ctx.clock + minutes]
        ctx.record(kind: 'timeout', minutes: minutes)
        ctx.deadlines << deadline
        try {
            return body.call()
        } finally {
            ctx.deadlines.removeAll { it.is(deadline) }
        }
    }

    Object timeout(Integer minutes, Closure body) { timeout([time: minutes], body) }

    /** Let `minutes` pass; the earliest enclosing timeout that runs out first cancels what runs. */
    protected void elapse(long minutes) {
        long until = ctx.clock + minutes
        Map first = ctx.deadlines.min { it.deadline as long }
        if (first != null && (first.deadline as long) < until) {
            ctx.clock = first.deadline as long
            ctx.record(kind: 'timed-out', minutes: first.minutes, clock: ctx.clock)
            throw StubFailure.interruption('ABORTED', 'ExceededTimeout', "Timeout has been exceeded (${first.minutes} minutes)")
        }
        ctx.clock = until
    }

    static final List<String> INPUT_KEYS = ['message', 'id', 'ok', 'submitter', 'submitterParameter', 'parameters']

    /**
     * Jenkins' `input` (jenkinsci/pipeline-input-step-plugin,
     * src/main/java/org/jenkinsci/plugins/workflow/support/steps/input/InputStepExecution.java): it
     * waits without a time limit of its own, holding no executor; only an enclosing `timeout` ends
     * the wait (it cancels the step). Proceeding returns; "Abort" fails the step with a
     * FlowInterruptedException (Rejection, result ABORTED). The stub answers after
     * STUB_APPROVAL_MINUTES (default 0) with STUB_APPROVAL ('proceed', default, or 'abort'); the
     * recorded event lists the enclosing time limits (`timeouts`, minutes, outermost first).
     */
    Object input(Map args) {
        args.keySet().each { Object k ->
            if (!(k.toString() in INPUT_KEYS)) {
                throw new StubError("stub: unknown input argument '${k}'; allowed: ${INPUT_KEYS.join(', ')}")
            }
        }
        ctx.record(kind: 'input', message: args.message, ok: args.ok, submitter: args.submitter,
            timeouts: ctx.deadlines.collect { it.minutes }, locks: ctx.locks.clone())
        elapse((ctx.env.map().get('STUB_APPROVAL_MINUTES') ?: '0') as long)
        if (ctx.env.map().get('STUB_APPROVAL') == 'abort') {
            throw StubFailure.interruption('ABORTED', 'Rejection', "Rejected by the approver: ${args.message}")
        }
        ctx.record(kind: 'approved', message: args.message, clock: ctx.clock)
        return null
    }

    Object input(String message) { input([message: message]) }

    // ---- lock (lockable-resources) --------------------------------------------------------
    static final List<String> LOCK_KEYS = ['resource', 'label', 'reason', 'quantity', 'variable',
        'inversePrecedence', 'resourceSelectStrategy', 'skipIfLocked', 'serverId', 'extra', 'priority',
        'timeoutForAllocateResource', 'timeoutUnit']

    /**
     * Lockable Resources' `lock` (jenkinsci/lockable-resources-plugin,
     * src/main/java/org/jenkins/plugins/lockableresources/LockStep.java and LockStepExecution.java):
     * the body runs once the resource (name trimmed; created on first use as an ephemeral resource)
     * is free, and the lock is released when the body ends, however it ends. Waiting holds no
     * executor unless the lock is taken inside `node`. Requests queue in order (no priority used).
     * The stub holds locks for one build: another build's lock is simulated as free after
     * STUB_LOCK_MINUTES (default 0), which count against enclosing timeouts. Only `resource` locks.
     */
    Object lock(Object arg, Closure body) {
        Map args = arg instanceof Map ? arg as Map : [resource: arg]
        args.keySet().each { Object k ->
            if (!(k.toString() in LOCK_KEYS)) {
                throw new StubError("stub: unknown lock argument '${k}'; allowed: ${LOCK_KEYS.join(', ')}")
            }
        }
        if (!args.resource || args.label || args.extra) {
            throw new StubError('stub: only lock(resource: NAME) is emulated')
        }
        String resource = args.resource.toString().trim()
        elapse((ctx.env.map().get('STUB_LOCK_MINUTES') ?: '0') as long)
        ctx.record(kind: 'lock', resource: resource)
        ctx.locks << resource
        try {
            return body.call()
        } finally {
            ctx.locks.remove(ctx.locks.size() - 1)
            ctx.record(kind: 'unlock', resource: resource)
        }
    }

    // ---- milestone (pipeline-milestone-step) ----------------------------------------------
    static final List<String> MILESTONE_KEYS = ['ordinal', 'label', 'unsafe']

    /**
     * `milestone`, as MilestoneStepExecution has it (jenkinsci/pipeline-milestone-step-plugin,
     * src/main/java/org/jenkinsci/plugins/pipeline/milestone/MilestoneStepExecution.java):
     * getNextOrdinal: an explicit ordinal must be greater than the build's previous one, else the
     * step fails ("Invalid ordinal N, as the previous one was M": passing it again, e.g. in a
     * retried block, fails); without one it is the previous + 1 (0 first). getBuildsToCancel: a
     * build passing ordinal N cancels every older build of the same job whose last milestone is
     * below N (or none), and is itself cancelled (CancelledCause, an interruption) when a newer
     * build already passed N or more. The stub evaluates one build: STUB_NEWER_MILESTONE=<N> says
     * a newer build of this job has passed milestone N; the older builds this one would cancel are
     * not there to see (buildsToCancel below is upstream's rule, tested on its own).
     */
    Object milestone(Object arg) {
        Map args = arg instanceof Map ? arg as Map : [ordinal: arg]
        args.keySet().each { Object k ->
            if (!(k.toString() in MILESTONE_KEYS)) {
                throw new StubError("stub: unknown milestone argument '${k}'; allowed: ${MILESTONE_KEYS.join(', ')}")
            }
        }
        Integer previous = ctx.milestone
        int ordinal
        if (args.ordinal != null) {
            ordinal = args.ordinal as int
            if (previous != null && previous >= ordinal) {
                throw StubFailure.step("Invalid ordinal ${ordinal}, as the previous one was ${previous}")
            }
        } else {
            ordinal = previous == null ? 0 : previous + 1
        }
        ctx.milestone = ordinal
        ctx.record(kind: 'milestone', ordinal: ordinal, label: args.label, locks: ctx.locks.clone())
        String newer = ctx.env.map().get('STUB_NEWER_MILESTONE')
        if (newer != null && (newer as int) >= ordinal) {
            throw StubFailure.interruption('NOT_BUILT', 'CancelledCause', "Superseded by a newer build that passed milestone ${newer}")
        }
        return null
    }

    Object milestone() { milestone([:]) }

    /**
     * MilestoneStepExecution.getBuildsToCancel: `milestones` maps running builds of one job to the
     * last ordinal each passed (null: none yet); `build` passes `ordinal`. The result maps each
     * build to cancel to the build that cancels it.
     */
    static Map<Integer, Integer> buildsToCancel(int build, Integer ordinal, Map<Integer, Integer> milestones) {
        Map<Integer, Integer> out = [:]
        milestones.each { Integer other, Integer passed ->
            if (other < build) {
                if (passed == null || (ordinal != null && passed < ordinal)) {
                    out[other] = build
                }
            } else if (other > build && passed != null && (ordinal == null || passed >= ordinal)) {
                out[build] = other
            }
        }
        return out
    }

    Object timestamps(Closure body) { body.call() }

    Object dir(String path, Closure body) { body.call() }

    Object script(Closure body) { body.call() }

    Object stage(Object name, Closure body) {
        String saved = ctx.stage
        ctx.stage = name.toString()
        ctx.record(kind: 'stage', name: name)
        try {
            return body.call()
        } finally {
            ctx.stage = saved
        }
    }

    String libraryResource(String path) {
        File f = new File(ctx.libDir, "resources/${path}")
        if (!f.isFile()) {
            throw new StubError("libraryResource: no resource ${path}")
        }
        return f.getText('UTF-8')
    }

    boolean isUnix() { true }

    // ---- declarative ----------------------------------------------------------------------
    static final List<String> PIPELINE_DIRECTIVES = ['agent', 'options', 'triggers', 'environment', 'stages',
        'post', 'parameters', 'tools', 'libraries']
    static final List<String> STAGE_OPTIONS = ['timeout', 'retry', 'lock', 'skipDefaultCheckout', 'timestamps',
        'quietPeriod', 'checkoutToSubdirectory', 'disableConcurrentBuilds', 'preserveStashes']
    /** Options that are block steps: declarative runs them around what they wrap ("wrappers"). */
    static final List<String> WRAPPER_OPTIONS = ['timeout', 'retry', 'lock', 'timestamps']
    static final List<String> STAGE_DIRECTIVES = ['agent', 'when', 'input', 'options', 'environment', 'steps',
        'post', 'stages', 'parallel', 'tools', 'matrix', 'failFast']

    /**
     * `pipeline { }` as ModelInterpreter.call runs it (jenkinsci/pipeline-model-definition-plugin,
     * pipeline-model-definition/src/main/resources/org/jenkinsci/plugins/pipeline/modeldefinition/ModelInterpreter.groovy):
     * the pipeline's wrapper options (a `timeout`, ...) wrap every stage and the post section, so a
     * pipeline-level timeout counts every stage's time, approvals included. A stage that fails sets
     * the first error; every later stage is skipped for it (evaluateSequentialStages), the post
     * section runs, then the error ends the build.
     */
    void pipeline(Closure body) {
        DeclNode root = DeclBuilder.build('pipeline', body, this)
        directives('pipeline', root, PIPELINE_DIRECTIVES)
        ctx.record(kind: 'agent', agent: agentOf(root))
        List<DeclNode> options = root.child('options')?.children ?: []
        options.each { ctx.record(kind: 'option', name: it.name, args: it.args) }
        root.child('triggers')?.children?.each { ctx.record(kind: 'trigger', name: it.name, args: it.args) }
        applyEnvironment(root.child('environment'))
        inWrappers(options.findAll { it.name in WRAPPER_OPTIONS }) {
            Throwable firstError = null
            root.child('stages')?.children?.each { DeclNode st ->
                if (firstError != null) {
                    skipForFailure(st)
                    return
                }
                try {
                    runStage(st)
                } catch (Throwable e) {
                    if (!StubFailure.isFailure(e)) {
                        throw e
                    }
                    firstError = e
                    ctx.record(kind: 'stage-failed', name: st.arg(), message: e.message, cause: StubFailure.kindOf(e))
                }
            }
            runPost(root.child('post'))
            if (firstError != null) {
                throw firstError
            }
        }
    }

    protected void skipForFailure(DeclNode st) {
        String saved = ctx.stage
        ctx.stage = st.arg().toString()
        ctx.record(kind: 'skip', reason: 'earlier failure')
        ctx.stage = saved
    }

    /** ModelInterpreter.recursiveWrappers: each wrapper option, in declaration order, around the next. */
    protected Object inWrappers(List<DeclNode> wrappers, Closure body) {
        if (wrappers.isEmpty()) {
            return body.call()
        }
        DeclNode first = wrappers[0]
        Closure rest = { inWrappers(wrappers.drop(1), body) }
        return invokeMethod(first.name, (first.args + [rest]) as Object[])
    }

    protected void applyEnvironment(DeclNode environment) {
        environment?.props?.each { k, v -> ctx.env.map().put(k, v?.toString()) }
    }

    protected Object agentOf(DeclNode holder) {
        DeclNode agent = holder.child('agent')
        if (agent == null) {
            return null
        }
        if (agent.args) {
            return agent.args[0].toString()
        }
        Map out = [:]
        agent.children.each { DeclNode kind ->
            Map settings = [:]
            kind.children.each { settings[it.name] = it.arg()?.toString() }
            if (kind.args) {
                settings.value = kind.arg().toString()
            }
            out[kind.name] = settings
        }
        return out
    }

    protected void directives(String where, DeclNode holder, List<String> allowed) {
        holder.children.each { DeclNode d ->
            if (!(d.name in allowed)) {
                throw new StubError("stub: '${d.name}' is not a directive of ${where}")
            }
        }
    }

    /**
     * One stage, in ModelInterpreter.evaluateStage's order: `when` if `beforeOptions` -> the stage's
     * wrapper options (declaration order: the first wraps the rest) -> `when` if `beforeInput` ->
     * `input` (stageInput) -> `when` if `beforeAgent` -> the agent -> `when` otherwise -> steps or
     * nested stages -> post. `when` is evaluated once (WhenEvaluator). So a stage timeout counts the
     * stage's input wait, and a lock option is held through its input. Unlike upstream, the stub sets
     * the stage's `environment` first, so that every event of the stage names its job (LEPTON_JOB).
     */
    protected void runStage(DeclNode st) {
        String name = st.arg().toString()
        directives("stage '${name}'", st, STAGE_DIRECTIVES)
        String savedStage = ctx.stage
        Map<String, String> savedEnv = new LinkedHashMap<>(ctx.env.map())
        ctx.stage = name
        try {
            applyEnvironment(st.child('environment'))
            DeclNode when = st.child('when')
            List<String> early = (when?.children ?: []).findAll { it.name.startsWith('before') && it.arg() }*.name
            Boolean passed = when == null ? true : null
            Closure<Boolean> whenPassed = { ->
                if (passed == null) {
                    passed = condition(when)
                }
                return passed
            }
            List<DeclNode> options = st.child('options')?.children ?: []
            options.each { DeclNode o ->
                if (!(o.name in STAGE_OPTIONS)) {
                    throw new StubError("stub: '${o.name}' is not an option of stage '${name}'")
                }
            }
            if (!('beforeOptions' in early) || whenPassed()) {
                options.findAll { !(it.name in WRAPPER_OPTIONS) }.each {
                    ctx.record(kind: 'option', name: it.name, args: it.args)
                }
                inWrappers(options.findAll { it.name in WRAPPER_OPTIONS }) {
                    if ('beforeInput' in early && !whenPassed()) {
                        return
                    }
                    stageInput(st.child('input'))
                    if ('beforeAgent' in early && !whenPassed()) {
                        return
                    }
                    ctx.record(kind: 'stage', name: name, agent: agentOf(st))
                    if (!whenPassed()) {
                        return
                    }
                    DeclNode nested = st.child('stages')
                    if (nested != null) {
                        nested.children.each { runStage(it) }
                    } else {
                        runBody(st.child('steps'))
                    }
                    runPost(st.child('post'))
                }
            }
            if (!passed) {
                ctx.record(kind: 'skip')
            }
        } finally {
            ctx.stage = savedStage
            ctx.env.replace(savedEnv)
        }
    }

    /** ModelInterpreter.stageInput: the stage's `input` directive is the `input` step with its fields. */
    protected void stageInput(DeclNode directive) {
        if (directive == null) {
            return
        }
        Map fields = [:]
        directive.children.each { DeclNode field ->
            if (field.name == 'parameters') {
                throw new StubError('stub: input parameters are not emulated')
            }
            fields[field.name] = field.arg()?.toString()
        }
        this.input(fields)
    }

    protected void runPost(DeclNode post) {
        // the stub simulates successful builds: always/success run, failure/unstable do not
        post?.children?.findAll { it.name in ['always', 'success', 'cleanup'] }?.each { runBody(it) }
    }

    protected Object runBody(DeclNode holder) {
        if (holder?.body == null) {
            return null
        }
        Closure c = holder.body.rehydrate(this, this, this)
        c.resolveStrategy = Closure.DELEGATE_FIRST
        return c.call()
    }

    /**
     * A `when` condition, as the ConditionalScript of each (jenkinsci/pipeline-model-definition-plugin,
     * pipeline-model-definition/src/main/resources/org/jenkinsci/plugins/pipeline/modeldefinition/when/impl/,
     * at 42c9dc3e) evaluates it. The conditions listed in `when` must all hold (AllOfConditionalScript:
     * `every`); `anyOf` needs one (`any`), `not` negates its one child; `beforeAgent`, `beforeInput`
     * and `beforeOptions` are no conditions but say when `when` is evaluated (runStage).
     */
    protected boolean condition(DeclNode n) {
        switch (n.name) {
            case 'when':
            case 'allOf':
                return n.children.findAll { !it.name.startsWith('before') }.every { condition(it) }
            case 'anyOf':
                return n.children.any { condition(it) }
            case 'not':
                return !condition(n.children[0])
            case 'branch':
                return branchMatches(n)
            case 'changeRequest':
                // ChangeRequestConditional.matches: a build whose environment has CHANGE_ID (a
                // multibranch change-request build); its filters (id:, target:, ...) are not emulated
                if (n.args.any { it instanceof Map ? !(it as Map).isEmpty() : true }) {
                    throw new StubError('stub: changeRequest filters are not emulated')
                }
                return ctx.env.map().get('CHANGE_ID') != null
            case 'triggeredBy':
                return causedBy(n)
            case 'buildingTag':
            case 'tag':
                return tagMatches(n)
            case 'environment':
                return environmentMatches(n.arg() as Map)
            case 'expression':
                // ExpressionConditionalScript: the closure's Groovy truth (`retVal ? true : false`):
                // the string 'false' is true, an empty string or null false
                return runBody(n) as boolean
            default:
                throw new StubError("stub: unsupported when condition '${n.name}'")
        }
    }

    /** A condition's `[pattern: ..., comparator: ...]`, from `tag 'v*'` or named arguments. */
    protected static Map patternArgs(DeclNode n) {
        Object arg = n.arg()
        return arg instanceof Map ? arg as Map : [pattern: arg]
    }

    /**
     * BranchConditionalScript: env.BRANCH_NAME, else env.GIT_LOCAL_BRANCH (which the git plugin sets
     * only with its "check out to matching local branch" option; a plain Pipeline job has neither by
     * default: nothing matches there). BranchConditional.branchMatches: no branch and no pattern
     * match, either alone does not; else the comparator, GLOB by default: Ant-style and
     * case-insensitive (StubMatch), so `branch 'main'` also matches a branch named MAIN.
     */
    protected boolean branchMatches(DeclNode n) {
        Map args = patternArgs(n)
        String pattern = args.pattern?.toString()
        String name = ctx.env.map().get('BRANCH_NAME') ?: ctx.env.map().get('GIT_LOCAL_BRANCH')
        if (!name || !pattern) {
            return !name && !pattern
        }
        return StubMatch.compare(StubMatch.comparator(args.comparator, 'GLOB'), pattern, name)
    }

    /**
     * TagConditionalScript and TagConditional.tagMatches: false unless env.TAG_NAME is set (a tag
     * build); true for any tag without a pattern (`buildingTag()` is `tag` without one:
     * BuildingTagConditional); else the comparator, GLOB by default (Ant-style, case-insensitive).
     */
    protected boolean tagMatches(DeclNode n) {
        String tag = ctx.env.map().get('TAG_NAME')
        Map args = n.name == 'buildingTag' ? [:] : patternArgs(n)
        String pattern = args.pattern?.toString()
        if (!tag) {
            return false
        }
        if (!pattern) {
            return true
        }
        return StubMatch.compare(StubMatch.comparator(args.comparator, 'GLOB'), pattern, tag)
    }

    /**
     * EnvironmentConditional.environmentMatches: `environment name: N, value: V` holds when env.N
     * equals V (`ignoreCase: true`: in any case); an unset or empty N matches only an empty V.
     */
    protected boolean environmentMatches(Map args) {
        String actual = ctx.env.map().get(args.name.toString())
        String value = args.value?.toString()
        if (!actual) {
            return !value
        }
        return args.ignoreCase ? actual.equalsIgnoreCase(value) : actual == value
    }

    /**
     * TriggeredByConditionalScript -> Utils.isRunCausedBy/shouldRunBeAllowed
     * (pipeline-model-definition/src/main/groovy/org/jenkinsci/plugins/pipeline/modeldefinition/Utils.groovy):
     * true when one of the build's causes has a class whose simple name matches
     * `(?i)\.*CAUSE.*`: it starts with CAUSE in any case ('TimerTrigger' matches
     * hudson.triggers.TimerTrigger$TimerTriggerCause, 'timer' does too, 'Trigger' does not);
     * `triggeredBy cause: 'UserIdCause', detail: 'alice'` also needs that user. The stub's causes are
     * the run's (extract.py's causes(): the controller decides which a real build gets).
     */
    protected boolean causedBy(DeclNode n) {
        Object arg = n.arg()
        Map args = arg instanceof Map ? arg as Map : [cause: arg]
        String cause = args.cause.toString()
        return ctx.causes.any { String c ->
            String simple = c.split(':')[0]
            if (simple == 'UserIdCause' && cause == 'UserIdCause') {
                return args.detail == null || c == "UserIdCause:${args.detail}".toString()
            }
            return simple.matches("(?i)\\.*${cause}.*")
        }
    }

    def propertyMissing(String name) {
        if (name == '_') {
            return null
        }
        throw new MissingPropertyException(name, getClass())
    }
}
