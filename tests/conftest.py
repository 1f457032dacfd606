"""Every test compiles with an empty user tuning database (a developer's ~/.cache/microc/tuning.jsonl
must not change the schedules tests see); the database shipped with microc still applies."""
import pytest


@pytest.fixture(autouse=True)
def _private_tuning_db(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MICROC_TUNING_DB", str(tmp_path_factory.mktemp("tuning") / "tuning.jsonl"))
