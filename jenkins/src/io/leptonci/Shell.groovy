package io.leptonci

import com.cloudbees.groovy.cps.NonCPS

/**
 * POSIX shell quoting, identical to Python's shlex.quote/shlex.join, so the lines the library
 * runs are byte for byte the lines of lepton-ci's pipeline model.
 */
class Shell implements Serializable {

    private static final long serialVersionUID = 1L

    /** One shell word: left alone when it only has safe characters, else single-quoted. */
    @NonCPS
    static String quote(String word) {
        if (word == null || word.isEmpty()) {
            return "''"
        }
        if (word ==~ /[A-Za-z0-9_@%+=:,.\/-]+/) {
            return word
        }
        return "'" + word.replace("'", "'\"'\"'") + "'"
    }

    /** A command line from argv. */
    @NonCPS
    static String join(List<String> argv) {
        return argv.collect { String word -> quote(word) }.join(' ')
    }

}
