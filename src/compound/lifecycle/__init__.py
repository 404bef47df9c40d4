"""The whole loop over a system: build what is missing, evaluate, serve (`compound up`), and
improve from feedback (`compound improve`, `compound export`)."""
