"""tuneloop's training worker: lease loop, training recipe, publishing, serving engines."""
