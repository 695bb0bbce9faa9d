"""``python -m compression_layer.cli``: the same command as the ``compression-layer`` script."""

from compression_layer.cli.main import main

main()
