import hudson.AbortException
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * The failures the stub simulates, raised as the exception types Jenkins raises for them, and
 * the short names (`kind`) its records and `retry` conditions use:
 * - `step`: a failing `sh` (STUB_FAIL_SH), `error`, an invalid milestone ordinal: AbortException;
 * - `agent`: the agent goes away under a job (STUB_AGENT_LOST): FlowInterruptedException
 *   (ABORTED, not an actual interruption, RemovedNodeCause);
 * - `timeout`, `rejected`, `superseded`: actual interruptions (ExceededTimeout, Rejection,
 *   CancelledCause).
 * StubError (the stub was misused) is none of these and nothing catches it.
 */
class StubFailure {
    static final Map<String, String> CAUSE_KINDS = [RemovedNodeCause: 'agent', ExceededTimeout: 'timeout',
        Rejection: 'rejected', CancelledCause: 'superseded', NonResumable: 'nonresumable']

    static AbortException step(String message) { new AbortException(message) }

    static FlowInterruptedException agentLost(String message) {
        new FlowInterruptedException('ABORTED', false, 'RemovedNodeCause', message)
    }

    static FlowInterruptedException interruption(String result, String cause, String message) {
        new FlowInterruptedException(result, true, cause, message)
    }

    /** The kind of a failure the stub raised, or null for anything else. */
    static String kindOf(Throwable t) {
        if (t instanceof AbortException) {
            return 'step'
        }
        if (t instanceof FlowInterruptedException) {
            return CAUSE_KINDS[((FlowInterruptedException) t).interruptionCause]
        }
        return null
    }

    /** A simulated failure of the build (not a misuse of the stub). */
    static boolean isFailure(Throwable t) { kindOf(t) != null }
}
