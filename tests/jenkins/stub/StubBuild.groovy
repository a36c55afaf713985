/**
 * `currentBuild` (RunWrapper, jenkinsci/workflow-support-plugin): the result so far and the
 * build's number, read-only here; `description` is the build's, and setting it is recorded
 * (RunWrapper.setDescription -> Run.setDescription).
 */
class StubBuild {
    String currentResult
    String result
    int number

    String getDescription() { StubContext.current.description }

    void setDescription(String text) {
        StubContext.current.description = text
        StubContext.current.record(kind: 'description', description: text)
    }
}
