"""The one Ray start path (`compound.ray_runtime`): what workers receive, the fast probe of an
address in each accepted form, and a Ray initialised before left running."""

from __future__ import annotations

import socket

import pytest

from compound.errors import UserError
from compound.ray_runtime import RayRuntime, forwarded_env, probe, probe_target


def free_port() -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return int(free.getsockname()[1])


def test_workers_receive_compound_variables_and_trace_endpoints() -> None:
    env = forwarded_env({"COMPOUND_HOME": "/srv", "COMPOUND_STORE_URL": "", "PATH": "/bin",
                         "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://otel:4318"})
    assert env == {"COMPOUND_HOME": "/srv",
                   "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://otel:4318"}


@pytest.mark.parametrize("form", ["ray://127.0.0.1:{port}", "127.0.0.1:{port}"])
def test_an_unreachable_address_is_a_user_error_naming_it(form: str) -> None:
    address = form.format(port=free_port())
    with pytest.raises(UserError) as refused:
        probe(address, hint=", or leave out --address")
    message = str(refused.value)
    assert f"cannot reach Ray at {address} (Connection refused)" in message
    assert message.endswith("check the host and port, or leave out --address")
    assert probe_target("auto") is None  # nothing to probe: Ray finds the cluster itself


@pytest.mark.ray
def test_a_ray_initialised_before_is_used_and_left_running(ray_cluster: object) -> None:
    import ray

    with RayRuntime(cpus=2) as runtime:
        assert not runtime.owned and not runtime.started_here
    assert ray.is_initialized()
