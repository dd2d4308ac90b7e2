"""Automatic start from the JMA disaster-information feed (気象庁防災情報XML).

``parse`` reads the Atom feed and the reports safely, ``fetch`` downloads with a size and time
cap, ``rules`` decides what a report means for the city, ``actions`` does each step once,
``poller`` ties them together for the beat task and ``jma_replay``. See docs/safety.md."""
