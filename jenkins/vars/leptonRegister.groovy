import io.leptonci.LeptonCommands
import io.leptonci.LeptonConfig
import io.leptonci.LeptonRunner

/**
 * leptonRegister: register the evaluated model version (`lepton-ci models register`), and
 * promote it to champion when `promote` is set. Help: leptonRegister.txt.
 */
void call(Map config = [:]) {
    Map cfg = LeptonConfig.resolve(this, 'leptonRegister', config)
    new LeptonRunner(this).run(cfg, LeptonCommands.register(cfg.spec as String, cfg.promote as boolean), [])
}
