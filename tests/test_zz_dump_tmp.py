import pytest, re
from tests.sections_support import emulator_app, emulator_sign_in, text  # noqa
@pytest.fixture
def client(emulator_app):
    return emulator_app.test_client()
@pytest.mark.parametrize("section", ["security"])
def test_dump(emulator_app, emulator, emulator_sign_in, client, section):
    emulator_sign_in(client)
    print(text(client.get(f"/dashboard/settings/{section}")))
