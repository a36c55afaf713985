from tests.services import (  # noqa: F401
    base_image,
    docker_client,
    lepton_wheel,
    local_registry,
    services_env,
    tiny_model,
)
