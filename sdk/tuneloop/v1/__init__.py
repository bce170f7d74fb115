"""Generated protobuf and gRPC code. Not public API: use `tuneloop.Client`."""
