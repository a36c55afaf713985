/** Thrown by the stub's `error` step: the pipeline failed on purpose. */
class StubError extends RuntimeException {
    StubError(String message) { super(message) }
}
