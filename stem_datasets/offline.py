"""What every stem_datasets TFDS builder shares: it is simulated here, never fetched.
Use as ``class Builder(OfflineBuilder, tfds.core.GeneratorBasedBuilder)``.
"""

from __future__ import annotations

import dataclasses


class OfflineBuilder:
    """Mixin for a ``tfds.core.GeneratorBasedBuilder``: never looks up a pre-built copy on GCS."""

    def download_and_prepare(self, *, download_dir=None, download_config=None, **kwargs):
        """As TFDS's, but with ``try_download_gcs=False`` (works offline, simulates instead)."""
        import tensorflow_datasets as tfds

        config = dataclasses.replace(download_config or tfds.download.DownloadConfig(), try_download_gcs=False)
        return super().download_and_prepare(download_dir=download_dir, download_config=config, **kwargs)
