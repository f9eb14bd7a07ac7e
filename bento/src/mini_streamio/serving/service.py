"""The BentoML service: a thin shell; model loading and prediction live in mini_streamio.inference."""

from __future__ import annotations

import bentoml


@bentoml.service(name="mini-streamio-detection", traffic={"timeout": 300})
class Detection:
    def __init__(self) -> None:
        self.ready = True

    def __is_ready__(self) -> bool:
        return self.ready

    @bentoml.api
    def ping(self) -> str:
        return "pong"
