"""MQTT ingest: ``python -m service.mqtt`` (``make mqtt``) subscribes to a
broker and writes the readings it receives through the readings store, as
``POST /data`` does (docs/protocols.md, "MQTT")."""
