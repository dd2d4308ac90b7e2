"""Absolute links for e-mails and sheets: the public URL, else the request, else a guess from
ALLOWED_HOSTS — never a relative link."""

import pytest
from django.test import RequestFactory

from directory.links import absolute_url, public_base_url, rebased_url


@pytest.mark.parametrize(
    ("public_url", "allowed_hosts", "expected"),
    [
        ("https://honbu.city.example.jp/", ["*"], "https://honbu.city.example.jp"),
        ("", ["honbu.city.example.jp", "localhost"], "https://honbu.city.example.jp"),
        ("", [".city.example.jp"], "https://city.example.jp"),
        ("", ["localhost", "127.0.0.1", "[::1]"], "http://localhost:8000"),
        ("", ["*"], "http://localhost:8000"),
        ("", [], "http://localhost:8000"),
    ],
)
def test_the_base_without_a_request(settings, public_url, allowed_hosts, expected):
    settings.HONBU_PUBLIC_URL = public_url
    settings.ALLOWED_HOSTS = allowed_hosts

    assert public_base_url() == expected
    assert absolute_url("/messages/g/1/#msg-1") == expected + "/messages/g/1/#msg-1"


def test_the_request_is_used_only_when_no_public_url_is_set(settings):
    request = RequestFactory().get("/", HTTP_HOST="10.0.0.5:8080")

    settings.HONBU_PUBLIC_URL = ""
    from_request = absolute_url("/accounts/login/", request=request)
    settings.HONBU_PUBLIC_URL = "https://honbu.city.example.jp"
    configured = absolute_url("/accounts/login/", request=request)

    assert from_request == "http://10.0.0.5:8080/accounts/login/"
    assert configured == "https://honbu.city.example.jp/accounts/login/"


def test_absolute_links_stay_and_request_urls_move_to_the_public_address(settings):
    settings.HONBU_PUBLIC_URL = "https://honbu.city.example.jp"

    assert absolute_url("https://example.org/x") == "https://example.org/x"
    assert (
        rebased_url("http://evil.example/accounts/password/reset/key/a-b/?x=1#top")
        == "https://honbu.city.example.jp/accounts/password/reset/key/a-b/?x=1#top"
    )
