"""PyInstaller entry point of the frozen nodecred-provider."""

from nodecred.provider.main import main

main()
