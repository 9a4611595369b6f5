"""The home blueprint."""

from quart.typing import TestClientProtocol as Client


async def test_get_home(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert await response.get_json() == {}


async def test_post_home_not_allowed(client: Client) -> None:
    response = await client.post("/")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
