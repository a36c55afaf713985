/** `env`: a map of variables; an unknown variable reads as null, like in Jenkins. */
class StubEnv extends GroovyObjectSupport {
    private Map<String, String> values = [:]

    Map<String, String> map() { values }

    void replace(Map<String, String> saved) { values = saved }

    Object getProperty(String name) { values.get(name) }

    void setProperty(String name, Object value) { values.put(name, value == null ? null : value.toString()) }

    Object getAt(String name) { values.get(name) }
}
