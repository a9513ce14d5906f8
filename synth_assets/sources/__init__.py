"""Reading seed / eval files row by row, so one bad row is quarantined instead of failing the file."""
