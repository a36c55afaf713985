import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

/** Stands in for Jenkins' @Library annotation so a Jenkinsfile compiles outside Jenkins. */
@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
}
