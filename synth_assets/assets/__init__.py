"""One module per pipeline stage; each exposes a builder taking the pipeline's `Build` context."""
