package io.leptonci

/**
 * Runs a step's commands on the current agent: install lepton-ci (cached venv), put the venv on
 * PATH, bind credentials, then one `sh` per command line.
 */
class LeptonRunner implements Serializable {

    private static final long serialVersionUID = 1L

    /**
     * The pipeline script (a var's `this`): where `sh`, `withEnv` and `withCredentials` live.
     * Not private: CPS-transformed closures cannot reach private members.
     */
    final Object script

    LeptonRunner(Object script) {
        this.script = script
    }

    void run(Map cfg, List<List<String>> commands, List<Map> credentials) {
        List<List<String>> setup = LeptonCommands.setup(cfg)
        if (setup) {
            // pip's cache stays on the agent between builds (render/jenkins.py PIP_CACHE)
            String cache = cfg.pipCacheDir ?: script.env.PIP_CACHE_DIR ?: script.env.WORKSPACE + '@tmp/lepton-pip-cache'
            script.withEnv(['PIP_CACHE_DIR=' + cache]) {
                for (List<String> argv in setup) {
                    script.sh(Shell.join(argv))
                }
            }
        }
        List<String> path = cfg.install ? ['PATH+LEPTON_VENV=' + script.env.WORKSPACE + '/' + cfg.venv + '/bin'] : []
        script.withEnv(path) {
            if (credentials) {
                script.withCredentials(bindings(credentials)) {
                    runAll(commands)
                }
            } else {
                runAll(commands)
            }
        }
    }

    void runAll(List<List<String>> commands) {
        for (List<String> argv in commands) {
            script.sh(Shell.join(argv))
        }
    }

    List bindings(List<Map> credentials) {
        List out = []
        for (Map c in credentials) {
            if (c.kind == 'file') {
                out << script.file(credentialsId: c.id, variable: c.variables[0])
            } else {
                out << script.usernamePassword(credentialsId: c.id, usernameVariable: c.variables[0],
                    passwordVariable: c.variables[1])
            }
        }
        return out
    }

}
