package io.leptonci

import com.cloudbees.groovy.cps.NonCPS

/**
 * Which credentials a step binds, and to which environment variables. Secrets only ever reach
 * the lepton-ci process through these variables: never argv, never Groovy strings, never logs.
 */
class LeptonCredentials implements Serializable {

    private static final long serialVersionUID = 1L

    @NonCPS
    static List<Map> registry(String id) {
        return id ? [[kind: 'username_password', id: id,
                      variables: ['LEPTON_REGISTRY_USER', 'LEPTON_REGISTRY_PASSWORD']]] : []
    }

    @NonCPS
    static List<Map> pushgateway(String id) {
        return id ? [[kind: 'username_password', id: id,
                      variables: ['LEPTON_PUSHGATEWAY_USER', 'LEPTON_PUSHGATEWAY_PASSWORD']]] : []
    }

    @NonCPS
    static List<Map> kubeconfig(String id) {
        return id ? [[kind: 'file', id: id, variables: ['KUBECONFIG']]] : []
    }

    /** A deploy binds the kubeconfig (kubernetes) or the registry login (docker); local needs none. */
    @NonCPS
    static List<Map> deploy(String target, String registryId, String kubeconfigId) {
        if (target == 'kubernetes') {
            return kubeconfig(kubeconfigId)
        }
        return target == 'docker' ? registry(registryId) : []
    }

}
