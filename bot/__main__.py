"""`python -m bot` is the `stickerbot` command."""

from bot.cli import main

main()
