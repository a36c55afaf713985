/**
 * Failures the stub can simulate (see JenkinsStub): a step that fails (STUB_FAIL_SH) and an
 * agent that goes away under a job (STUB_AGENT_LOST). `retry` tells them apart by `kind`,
 * as Jenkins' retry conditions do: `agent` matches a lost agent, never a failing step.
 */
class StubFailure extends StubError {
    final String kind

    StubFailure(String kind, String message) {
        super(message)
        this.kind = kind
    }
}
