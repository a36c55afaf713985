import java.util.regex.Pattern

/**
 * How Jenkins compares names: declarative's `when` comparators and Ant's path patterns.
 *
 * `Comparator` (jenkinsci/pipeline-model-definition-plugin, pipeline-model-definition/src/main/java/
 * org/jenkinsci/plugins/pipeline/modeldefinition/when/utils/Comparator.java, at 42c9dc3e):
 * GLOB is Ant's `SelectorUtils.matchPath(pattern, actual, caseSensitive)`, and the two-argument
 * `compare` that BranchConditional and TagConditional call passes `caseSensitive` false; REGEXP is
 * `actual.matches(pattern)` (the whole name, case matters); EQUALS is `actual.equals(pattern)`.
 * A blank actual compares as "". `Comparator.get` finds a name ignoring case and falls back to
 * the default for an unknown one.
 */
class StubMatch {
    static final List<String> COMPARATORS = ['GLOB', 'REGEXP', 'EQUALS']

    /** Comparator.get(name, default): the comparator named (any case), else the default. */
    static String comparator(Object name, String fallback) {
        String wanted = name?.toString()
        return COMPARATORS.find { it.equalsIgnoreCase(wanted ?: '') } ?: fallback
    }

    /** Comparator.compare(pattern, actual) as BranchConditional and TagConditional call it. */
    static boolean compare(String comparator, String pattern, String actual) {
        String value = actual?.trim() ? actual : ''
        switch (comparator) {
            case 'GLOB':
                return antMatch(pattern, value, false)
            case 'REGEXP':
                return value.matches(pattern)
            case 'EQUALS':
                return value == pattern
            default:
                throw new StubError("stub: unknown comparator '${comparator}'")
        }
    }

    /**
     * Ant's SelectorUtils.matchPath (ant, src/main/org/apache/tools/ant/types/selectors/SelectorUtils.java):
     * both sides split at `/` (empty segments dropped), `**` matches any number of whole segments,
     * `*` any characters and `?` one character within a segment; an absolute pattern matches only
     * an absolute path and a relative one only a relative path.
     */
    static boolean antMatch(String pattern, String path, boolean caseSensitive) {
        if (pattern.startsWith('/') != path.startsWith('/')) {
            return false
        }
        return segments(segs(pattern), segs(path), caseSensitive)
    }

    private static List<String> segs(String s) { s.split('/').findAll { it } as List<String> }

    private static boolean segments(List<String> pat, List<String> str, boolean caseSensitive) {
        if (pat.isEmpty()) {
            return str.isEmpty()
        }
        if (pat[0] == '**') {
            return segments(pat.drop(1), str, caseSensitive) ||
                (!str.isEmpty() && segments(pat, str.drop(1), caseSensitive))
        }
        return !str.isEmpty() && segment(pat[0], str[0], caseSensitive) &&
            segments(pat.drop(1), str.drop(1), caseSensitive)
    }

    private static boolean segment(String pat, String s, boolean caseSensitive) {
        String regex = pat.collect { String ch -> ch == '*' ? '.*' : ch == '?' ? '.' : Pattern.quote(ch) }.join('')
        int flags = caseSensitive ? 0 : (Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE)
        return Pattern.compile(regex, flags).matcher(s).matches()
    }

    /**
     * Whether a stash's `includes` (Ant patterns, comma-separated; none: `**`) take any of `files`
     * (DirScanner.Glob in jenkins core: a pattern ending in `/` takes everything below it).
     */
    static boolean includesAny(Object includes, Collection<String> files) {
        List<String> patterns = ((includes ?: '**').toString().split(',') as List)*.trim().findAll { it }
            .collect { String p -> p.endsWith('/') ? p + '**' : p }
        return files.any { String f -> patterns.any { antMatch(it, f, true) } }
    }
}
