/** State shared by the Jenkinsfile and every library var it loads during one evaluation. */
class StubContext {
    static StubContext current
    /** Compiled library vars, shared by every run of one JVM (sources do not change meanwhile). */
    static Map<String, Class> classes = [:]

    StubEnv env = new StubEnv()
    List<Map> events = []
    File libDir
    GroovyShell shell
    String trigger = 'push'
    /** The build's causes, by class simple name (`UserIdCause:alice` for a user's), as triggeredBy reads them. */
    List<String> causes = []
    /** The build's parameters with their typed values (`params`). */
    Map<String, Object> params = [:]
    String stage
    List<String> credentials = []
    Map<String, Script> vars = [:]
    /** Jobs whose agent was already lost once (STUB_AGENT_LOST). */
    Set<String> lostAgents = [] as Set
    /** The build result set so far by catchError (null: none). */
    String buildResult = null
    /** Names stashed so far in this build. */
    Set<String> stashes = [] as Set
    /** The build's simulated clock, in minutes since it started (advanced by `input` and `sh`). */
    long clock = 0
    /** Enclosing `timeout` blocks, outermost first: [minutes: limit, deadline: clock value]. */
    List<Map> deadlines = []
    /** Lockable resources this build holds, outermost first. */
    List<String> locks = []
    /** The ordinal of the last milestone this build passed (null: none yet). */
    Integer milestone
    /** The build's description (currentBuild.description; null: none). */
    String description

    void record(Map event) {
        Map clean = [:]
        event.each { k, v -> clean[k.toString()] = plain(v) }
        clean.stage = stage
        clean.job = env.map().get('LEPTON_JOB')
        events << clean
    }

    static Object plain(Object v) {
        if (v == null || v instanceof Boolean || v instanceof Number) {
            return v
        }
        if (v instanceof Map) {
            Map out = [:]
            v.each { k, x -> out[k.toString()] = plain(x) }
            return out
        }
        if (v instanceof Collection || v instanceof Object[]) {
            return v.collect { plain(it) }
        }
        if (v instanceof DeclNode) {
            return [(v.name): plain(v.args)]
        }
        return v.toString()
    }
}
