"""Scale benchmark (`stickerbot bench`): synthetic libraries with known meaning, our search
measured through `SearchService` beside a PostgreSQL pg_trgm tag-search peer."""
