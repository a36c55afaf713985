/**
 * `currentBuild` (RunWrapper, jenkinsci/workflow-support-plugin): the result so far and the
 * build's number, read-only here; `description` is the build's, and setting it is recorded
 * (RunWrapper.setDescription -> Run.setDescription). `getBuildCauses(className)`: the build's
 * causes of that class, each as `[_class: className, shortDescription: ...]` (RunWrapper.getBuildCauses);
 * the stub's causes are simple names (`TimerTriggerCause`), so a cause is of `className` when its
 * simple name is what follows the last `.` or `$` there (`hudson.triggers.TimerTrigger$TimerTriggerCause`).
 */
class StubBuild {
    String currentResult
    String result
    int number

    List<Map> getBuildCauses(String className) {
        String simple = className.tokenize('.$')[-1]
        return StubContext.current.causes.findAll { String c -> c.split(':')[0] == simple }.collect { String c ->
            [_class: className, shortDescription: c]
        }
    }

    String getDescription() { StubContext.current.description }

    void setDescription(String text) {
        StubContext.current.description = text
        StubContext.current.record(kind: 'description', description: text)
    }
}
