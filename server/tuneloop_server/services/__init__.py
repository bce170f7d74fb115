"""Domain services: the control plane's behaviour, free of gRPC and of SQL."""
