import io.leptonci.LeptonCommands
import io.leptonci.LeptonConfig
import io.leptonci.LeptonCredentials
import io.leptonci.LeptonRunner

/**
 * leptonImagePush: push the image and record its digest (`lepton-ci image push`).
 * Help: leptonImagePush.txt.
 */
void call(Map config = [:]) {
    Map cfg = LeptonConfig.resolve(this, 'leptonImagePush', config)
    new LeptonRunner(this).run(cfg, LeptonCommands.imagePush(cfg.spec as String),
        LeptonCredentials.registry(cfg.registryCredentials as String))
}
