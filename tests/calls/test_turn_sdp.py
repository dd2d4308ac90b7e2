"""ICE servers (STUN from the environment, coturn REST credentials made per call) and the
checks on what a signalling frame may carry (session descriptions, ICE candidates)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from django.core.exceptions import ImproperlyConfigured

from calls import sdp, turn
from realtime.frames import FrameError

AUDIO_OFFER = (
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:0123456789abcdefghijklmn\r\n"
    "a=fingerprint:sha-256 AA:BB:CC\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sendrecv\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
)


def test_turn_credentials_follow_coturns_rest_api(settings):
    settings.HONBU_TURN_SECRET = "coturn-static-auth-secret"
    settings.HONBU_TURN_URLS = ["turn:turn.city.example.jp:3478?transport=udp"]
    settings.HONBU_TURN_TTL_SECONDS = 3600

    cred = turn.turn_credentials(user_id=42, now=1_700_000_000)

    assert cred["username"] == "1700003600:42"
    expected = hmac.new(b"coturn-static-auth-secret", b"1700003600:42", hashlib.sha1).digest()
    assert base64.b64decode(cred["credential"]) == expected
    assert cred["urls"] == ["turn:turn.city.example.jp:3478?transport=udp"]


def test_ice_servers_are_stun_plus_fresh_turn(settings):
    settings.HONBU_ICE_SERVERS = [{"urls": "stun:stun.city.example.jp:3478"}]
    assert turn.ice_servers(user_id=1) == [{"urls": ["stun:stun.city.example.jp:3478"]}]
    settings.HONBU_TURN_SECRET, settings.HONBU_TURN_URLS = "s", ["turns:turn.example.jp:5349"]
    servers = turn.ice_servers(user_id=1)
    assert len(servers) == 2 and servers[1]["username"].endswith(":1")


@pytest.mark.parametrize(
    "value",
    [
        [{"urls": "turn:turn.example.jp", "username": "u", "credential": "static"}],
        [{"urls": "http://example.jp"}],
        {"urls": "stun:x"},
        ["stun:x"],
    ],
)
def test_no_static_turn_password_or_nonsense_in_the_settings(settings, value):
    settings.HONBU_ICE_SERVERS = value
    with pytest.raises(ImproperlyConfigured):
        turn.static_servers()


def test_a_real_looking_offer_passes_unchanged():
    assert sdp.description_clean({"type": "offer", "sdp": AUDIO_OFFER}) == {
        "type": "offer",
        "sdp": AUDIO_OFFER,
    }
    video = AUDIO_OFFER + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
    assert sdp.description_clean({"type": "answer", "sdp": video})["type"] == "answer"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "v=0",
        {"type": "offer"},
        {"type": "offer", "sdp": 12},
        {"type": "rollback", "sdp": AUDIO_OFFER},
        {"type": "offer", "sdp": AUDIO_OFFER, "extra": "x"},
        {"type": "offer", "sdp": "hello"},
        {"type": "offer", "sdp": AUDIO_OFFER.replace("v=0", "v=1")},
        {"type": "offer", "sdp": AUDIO_OFFER + "<script>alert(1)</script>\r\n"},
        {"type": "offer", "sdp": AUDIO_OFFER + "a=x:é\r\n"},  # SDP is ASCII
        {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"},  # no media
        {"type": "offer", "sdp": AUDIO_OFFER + "m=application 9 UDP/DTLS/SCTP webrtc\r\n"},
        {"type": "offer", "sdp": AUDIO_OFFER + "a=x:" + "y" * sdp.MAX_SDP_BYTES + "\r\n"},
    ],
)
def test_malformed_or_oversized_descriptions_are_refused(value):
    with pytest.raises(FrameError) as err:
        sdp.description_clean(value)
    assert err.value.code == "bad_sdp"


def test_candidates():
    good = {
        "candidate": "candidate:1 1 udp 2122260223 192.0.2.2 54321 typ host generation 0",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "abcd",
    }
    assert sdp.candidate_clean(good) == good
    for bad in [
        {**good, "candidate": "not a candidate"},
        {**good, "candidate": "candidate:" + "1" * 2000},
        {**good, "sdpMLineIndex": True},
        {**good, "sdpMLineIndex": 99},
        {**good, "sdpMid": "a b"},
        {**good, "extra": 1},
        "candidate:1",
    ]:
        with pytest.raises(FrameError):
            sdp.candidate_clean(bad)
