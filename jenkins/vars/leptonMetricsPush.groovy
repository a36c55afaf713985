import io.leptonci.LeptonCommands
import io.leptonci.LeptonConfig
import io.leptonci.LeptonCredentials
import io.leptonci.LeptonRunner

/**
 * leptonMetricsPush: push the evaluation metrics to the configured sinks (`lepton-ci metrics push`).
 * Help: leptonMetricsPush.txt.
 */
void call(Map config = [:]) {
    Map cfg = LeptonConfig.resolve(this, 'leptonMetricsPush', config)
    new LeptonRunner(this).run(cfg, LeptonCommands.metricsPush(cfg.spec as String),
        LeptonCredentials.pushgateway(cfg.pushgatewayCredentials as String))
}
