/**
 * Records the structure of a declarative `pipeline { }` without running its steps.
 * Blocks whose content runs later (steps, expression, script, post conditions) are kept raw.
 */
class DeclBuilder {
    static final List<String> RAW = ['steps', 'expression', 'script', 'always', 'success', 'failure',
        'unstable', 'aborted', 'changed', 'fixed', 'regression', 'cleanup', 'unsuccessful', 'notBuilt']
    static final List<String> WORDS = ['any', 'none', 'SECONDS', 'MINUTES', 'HOURS', 'DAYS']

    DeclNode node
    Object script

    static DeclNode build(String name, Closure body, Object script) {
        DeclNode root = new DeclNode(name: name)
        new DeclBuilder(node: root, script: script).run(body)
        return root
    }

    void run(Closure body) {
        Closure c = body.rehydrate(this, body.owner, body.thisObject)
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c.call()
    }

    def methodMissing(String name, Object argsObj) {
        List args = (argsObj as Object[]).toList()
        DeclNode child = new DeclNode(name: name, args: args)
        // `retry(conditions: [agent()])`: `agent()` is an argument of retry, not a directive
        node.children.removeAll { DeclNode n -> argumentNodes(args).any { it.is(n) } }
        node.children << child
        if (args && args[-1] instanceof Closure) {
            Closure c = (Closure) args[-1]
            child.args = args.size() > 1 ? args[0..-2] : []
            if (name in RAW) {
                child.body = c
            } else {
                new DeclBuilder(node: child, script: script).run(c)
            }
        }
        return child
    }

    private static List<DeclNode> argumentNodes(Object arg) {
        if (arg instanceof DeclNode) {
            return [arg]
        }
        if (arg instanceof Map) {
            return arg.values().collectMany { argumentNodes(it) }
        }
        if (arg instanceof Collection) {
            return arg.collectMany { argumentNodes(it) }
        }
        return []
    }

    def propertyMissing(String name, Object value) { node.props[name] = value }

    def propertyMissing(String name) {
        if (name in WORDS) {
            return name
        }
        return script.getProperty(name)
    }
}
