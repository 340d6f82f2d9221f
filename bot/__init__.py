"""tsunagu application core: settings, database, conversation engine, web app and CLI."""
