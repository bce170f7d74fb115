"""The only place that touches protobuf messages: request builders and pb -> type converters.

Everything above this package (resources, clients, CLI) works with plain Python values and
`tuneloop.types`; `from tuneloop import _convert as conv` gives the flat namespace below.
"""

from .fields import (
    HYPERPARAMETER_KEYS,
    JOB_STATES,
    METHODS,
    build_hyperparameters,
    hyperparameters_to_dict,
    parse_hyperparameter,
)
from .requests import (
    CHAT_ROLES,
    Progress,
    cancel_job_request,
    create_job_request,
    dataset_id_of,
    delete_adapter_request,
    delete_dataset_request,
    generate_request,
    get_adapter_request,
    get_dataset_request,
    get_job_request,
    list_adapters_request,
    list_datasets_request,
    list_feedback_request,
    list_jobs_request,
    submit_feedback_request,
    upload_requests,
    watch_job_request,
)
from .loop import (
    EVALUATION_KEYS,
    evaluation_pb,
    feedback_import,
    get_retrain_policy_request,
    import_feedback_request,
    promote_request,
    retrain_policy,
    retrain_policy_request,
)
from .responses import (
    adapter,
    adapters,
    completion,
    completion_chunk,
    dataset,
    datasets,
    feedback,
    feedback_list,
    job,
    job_event,
    jobs,
)

__all__ = [
    "HYPERPARAMETER_KEYS", "JOB_STATES", "METHODS", "CHAT_ROLES", "Progress",
    "build_hyperparameters", "hyperparameters_to_dict", "parse_hyperparameter",
    "cancel_job_request", "create_job_request", "dataset_id_of", "delete_adapter_request",
    "delete_dataset_request", "generate_request", "get_adapter_request", "get_dataset_request",
    "get_job_request", "list_adapters_request", "list_datasets_request",
    "list_feedback_request", "list_jobs_request", "submit_feedback_request", "upload_requests",
    "watch_job_request", "adapter", "adapters", "completion", "completion_chunk", "dataset",
    "datasets", "feedback", "feedback_list", "job", "job_event", "jobs",
    "EVALUATION_KEYS", "evaluation_pb", "feedback_import", "import_feedback_request",
    "promote_request", "retrain_policy", "retrain_policy_request", "get_retrain_policy_request",
]
