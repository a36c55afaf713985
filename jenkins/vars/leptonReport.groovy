import io.leptonci.LeptonCommands
import io.leptonci.LeptonConfig
import io.leptonci.LeptonLayout
import io.leptonci.LeptonRunner
import io.leptonci.LeptonStages

/**
 * leptonReport: write the run's HTML report and publish it (`lepton-ci report --publish`); then,
 * even when that failed, publish what it wrote: the report with `publishHTML` (HTML Publisher
 * plugin; a missing report fails nothing) and its one-line summary as the build's description.
 * Help: leptonReport.txt.
 */
void call(Map config = [:]) {
    Map cfg = LeptonConfig.resolve(this, 'leptonReport', config)
    Map<String, String> layout = LeptonLayout.load(this)
    try {
        new LeptonRunner(this).run(cfg, LeptonCommands.report(cfg.spec as String), [])
    } finally {
        if (cfg.publishHtml) {
            publishHTML(target: LeptonStages.htmlTarget(layout))
        }
        // readFile of a missing file would fail the stage
        if (cfg.describeBuild && fileExists(layout.reportSummary)) {
            currentBuild.description = readFile(layout.reportSummary).trim()
        }
    }
}
