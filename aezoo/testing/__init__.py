"""Test helpers for aezoo and its plugins: a local Hugging Face Hub and pytest fixtures.

``aezoo.testing.hub_server.LocalHub`` is an in-memory Hub speaking the real client's protocol;
``aezoo.testing.plugin`` (loaded by pytest through the ``pytest11`` entry point) provides the
``local_hub`` and ``hub_token`` fixtures that point ``huggingface_hub`` at it.
"""
