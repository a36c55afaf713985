"""Deploying a registered model version: docker, kubernetes and local targets.

Import-light on purpose: :mod:`lepton_ci.deploy.proxy` runs inside model images with only the
standard library and h11, so nothing here may import docker, kubernetes or torch at module
level.
The public entry points live in :mod:`lepton_ci.deploy.core`.
"""
