import hashlib
import io
import urllib.error

import pytest

from mlxclin import data
from mlxclin.data import DataSource, fetch_source, read_table, resolve_data_file, sha256_of
from mlxclin.errors import MlxclinError

# --- reading -----------------------------------------------------------------------------------------------------


def test_read_csv_with_bom_crlf_quoted_commas_and_blank_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffa,b\r\n1,\"x, y\"\r\n\r\n,,\r\n2,z\r\n".encode("utf-8"))
    table = read_table(path)
    assert table.columns == ["a", "b"]                      # BOM stripped from the first header
    assert table.rows == [{"a": "1", "b": "x, y"}, {"a": "2", "b": "z"}]   # blank rows skipped


def test_read_csv_duplicate_header_keeps_first(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,a\n1,x,9\n2,3,4\n", encoding="utf-8")
    table = read_table(path)
    assert table.columns == ["a", "b"]
    assert table.rows == [{"a": "1", "b": "x"}, {"a": "2", "b": "3"}]
    assert table.lines == [2, 3]


def test_read_csv_short_row_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,a\n1,2,3\n1\n", encoding="utf-8")
    with pytest.raises(MlxclinError, match=r"t.csv line 3 has 1 fields where the header has 3"):
        read_table(path)


def test_read_jsonl_unions_keys(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": "1", "b": 2}\n\n{"a": "3", "c": null}\n', encoding="utf-8")
    table = read_table(path)
    assert table.columns == ["a", "b", "c"]
    assert table.rows[1] == {"a": "3", "b": "", "c": None}


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"  \n\n ", "is empty"),
    (b"a,b\n", "no data rows"),
    (b"a,b\ncaf\xe9,1\n", "not UTF-8"),
    (b"\xff\xfea\x00,\x00b\x00\n\x00", "not UTF-8"),        # UTF-16 export
])
def test_read_table_errors_are_one_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(MlxclinError) as e:
        read_table(path)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("content, message", [
    (b'{"a": 1}\n{oops}\n', "line 2 is not valid JSON"),
    (b'["a", "b"]\n', "line 1 is not a JSON object"),
])
def test_read_jsonl_errors_name_the_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(MlxclinError, match=message):
        read_table(path)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(MlxclinError, match="not found"):
        read_table(tmp_path / "nope.csv")


def test_require_columns_names_every_missing_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(MlxclinError) as e:
        read_table(path).require_columns(["a", "c", "d"], "task x")
    assert "'c', 'd'" in str(e.value) and "'a'" not in str(e.value)


# --- locating and fetching --------------------------------------------------------------------------------------

def test_resolve_data_file_accepts_a_file_or_a_folder(tmp_path):
    (tmp_path / "eurorad_test.csv").write_text("x\n1\n", encoding="utf-8")
    assert resolve_data_file("eurorad_test.csv", tmp_path) == tmp_path / "eurorad_test.csv"
    assert resolve_data_file("eurorad_test.csv", tmp_path / "eurorad_test.csv") == tmp_path / "eurorad_test.csv"
    with pytest.raises(MlxclinError, match="folder without ophthalmology.csv"):
        resolve_data_file("ophthalmology.csv", tmp_path)
    with pytest.raises(MlxclinError, match="not found"):
        resolve_data_file("eurorad_test.csv", tmp_path / "missing.csv")


def test_sources_point_at_the_pinned_public_commit():
    source = data.SOURCES["eurorad_test.csv"]
    assert source.url == ("https://raw.githubusercontent.com/bowang-lab/on-device-LLM/945c91d/"
                          "csvs/final_csvs/Eurorad.csv")
    assert {s.name for s in data.SOURCES.values()} >= {"eurorad_test.csv", "ophthalmology.csv",
                                                         "judge_diagnosis.csv", "judge_treatment.csv"}
    assert all(len(s.sha256) == 64 for s in data.SOURCES.values())


PAYLOAD = b"case_id,Section\n1,Chest\n"


@pytest.fixture
def fake_source(monkeypatch):
    source = DataSource("fake.csv", "csvs/fake.csv", hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setitem(data.SOURCES, "fake.csv", source)
    return source


def test_fetch_offline_without_cache_says_how_to_provide_the_file(eval_offline_cache, fake_source):
    with pytest.raises(MlxclinError) as e:
        fetch_source("fake.csv")
    assert "--data" in str(e.value) and "csvs/fake.csv" in str(e.value) and "\n" not in str(e.value)


def test_fetch_uses_a_verified_cached_copy_offline(eval_offline_cache, fake_source):
    cached = eval_offline_cache / "data" / fake_source.commit / "fake.csv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD)
    assert fetch_source("fake.csv") == cached


def test_fetch_downloads_verifies_and_caches(tmp_path, monkeypatch, fake_source):
    monkeypatch.setenv("MLXCLIN_CACHE", str(tmp_path))
    monkeypatch.delenv("MLXCLIN_OFFLINE", raising=False)
    urls = []
    monkeypatch.setattr(data.urllib.request, "urlopen",
                        lambda url, timeout: urls.append(url) or io.BytesIO(PAYLOAD))
    path = fetch_source("fake.csv")
    assert path.read_bytes() == PAYLOAD and sha256_of(path) == fake_source.sha256
    assert urls == [fake_source.url]
    assert fetch_source("fake.csv") == path and len(urls) == 1        # second call: cache, no download


def test_fetch_refuses_a_file_with_another_hash(tmp_path, monkeypatch, fake_source):
    monkeypatch.setenv("MLXCLIN_CACHE", str(tmp_path))
    monkeypatch.delenv("MLXCLIN_OFFLINE", raising=False)
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(PAYLOAD + b"2,Neuro\n"))
    with pytest.raises(MlxclinError, match="sha256"):
        fetch_source("fake.csv")
    assert not list(tmp_path.rglob("fake.csv"))                      # nothing unverified is cached


def test_fetch_network_failure_is_one_line(tmp_path, monkeypatch, fake_source):
    monkeypatch.setenv("MLXCLIN_CACHE", str(tmp_path))
    monkeypatch.delenv("MLXCLIN_OFFLINE", raising=False)

    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    with pytest.raises(MlxclinError, match="cannot download fake.csv .*--data"):
        fetch_source("fake.csv")


def test_unknown_source_name():
    with pytest.raises(MlxclinError, match="unknown data file"):
        fetch_source("nope.csv")


@pytest.mark.data
def test_pinned_hashes_match_the_shared_reference_copies(clinical_data_dir):
    for name, source in data.SOURCES.items():
        assert sha256_of(clinical_data_dir / name) == source.sha256, name
