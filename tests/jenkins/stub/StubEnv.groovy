/**
 * `env`, as EnvActionImpl has it (jenkinsci/workflow-cps-plugin,
 * plugin/src/main/java/org/jenkinsci/plugins/workflow/cps/EnvActionImpl.java): reading a variable
 * gives its String value, or null when it is not set; assigning stores `String.valueOf(value)`, so
 * `env.X = 5` reads back "5" and `env.X = null` the string "null" (nothing is ever removed).
 */
class StubEnv extends GroovyObjectSupport {
    private Map<String, String> values = [:]

    Map<String, String> map() { values }

    void replace(Map<String, String> saved) { values = saved }

    Object getProperty(String name) { values.get(name) }

    void setProperty(String name, Object value) { values.put(name, value == null ? 'null' : value.toString()) }

    Object getAt(String name) { values.get(name) }
}
