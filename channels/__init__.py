"""Channels: platform events in, engine replies out, one module per platform.

``base`` (the input and output interfaces), ``line``, ``telegram``, ``voice`` (Twilio
IVR), ``sms``, ``webchat``, ``console``, ``email``; ``registry`` names the webhook
channels. Nothing is imported here, so using one channel loads only its own SDK.
"""
