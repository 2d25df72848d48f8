"""pytest plugin (entry point ``pytest11``) exposing onecore's fixtures to plugin authors."""
