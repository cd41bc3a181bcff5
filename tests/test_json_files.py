import json

from fervid.json_files import json_bytes, json_text, write_json


def test_names_are_written_in_their_own_letters_as_utf8(tmp_path):
    document = {"file": "in/emoção.png", "people": ["משתתף", "面接", "😀"]}
    write_json(tmp_path / "out.json", document)
    written = (tmp_path / "out.json").read_bytes()
    assert "in/emoção.png".encode() in written and b"\\u" not in written  # it was "in/emo\u00e7\u00e3o.png"
    assert json.loads(written.decode("utf-8")) == document
    assert json_text(document, indent=None) == json.dumps(document, ensure_ascii=False)


def test_a_name_that_is_not_utf8_on_disk_is_written_escaped_and_reads_back_as_itself(tmp_path):
    """os.fsdecode(b"\\xff.png") is "\\udcff.png": written as it was, UTF-8 refused it (UnicodeEncodeError) and the
    output was lost."""
    document = {"file": "in/\udcff.png", "emotion": "happy", "key": {"caf\udce9": 1}}
    write_json(tmp_path / "out.json", document)
    written = (tmp_path / "out.json").read_bytes()
    assert b'"in/\\udcff.png"' in written and b'"caf\\udce9"' in written
    assert json.loads(written.decode("utf-8")) == document  # (valid UTF-8, valid JSON)
    assert json.loads(json_text(document)) == json.loads(json_bytes(document)) == document
