/*
 * Evaluate a Jenkinsfile with the stub DSL, once per requested run, and write what each recorded.
 * Usage: run JENKINSFILE OUT_JSON LIBRARY_DIR|'' RUNS_JSON
 * RUNS_JSON: a file holding [{"env": {...}, "trigger": "push"|"merge_request"|"schedule"|"tag",
 *            "causes": [simple class names], "params": {name: typed value}}, ...]
 * OUT_JSON:  [{"events": [...], "error": null|"message"}, ...] in the same order.
 */
import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.runtime.InvokerHelper

String jenkinsfile = args[0]
File out = new File(args[1])
String libDir = args[2]
List runs = new JsonSlurper().parse(new File(args[3])) as List

CompilerConfiguration cc = new CompilerConfiguration()
cc.scriptBaseClass = 'JenkinsStub'
if (libDir) {
    cc.classpathList = [new File(libDir, 'src').path]
}
GroovyShell shell = new GroovyShell(this.class.classLoader, new Binding(), cc)
Class compiled = shell.parse(new File(jenkinsfile).getText('UTF-8'), 'Jenkinsfile').getClass()

List results = []
for (Map run in runs) {
    StubContext ctx = new StubContext(libDir: libDir ? new File(libDir) : null, trigger: run.trigger, shell: shell,
        causes: (run.causes ?: []) as List<String>, params: (run.params ?: [:]) as Map)
    (run.env as Map).each { k, v -> ctx.env.map().put(k.toString(), v?.toString()) }
    StubContext.current = ctx
    Map result = [events: ctx.events, error: null]
    try {
        InvokerHelper.createScript(compiled, new Binding()).run()
    } catch (Throwable e) {
        if (!(e instanceof StubError) && !StubFailure.isFailure(e)) {
            throw e
        }
        result.error = e.message
    }
    results << result
}
out.setText(JsonOutput.toJson(results), 'UTF-8')
