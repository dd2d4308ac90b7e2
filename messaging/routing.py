"""Websocket routes. Live messaging arrives with the command-groups issue."""

websocket_urlpatterns: list = []
