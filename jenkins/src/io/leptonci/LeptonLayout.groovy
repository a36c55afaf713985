package io.leptonci

import com.cloudbees.groovy.cps.NonCPS

/** The run directory layout (resources/io/leptonci/layout.properties): where each step writes. */
class LeptonLayout implements Serializable {

    static final String RESOURCE = 'io/leptonci/layout.properties'
    private static final long serialVersionUID = 1L

    /** Read the layout through the pipeline's libraryResource step. */
    static Map<String, String> load(Object script) {
        return parse(script.libraryResource(RESOURCE) as String)
    }

    @NonCPS
    static Map<String, String> parse(String text) {
        Map<String, String> paths = [:]
        text.readLines().each { String line ->
            String trimmed = line.trim()
            if (trimmed && !trimmed.startsWith('#')) {
                int eq = trimmed.indexOf('=')
                paths[trimmed.substring(0, eq).trim()] = trimmed.substring(eq + 1).trim()
            }
        }
        return paths
    }

}
