package hudson

/**
 * Jenkins core's `hudson.AbortException` (core/src/main/java/hudson/AbortException.java): an
 * IOException whose message is the whole story. A failing `sh` raises it ("script returned exit
 * code N", DurableTaskStep.java in jenkinsci/workflow-durable-task-step-plugin), and so do
 * `error` (ErrorStep.java, workflow-basic-steps-plugin) and an invalid `milestone` ordinal
 * (MilestoneStepExecution.java, pipeline-milestone-step-plugin). A lost agent never does.
 */
class AbortException extends IOException {
    AbortException(String message) { super(message) }
}
