/** A `retry` condition as the scripted `agent()` / `nonresumable()` symbols return it. */
class StubCondition {
    String name

    String toString() { name }
}
