"""Where model weights come from: packages that ship them (offline) or a local/hub directory."""
