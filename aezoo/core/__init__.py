"""The floor every other package stands on: errors, configs, settings, seeding and progress.

Owns the one error hierarchy (:mod:`~aezoo.core.errors`), the frozen-dataclass configs and their
``config.json`` round trip (:mod:`~aezoo.core.config`), every environment variable aezoo reads
(:mod:`~aezoo.core.settings`), the generators all randomness is drawn from
(:mod:`~aezoo.core.seeding`) and the one progress design (:mod:`~aezoo.core.progress`).
Imports nothing of aezoo outside this package, and no third-party library but torch and tqdm.
"""
