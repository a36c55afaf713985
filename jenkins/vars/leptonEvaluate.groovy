import io.leptonci.LeptonCommands
import io.leptonci.LeptonConfig
import io.leptonci.LeptonLayout
import io.leptonci.LeptonRunner

/**
 * leptonEvaluate: evaluate the trained model and check the gates (`lepton-ci evaluate --junit`);
 * the JUnit report is published even when a gate fails. Help: leptonEvaluate.txt.
 */
void call(Map config = [:]) {
    Map cfg = LeptonConfig.resolve(this, 'leptonEvaluate', config)
    String junitPath = (cfg.junit ?: LeptonLayout.load(this).junit) as String
    try {
        new LeptonRunner(this).run(cfg, LeptonCommands.evaluate(cfg.spec as String, junitPath), [])
    } finally {
        if (cfg.publishJunit) {
            junit testResults: junitPath, allowEmptyResults: true
        }
    }
}
