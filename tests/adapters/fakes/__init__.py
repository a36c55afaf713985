"""Stateful HTTP servers that answer as the Jenkins and GitLab REST APIs document."""
