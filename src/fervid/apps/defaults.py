"""The defaults of the web server (:class:`fervid.apps.server.ServerSettings`, ``fervid serve``, ``fervid live``'s
/live page) and of a batch run (:class:`fervid.apps.batch.BatchOptions`, ``fervid batch``): defined here once, in a
module the command line imports for its options and their --help without loading FastAPI or the batch engine."""

from __future__ import annotations

from pathlib import Path

from fervid.inference import options as _pipeline_options

# the server
HOST = "127.0.0.1"  # the address served: local to this machine
PORT = 8000
DATA_DIR = Path("fervid-data")  # video jobs and their outputs
MAX_UPLOAD_MB = 200.0  # the largest upload accepted (413 above)
MAX_QUEUED_JOBS = 8  # video jobs waiting at most (429 above)
SERVER_WORKERS = 1  # video jobs analysed at once
JOB_TTL_HOURS = 24.0  # finished jobs older than this are deleted
MAX_IMAGES_PER_REQUEST = 32  # images in one /v1/images request at most (413 above)
# decoded size per image (about 12 bytes per pixel in memory at most; 415 above): the API's own default
# (PipelineOptions.max_image_pixels)
MAX_IMAGE_PIXELS = _pipeline_options.MAX_IMAGE_PIXELS

# a batch run
BATCH_WORKERS = 1  # worker processes of the local engine
BATCH_ENGINE = "local"  # local (a process pool on this machine) or ray
