"""Live sources named by URL or camera index: output names and the address as fervid writes it."""

import re

from fervid.inference.stream_urls import masked_source, source_stem
from fervid.samples import carphone


def test_urls_and_cameras_are_named_safely_and_their_secrets_masked():
    """A URL's outputs were named by Path(url).stem: http://127.0.0.1:8090/ and udp://127.0.0.1:1235 both wrote
    127.0.0_*, two cameras' rtsp://camN.local/live both live_*, and a password or a query went into file names;
    the password and tokens were printed and written as given."""
    secret = "http://admin:s3cret@127.0.0.1:8095/cam.ts?channel=1&token=XYZ"
    assert source_stem(secret) == "127.0.0.1_8095_cam"
    assert masked_source(secret) == "http://admin:***@127.0.0.1:8095/cam.ts?channel=1&token=***"
    assert masked_source("rtsp://cam/s?key=K&sig=S&id=7#x") == "rtsp://cam/s?key=***&sig=***&id=7#x"
    assert source_stem("http://127.0.0.1:8090/") == "127.0.0.1_8090"
    assert source_stem("udp://127.0.0.1:1235") == "127.0.0.1_1235"
    assert source_stem("rtsp://cam1.local/live") == "cam1.local_live" != source_stem("rtsp://cam2.local/live")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", source_stem("http://h/a b/<c>|d:e?x=1"))
    assert source_stem("3") == "camera3" and source_stem("clips/a.mp4") == "a"
    assert masked_source(str(carphone())) == str(carphone())
    # an RTSP camera's ;password= path parameter, a token given as the user name, a psw= query
    assert masked_source("rtsp://cam/path;password=xyz") == "rtsp://cam/path;password=***"
    assert source_stem("rtsp://cam/path;password=xyz") == "cam_path"
    assert masked_source("rtsp://TOKEN123@cam.example/live") == "rtsp://***@cam.example/live"
    assert masked_source("http://h/v?usr=admin&psw=hunter2") == "http://h/v?usr=admin&psw=***"
