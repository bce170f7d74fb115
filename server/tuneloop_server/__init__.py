"""tuneloop's control plane: gRPC API, job queue, state, and adapter routing."""
