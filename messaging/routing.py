from django.urls import path

from .consumers import HonbuConsumer

websocket_urlpatterns = [path("ws/", HonbuConsumer.as_asgi())]
