"""lepton-ci: CI/CD pipelines for machine-learning models on Jenkins and GitLab."""

__version__ = "0.1.0"
