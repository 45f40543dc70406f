"""Outbound webhooks (SPEC §7): endpoints, the outbox of events, deliveries and their worker.

An event is written in the transaction of the change that causes it (`events.webhook_emit`, or a
committed try-on row flagged for dispatch); the worker (`manage.py deliver_webhooks`) fans events
out to the endpoints subscribed to them and delivers each one, signed, with retries.
"""
