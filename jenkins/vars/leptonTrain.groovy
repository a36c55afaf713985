import io.leptonci.LeptonCommands
import io.leptonci.LeptonConfig
import io.leptonci.LeptonRunner

/**
 * leptonTrain: train the model (`lepton-ci train`) on the current agent.
 * Help: leptonTrain.txt. Config keys: see LeptonConfig.STEPS.leptonTrain and COMMON.
 */
void call(Map config = [:]) {
    Map cfg = LeptonConfig.resolve(this, 'leptonTrain', config)
    new LeptonRunner(this).run(cfg, LeptonCommands.train(cfg.spec as String), [])
}
