"""Offline sticker understanding: VLM keywords, OCR and image features for the text document."""
