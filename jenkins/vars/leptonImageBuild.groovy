import io.leptonci.LeptonCommands
import io.leptonci.LeptonConfig
import io.leptonci.LeptonCredentials
import io.leptonci.LeptonRunner

/**
 * leptonImageBuild: build the serving image of the registered model (`lepton-ci image build`).
 * Help: leptonImageBuild.txt.
 */
void call(Map config = [:]) {
    Map cfg = LeptonConfig.resolve(this, 'leptonImageBuild', config)
    new LeptonRunner(this).run(cfg, LeptonCommands.imageBuild(cfg.spec as String),
        LeptonCredentials.registry(cfg.registryCredentials as String))
}
