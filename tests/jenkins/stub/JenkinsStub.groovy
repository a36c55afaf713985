/**
 * Base class of every script the stub evaluates (the Jenkinsfile and the library's vars).
 * Declarative `pipeline { }` is recorded by DeclBuilder and then interpreted: `when` is
 * evaluated for the requested branch/trigger, steps run, and every step is recorded.
 * Unknown steps fail (MissingMethodException), so a typo in a generated file is caught.
 */
abstract class JenkinsStub extends Script {

    StubContext getCtx() { StubContext.current }

    StubEnv getEnv() { ctx.env }

    /** The build result so far; a test simulates an earlier failure with STUB_RESULT=FAILURE. */
    Map getCurrentBuild() {
        String result = ctx.env.map().get('STUB_RESULT') ?: 'SUCCESS'
        return [currentResult: result, result: result == 'SUCCESS' ? null : result, number: 1]
    }

    String getScm() { 'scm' }

    Map getParams() { [:] }

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
            path: ctx.env.map().get('PATH'), env: lepton)
        agentLost()
        String failing = ctx.env.map().get('STUB_FAIL_SH')
        if (failing && script.contains(failing)) {
            throw new StubFailure('step', "script returned exit code 1: ${script}")
        }
    }

    void echo(Object message) { ctx.record(kind: 'echo', message: message) }

    void error(Object message) { throw new StubError(message.toString()) }

    Object withEnv(List<String> pairs, Closure body) {
        Map<String, String> saved = new LinkedHashMap<>(ctx.env.map())
        pairs.each { String pair ->
            int eq = pair.indexOf('=')
            String key = pair.substring(0, eq)
            String value = pair.substring(eq + 1)
            if (key.startsWith('PATH+')) {
                String old = ctx.env.map().get('PATH')
                ctx.env.map().put('PATH', old ? "${value}:${old}".toString() : value)
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

    Map usernamePassword(Map args) { [kind: 'username_password'] + args }

    Map file(Map args) { [kind: 'file'] + args }

    Map string(Map args) { [kind: 'string'] + args }

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

    void stash(Map args) { ctx.record(kind: 'stash', name: args.name, includes: args.includes) }

    void unstash(Object arg) { ctx.record(kind: 'unstash', name: arg instanceof Map ? arg.name : arg) }

    void archiveArtifacts(Object arg) {
        ctx.record(kind: 'archiveArtifacts', artifacts: arg instanceof Map ? arg.artifacts : arg)
    }

    void junit(Object arg) { ctx.record(kind: 'junit', testResults: arg instanceof Map ? arg.testResults : arg) }

    static final List<String> CATCH_ERROR_KEYS = ['message', 'buildResult', 'stageResult', 'catchInterruptions']
    /** Simulated failures that Jenkins raises as a FlowInterruptedException (an actual interruption). */
    static final List<String> INTERRUPTIONS = ['agent', 'nonresumable']

    /**
     * Jenkins' `catchError`, as `CatchErrorStep.Execution.Callback.onFailure` has it
     * (jenkinsci/workflow-basic-steps-plugin, src/main/java/org/jenkinsci/plugins/workflow/steps/CatchErrorStep.java):
     * it catches every Throwable of its body, a lost agent included (ExecutorStepExecution cancels
     * the `node` body with a FlowInterruptedException carrying RemovedNodeCause,
     * jenkinsci/workflow-durable-task-step, src/main/java/org/jenkinsci/plugins/workflow/support/steps/ExecutorStepExecution.java),
     * unless `catchInterruptions: false` and the failure is an actual interruption: then it rethrows.
     * A caught interruption sets the interruption's own result (ABORTED), not `buildResult`.
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
        } catch (StubFailure e) {
            boolean interruption = e.kind in INTERRUPTIONS
            if (interruption && !catchInterruptions) {
                throw e
            }
            String buildResult = interruption ? 'ABORTED' : (args.buildResult ?: 'FAILURE')
            String stageResult = interruption ? 'ABORTED' : (args.stageResult ?: 'SUCCESS')
            ctx.record(kind: 'caught', message: e.message, buildResult: buildResult, stageResult: stageResult)
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
     * Jenkins' `retry`: up to `count` attempts. Without conditions every failure is retried;
     * with conditions only the failures they name (a lost agent, a build that cannot resume).
     */
    Object retry(Object arg, Closure body) {
        Map args = retryArgs(arg)
        ctx.record(kind: 'retry', count: args.count, conditions: args.conditions)
        for (int attempt = 1; ; attempt++) {
            try {
                return body.call()
            } catch (StubError e) {
                boolean matches = args.conditions.isEmpty() || (e instanceof StubFailure &&
                    args.conditions.any { RETRIED_CAUSE[it] == ((StubFailure) e).kind })
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
            throw new StubFailure('agent', "Agent went away while running ${job}")
        }
    }

    void checkout(Object scm) { ctx.record(kind: 'checkout') }

    Object node(Object label, Closure body) {
        ctx.record(kind: 'node', label: label)
        return body.call()
    }

    Object node(Closure body) { node(null, body) }

    Object input(Map args) {
        ctx.record(kind: 'input', message: args.message, ok: args.ok, submitter: args.submitter)
        return null
    }

    Object timeout(Map args, Closure body) { body.call() }

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
    static final List<String> STAGE_OPTIONS = ['timeout', 'retry', 'skipDefaultCheckout', 'timestamps',
        'quietPeriod', 'checkoutToSubdirectory', 'disableConcurrentBuilds', 'preserveStashes']
    static final List<String> STAGE_DIRECTIVES = ['agent', 'when', 'input', 'options', 'environment', 'steps',
        'post', 'stages', 'parallel', 'tools', 'matrix', 'failFast']

    void pipeline(Closure body) {
        DeclNode root = DeclBuilder.build('pipeline', body, this)
        directives('pipeline', root, PIPELINE_DIRECTIVES)
        ctx.record(kind: 'agent', agent: agentOf(root))
        root.child('options')?.children?.each { ctx.record(kind: 'option', name: it.name, args: it.args) }
        root.child('triggers')?.children?.each { ctx.record(kind: 'trigger', name: it.name, args: it.args) }
        applyEnvironment(root.child('environment'))
        root.child('stages')?.children?.each { runStage(it) }
        runPost(root.child('post'))
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

    protected void runStage(DeclNode st) {
        String name = st.arg().toString()
        directives("stage '${name}'", st, STAGE_DIRECTIVES)
        String savedStage = ctx.stage
        Map<String, String> savedEnv = new LinkedHashMap<>(ctx.env.map())
        ctx.stage = name
        try {
            applyEnvironment(st.child('environment'))
            DeclNode when = st.child('when')
            if (when != null && !condition(when)) {
                ctx.record(kind: 'skip')
                return
            }
            DeclNode input = st.child('input')
            if (input != null) {
                Map fields = [:]
                input.children.each { fields[it.name] = it.arg()?.toString() }
                ctx.record(kind: 'input', message: fields.message, ok: fields.ok, submitter: fields.submitter)
            }
            List<DeclNode> options = st.child('options')?.children ?: []
            options.each { DeclNode o ->
                if (!(o.name in STAGE_OPTIONS)) {
                    throw new StubError("stub: '${o.name}' is not an option of stage '${name}'")
                }
            }
            Closure attempt = {
                ctx.record(kind: 'stage', name: name, agent: agentOf(st))
                options.findAll { it.name != 'retry' }.each { ctx.record(kind: 'option', name: it.name, args: it.args) }
                DeclNode nested = st.child('stages')
                if (nested != null) {
                    nested.children.each { runStage(it) }
                } else {
                    runBody(st.child('steps'))
                }
                runPost(st.child('post'))
            }
            // a stage option wraps the agent: a retry takes a fresh agent for every attempt
            DeclNode retryOption = options.find { it.name == 'retry' }
            if (retryOption != null) {
                retry(retryOption.arg(), attempt)
            } else {
                attempt.call()
            }
        } finally {
            ctx.stage = savedStage
            ctx.env.replace(savedEnv)
        }
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
                return glob(n.arg().toString(), ctx.env.map().get('BRANCH_NAME'))
            case 'changeRequest':
                return ctx.trigger == 'merge_request'
            case 'triggeredBy':
                return n.arg().toString() == 'TimerTrigger' && ctx.trigger == 'schedule'
            case 'buildingTag':
                return ctx.env.map().get('TAG_NAME') != null
            case 'tag':
                return tagMatches(n)
            case 'environment':
                Map a = n.arg() as Map
                return ctx.env.map().get(a.name.toString()) == a.value.toString()
            case 'expression':
                return runBody(n) as boolean
            default:
                throw new StubError("stub: unsupported when condition '${n.name}'")
        }
    }

    /**
     * `tag 'v*'` or `tag pattern: '...', comparator: 'GLOB'|'REGEXP'|'EQUALS'`, as Jenkins'
     * TagCondition: false outside tag builds; GLOB is Ant's (case-insensitive, `*` stops at `/`),
     * REGEXP is String.matches (the whole name), EQUALS is exact.
     */
    protected boolean tagMatches(DeclNode n) {
        String tag = ctx.env.map().get('TAG_NAME')
        Object arg = n.arg()
        Map args = arg instanceof Map ? arg as Map : [pattern: arg]
        String pattern = args.pattern?.toString()
        String comparator = (args.comparator ?: 'GLOB').toString()
        if (tag == null) {
            return false
        }
        if (!pattern) {
            return true
        }
        switch (comparator) {
            case 'GLOB':
                String regex = pattern.collect { String ch ->
                    ch == '*' ? '[^/]*' : ch == '?' ? '[^/]' : java.util.regex.Pattern.quote(ch)
                }.join('')
                return java.util.regex.Pattern.compile(regex, java.util.regex.Pattern.CASE_INSENSITIVE)
                    .matcher(tag).matches()
            case 'REGEXP':
                return tag.matches(pattern)
            case 'EQUALS':
                return tag == pattern
            default:
                throw new StubError("stub: unknown tag comparator '${comparator}'")
        }
    }

    protected static boolean glob(String pattern, String value) {
        if (value == null) {
            return false
        }
        String regex = pattern.collect { String ch ->
            ch == '*' ? '.*' : ch == '?' ? '.' : java.util.regex.Pattern.quote(ch)
        }.join('')
        return value ==~ regex
    }

    def propertyMissing(String name) {
        if (name == '_') {
            return null
        }
        throw new MissingPropertyException(name, getClass())
    }
}
