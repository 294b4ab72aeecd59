"""`stickerbot` subcommands that live outside `bot/cli.py`, one module each."""
