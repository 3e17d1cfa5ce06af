from sqlalchemy import select

from mentorly.extensions import db
from mentorly.models import User, WebhookEvent

from .conftest import load_payload


def test_user_created_payload_becomes_a_row(app, client, svix):
    event = load_payload("user.created.clerk_docs_example.json")
    response = svix.post(client, event, msg_id="msg_smoke")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "applied"
    again = svix.post(client, event, msg_id="msg_smoke")
    assert again.get_json()["status"] == "duplicate"
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.clerk_id == event["data"]["id"]
        assert db.session.scalars(select(WebhookEvent)).one().status == "applied"
