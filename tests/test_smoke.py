from django.conf import settings


def test_data_dir_is_temporary() -> None:
    """Tests never write into the checkout's ./data."""
    assert settings.DATA_DIR != settings.BASE_DIR / "data"
    assert "cloudsignal-test-" in str(settings.DATA_DIR)
