package org.jenkinsci.plugins.workflow.steps

/**
 * workflow-step-api's FlowInterruptedException
 * (src/main/java/org/jenkinsci/plugins/workflow/steps/FlowInterruptedException.java): a build or
 * block stopped with a `result` and its causes of interruption. `actualInterruption` is false
 * only where Jenkins raises it for something other than a stop request: the agent went away
 * (`new FlowInterruptedException(Result.ABORTED, false, new RemovedNodeCause())`,
 * ExecutorStepExecution.java in workflow-durable-task-step-plugin). An exceeded `timeout`
 * (ExceededTimeout), a rejected `input` (Rejection) and a build superseded at a `milestone`
 * (CancelledCause) are actual interruptions. `interruptionCause` names the one cause the stub raises (upstream: `getCauses()`).
 */
class FlowInterruptedException extends InterruptedException {
    final String result
    final boolean actualInterruption
    final String interruptionCause

    FlowInterruptedException(String result, boolean actualInterruption, String cause, String message) {
        super(message)
        this.result = result
        this.actualInterruption = actualInterruption
        this.interruptionCause = cause
    }

    boolean isActualInterruption() { actualInterruption }
}
