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
        return id ? [[kind: 'username_password', id: id, variables: LeptonSteps.CREDENTIAL_VARIABLES.registry]] : []
    }

    @NonCPS
    static List<Map> pushgateway(String id) {
        return id ? [[kind: 'username_password', id: id,
                      variables: LeptonSteps.CREDENTIAL_VARIABLES.pushgateway]] : []
    }

    @NonCPS
    static List<Map> kubeconfig(String id) {
        return id ? [[kind: 'file', id: id, variables: LeptonSteps.CREDENTIAL_VARIABLES.kubeconfig]] : []
    }

    /** A deploy binds the kubeconfig (kubernetes) or the registry login (docker); local needs none
     *  (LeptonSteps.TARGET_CREDENTIALS). */
    @NonCPS
    static List<Map> deploy(String target, String registryId, String kubeconfigId) {
        String kind = LeptonSteps.TARGET_CREDENTIALS[target]
        if (kind == 'kubeconfig') {
            return kubeconfig(kubeconfigId)
        }
        return kind == 'registry' ? registry(registryId) : []
    }

}
