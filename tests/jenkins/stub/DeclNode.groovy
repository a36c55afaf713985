/** One element of a declarative pipeline: name, arguments, children, `X = v` properties, raw body. */
class DeclNode {
    String name
    List args = []
    List<DeclNode> children = []
    Map<String, Object> props = [:]
    Closure body

    DeclNode child(String wanted) { children.find { it.name == wanted } }

    List<DeclNode> all(String wanted) { children.findAll { it.name == wanted } }

    Object arg() { args ? args[0] : null }
}
