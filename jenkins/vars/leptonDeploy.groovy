import io.leptonci.LeptonCommands
import io.leptonci.LeptonConfig
import io.leptonci.LeptonCredentials
import io.leptonci.LeptonRunner

/**
 * leptonDeploy: deploy the pushed image to one environment (`lepton-ci deploy --env NAME`),
 * then promote it to champion when `promote` is set. Approval is the caller's business (ask
 * with `input` outside `node` so no executor waits). Help: leptonDeploy.txt.
 */
void call(Map config = [:]) {
    Map cfg = LeptonConfig.resolve(this, 'leptonDeploy', config)
    List<Map> credentials = LeptonCredentials.deploy(cfg.target as String,
        cfg.registryCredentials as String, cfg.kubeconfigCredentials as String)
    new LeptonRunner(this).run(cfg,
        LeptonCommands.deploy(cfg.spec as String, cfg.env as String, cfg.promote as boolean), credentials)
}
