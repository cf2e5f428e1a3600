"""Pre-processing of clip frames: display maps, grey linearisation, colour bars, overlays and motion."""
