"""The gRPC surface: servicers that only convert and delegate, plus the error interceptor."""
