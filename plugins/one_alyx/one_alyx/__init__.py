"""onecore plugin: ONE on an Alyx database."""
