"""Resource objects behind `client.datasets`, `client.jobs`, ...: sync and async twins."""

from .adapters import Adapters, AsyncAdapters
from .admin import Admin, AsyncAdmin
from .datasets import AsyncDatasets, Datasets
from .feedback import AsyncFeedbackResource, FeedbackResource
from .inference import AsyncInference, Inference
from .jobs import AsyncJobs, Jobs

__all__ = [
    "Admin",
    "AsyncAdmin",
    "Adapters",
    "AsyncAdapters",
    "Datasets",
    "AsyncDatasets",
    "FeedbackResource",
    "AsyncFeedbackResource",
    "Inference",
    "AsyncInference",
    "Jobs",
    "AsyncJobs",
]
