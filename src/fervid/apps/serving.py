"""How ``fervid serve`` (and ``fervid live``'s page) runs: uvicorn's server, with what it runs said at start-up and
uvicorn's access log on request."""

from __future__ import annotations

import copy
from pathlib import Path

import uvicorn

from fervid.apps.server import ServerSettings


def log_config(access_log: bool) -> dict:
    """uvicorn's logging setup for fervid: its warnings and errors (a request's traceback) on stderr, fervid's own
    (a full disk) alike, and with ``access_log`` a line per request on stdout (uvicorn's access log: client address,
    request line, status). uvicorn's start-up lines are left out: fervid says where it serves itself."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["uvicorn.error"]["level"] = "WARNING"
    config["loggers"]["uvicorn.access"]["level"] = "INFO" if access_log else "WARNING"
    config["loggers"]["fervid"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return config


def run(app, host: str, port: int, root_path: str = "", access_log: bool = False) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C."""
    config = uvicorn.Config(app, host=host, port=port, root_path=root_path, log_config=log_config(access_log),
                            access_log=access_log)
    uvicorn.Server(config).run()


def startup_lines(settings: ServerSettings, ran: dict) -> list[str]:
    """What the server runs with, said as it starts, so a deployment's log records it: the analysis (``ran``:
    :attr:`fervid.inference.video.VideoResult.run_settings` of its video pipeline, the model's precision and the
    method as they resolved), where its data is kept, and its limits."""
    pipeline = settings.pipeline
    method = ran["method"] + (f" ({ran['temporal_model']})" if ran.get("temporal_model") else "")
    frames = "every frame" if ran["sample_fps"] is None else f"at most {ran['sample_fps']:g} frames/s"
    pictures = [] if pipeline.annotate else ["no annotated MP4 (--no-annotate)"]
    if ran.get("key_frames") is not None:
        pictures.append(f"at most {ran['key_frames']} key frames per track")
    return [
        f"analysis: model {ran['model']} ({ran['precision']}), detector {ran['detector']}; videos: {method}, window "
        f"{ran['window']:g} s, detection every {ran['detect_every']:g} s, {frames}"
        + "".join(f", {p}" for p in pictures),
        f"data: {Path(settings.data_dir).absolute()} (finished jobs deleted {settings.job_ttl_hours:g} h after they "
        "end)",
        f"limits: uploads up to {settings.max_upload_mb:g} MB, {settings.max_images_per_request} images per request, "
        f"{settings.max_image_pixels / 1e6:g} megapixels per image, {settings.max_concurrent_images} images analysed "
        f"at once; {settings.max_queued_jobs} video jobs waiting, {settings.workers} analysed at once",
    ]
